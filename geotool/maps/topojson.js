// TopoJSON (quantised, delta-encoded arcs) to GeoJSON, for geotool's maps.
function geotoolTopoToGeoJSON(topo) {
  var sx = topo.transform.scale[0], sy = topo.transform.scale[1];
  var tx = topo.transform.translate[0], ty = topo.transform.translate[1];
  var arcs = topo.arcs.map(function (arc) {
    var x = 0, y = 0;
    return arc.map(function (p) { x += p[0]; y += p[1]; return [x * sx + tx, y * sy + ty]; });
  });
  function ring(refs) {
    var out = [];
    refs.forEach(function (ref, k) {
      var pts = ref >= 0 ? arcs[ref] : arcs[~ref].slice().reverse();
      out = out.concat(k ? pts.slice(1) : pts);
    });
    return out;
  }
  return {
    type: "FeatureCollection",
    features: topo.objects.units.geometries.map(function (g) {
      return {
        type: "Feature",
        properties: g.properties,
        geometry: {type: "MultiPolygon", coordinates: g.arcs.map(function (p) { return p.map(ring); })}
      };
    })
  };
}
