// geotool's map page: colour layers over a TopoJSON (or GeoJSON) layer on a Leaflet
// canvas, tooltips built from a compact table of the units, search, outlines, full screen.
// Tooltip values are inserted as text (DOM text nodes); the few strings inserted as HTML
// (layer names, overlay labels) were escaped in Python before they reached the page.
function geotoolPage(map, data, info, layersSpec, options) {
  var hooks = options.testHooks;
  var errors = [];
  if (hooks) { window.addEventListener('error', function (e) { errors.push(String(e.message)); }); }
  var geo = data.type === 'Topology' ? geotoolTopoToGeoJSON(data) : data;
  var renderer = L.canvas({padding: 0.5});
  var control = L.control.layers(null, null, {collapsed: false}).addTo(map);
  // ids are user data: tables keyed by them have no prototype ("__proto__" is an id)
  var drawn = 0, byCode = Object.create(null), first = null;
  // the units' table: a column per field (values per unit, shared strings once); each
  // tooltip is built as DOM text when it opens, so no value is ever parsed as HTML
  var ids = info.ids, row = Object.create(null), CODES = geotoolPage.CODES;
  ids.forEach(function (id, r) { row[id] = r; });
  function code(codes, j) {  // an index coded as one character ('.': none) or a number
    if (typeof codes !== 'string') { return codes[j] === null ? -1 : codes[j]; }
    return CODES.indexOf(codes.charAt(j));
  }
  layersSpec.forEach(function (spec) {  // palette codes back to {id: colour}
    var colours = Object.create(null);
    ids.forEach(function (id, r) {
      var c = code(spec.codes, r);
      if (c >= 0) { colours[id] = spec.palette[c]; }
    });
    spec.colours = colours;
  });
  function dense(col) {  // a column as one value (or null) per unit
    var n = col.at ? col.at.length : ids.length, v = new Array(n);
    for (var j = 0; j < n; j++) {
      if (col.k === 'i') { var c = code(col.v, j); v[j] = c >= 0 ? col.d[c] : null; }
      else { v[j] = col.v[j]; }
    }
    if (!col.at) { return v; }
    var out = new Array(ids.length).fill(null);
    col.at.forEach(function (r, j) { out[r] = v[j]; });
    return out;
  }
  function prepare(col) { if (col) { col.v = dense(col); delete col.at; if (col.k === 'i') { col.k = 's'; } } }
  Object.keys(info.head).forEach(function (k) { prepare(info.head[k]); });
  info.fields.forEach(function (f) { prepare(f[1]); });
  info.lines.forEach(function (line) { line.cols.forEach(prepare); });
  function pyExp(mantissa, x) {
    var a = Math.abs(x);
    return mantissa + 'e' + (x < 0 ? '-' : '+') + (a < 10 ? '0' : '') + a;
  }
  function pyFloat(v) {  // Python's repr of a float
    var e = v.toExponential().split('e'), x = parseInt(e[1], 10);
    if (v !== 0 && (x < -4 || x >= 16)) { return pyExp(e[0], x); }
    var s = Object.is(v, -0) ? '-0' : String(v);
    return s.indexOf('.') < 0 ? s + '.0' : s;
  }
  function pyG(v, d) {  // Python's f"{v:.{d}g}"
    var strip = function (s) { return s.indexOf('.') < 0 ? s : s.replace(/0+$/, '').replace(/\.$/, ''); };
    if (v === 0) { return Object.is(v, -0) ? '-0' : '0'; }
    var e = v.toExponential(d - 1).split('e'), x = parseInt(e[1], 10);
    if (x < -4 || x >= d) { return pyExp(strip(e[0]), x); }
    return strip(v.toFixed(Math.max(0, d - 1 - x)));
  }
  function val(col, r) {  // a column's value for a unit as text ('' when missing)
    var v = col.v[r];
    if (v === null || v === undefined) { return col.k === 'g' ? '–' : ''; }
    if (col.k === 'f') { return pyFloat(v); }
    if (col.k === 'g') { return pyG(v, col.d); }
    return String(v);
  }
  var head = info.head;
  function tip(id) {
    var r = row[id], box = document.createElement('div');
    var add = function (text) { box.appendChild(document.createTextNode(text)); };
    var br = function () { box.appendChild(document.createElement('br')); };
    var b = document.createElement('b');
    var name = val(head.name, r);
    b.textContent = name;
    box.appendChild(b);
    if (head.pinyin) {
      add(' ' + val(head.pinyin, r)); br();
      add(val(head.province, r) + ' ' + val(head.prefecture, r) + ' · ' + id);
    } else if (name !== String(id)) {
      add(' · ' + id);
    }
    info.fields.forEach(function (f) {
      var shown = val(f[1], r);
      if (shown) { br(); add(f[0] + ': ' + shown); }
    });
    info.lines.forEach(function (line) {
      if (line.has.charAt(r) !== '1') { return; }
      var parts = line.parts.map(function (p, k) {
        var v = val(line.cols[k], r);
        return p ? p + ' ' + v : v;
      });
      br(); add(line.label + ': ' + parts.join(' · '));
    });
    return box;
  }
  var search = null;
  function searchText(r) {  // name and pinyin (bundled layer), else name and id
    var name = val(head.name, r);
    if (head.pinyin) {
      var py = val(head.pinyin, r);
      return (name + ' ' + py + ' ' + py.toLowerCase()).toLowerCase();
    }
    return (name + ' ' + ids[r]).toLowerCase();
  }
  function build(spec, k) {
    return L.geoJSON(geo, {
      renderer: renderer,
      style: function (f) {
        var c = spec.colours[f.properties.id];
        return {color: spec.stroke, weight: 0.3, fillColor: c || spec.neutral,
                fillOpacity: c ? 0.85 : 0.6};
      },
      pointToLayer: function (f, ll) {
        return L.circleMarker(ll, {renderer: renderer, radius: 5});
      },
      onEachFeature: function (f, lyr) {
        if (row[f.properties.id] !== undefined) {
          lyr.bindTooltip(function () { return tip(f.properties.id); }, {sticky: true});
        }
        if (k === 0) { byCode[f.properties.id] = lyr; drawn += 1; }
      }
    });
  }
  function showLegend(spec) {  // a layer's own legend (a panel's year), as DOM text
    var box = document.querySelector('.geotool-legend details');
    if (!spec.legend || !box) { return; }
    Array.prototype.slice.call(box.children).forEach(function (el) {
      if (el.tagName !== 'SUMMARY') { box.removeChild(el); }
    });
    spec.legend.forEach(function (item) {
      var div = document.createElement('div'), swatch = document.createElement('span');
      swatch.style.cssText = 'display:inline-block;width:14px;height:10px;margin-right:6px;' +
        'border:1px solid #999';
      swatch.style.background = item[1];
      div.appendChild(swatch);
      div.appendChild(document.createTextNode(item[0]));
      box.appendChild(div);
    });
  }
  layersSpec.forEach(function (spec, k) {
    if (k === 0) {
      first = build(spec, 0).addTo(map);
      first.on('add', function () { showLegend(spec); });
      control.addOverlay(first, spec.name);
      return;
    }
    // other layers are built the first time they are switched on: the page is
    // interactive sooner, and a layer never shown costs nothing
    var holder = L.featureGroup();
    holder.on('add', function () {
      if (!holder.getLayers().length) { holder.addLayer(build(spec, k)); }
      showLegend(spec);
    });
    control.addOverlay(holder, spec.name);
  });
  // outlines of groups (provinces for the bundled layer): arcs whose two sides lie in
  // different groups, or that have one side only
  if (data.type === 'Topology' && options.outlines) {
    var sides = Object.create(null);
    data.objects.units.geometries.forEach(function (g) {
      var grp = g.properties.g !== undefined ? String(g.properties.g)
                                             : String(g.properties.id).slice(0, 2);
      g.arcs.forEach(function (poly) { poly.forEach(function (ring) { ring.forEach(function (ref) {
        var a = ref >= 0 ? ref : ~ref; (sides[a] = sides[a] || []).push(grp);
      }); }); });
    });
    var sx = data.transform.scale[0], sy = data.transform.scale[1];
    var tx = data.transform.translate[0], ty = data.transform.translate[1];
    var lines = [];
    Object.keys(sides).forEach(function (a) {
      var s = sides[a];
      if (s.length === 1 || s[0] !== s[1]) {
        var x = 0, y = 0;
        lines.push(data.arcs[a].map(function (p) { x += p[0]; y += p[1]; return [y * sy + ty, x * sx + tx]; }));
      }
    });
    var outlines = L.polyline(lines, {renderer: renderer, color: '#333333', weight: 1.1,
                                      interactive: false}).addTo(map);
    control.addOverlay(outlines, options.outlines);
  }
  (options.overlays || []).forEach(function (o) {
    var l = L.geoJSON(o.data, {
      renderer: renderer,
      style: function () { return o.style; },
      pointToLayer: function (f, ll) { return L.circleMarker(ll, o.point); },
      onEachFeature: function (f, x) { if (f.properties.label) { x.bindTooltip(f.properties.label); } }
    }).addTo(map);
    control.addOverlay(l, o.name);
  });
  map.getContainer().style.background = '#ffffff';
  // basemap tiles are optional: say so when they cannot load (offline, blocked)
  var tileNote = null;
  map.eachLayer(function (lyr) {
    if (!(lyr instanceof L.TileLayer)) { return; }
    lyr.on('tileerror', function () {
      if (tileNote) { return; }
      tileNote = L.DomUtil.create('div', 'geotool-tile-note', map.getContainer());
      tileNote.style.cssText = 'position:absolute;bottom:8px;left:10px;z-index:1000;' +
        'background:#fff3cd;border:1px solid #c9a227;border-radius:4px;padding:4px 8px;' +
        'font:12px sans-serif';
      tileNote.textContent = (options.words || {}).tilesFailed ||
        'Basemap tiles could not load (no network?); the data are all drawn.';
      if (hooks) { document.body.setAttribute('data-geotool-tile-error', '1'); }
    });
  });
  if (first) {
    // open on the data (the first layer's coloured units, else every unit); far islands
    // (the South China Sea's, for the bundled layer) do not widen the view
    var skip = options.fitExclude ? L.latLngBounds(options.fitExclude) : null;
    var fitTo = function (colouredOnly) {
      var bounds = null;
      first.eachLayer(function (lyr) {
        if (colouredOnly && !layersSpec[0].colours[lyr.feature.properties.id]) { return; }
        var b = lyr.getBounds ? lyr.getBounds() : L.latLngBounds([lyr.getLatLng()]);
        if (skip && skip.contains(b.getCenter())) { return; }
        bounds = bounds ? bounds.extend(b) : L.latLngBounds(b.getSouthWest(), b.getNorthEast());
      });
      return bounds;
    };
    var bounds = (options.bounds && L.latLngBounds(options.bounds)) ||  // a national map
      (options.fit === 'coloured' && fitTo(true)) || fitTo(false) || first.getBounds();
    map.fitBounds(bounds, {maxZoom: 16});  // any extent: a country or a city's tracts
    // the page's size changed before the reader moved the map (a phone turned, a window
    // opened narrow then sized): fit the data again, as a new page would
    var touched = false, container = map.getContainer();
    ['mousedown', 'touchstart', 'wheel', 'keydown'].forEach(function (type) {
      L.DomEvent.on(container, type, function () { touched = true; });
    });
    map.on('resize', function () {
      if (!touched) { map.fitBounds(bounds, {maxZoom: 16, animate: false}); }
    });
  }
  L.control.scale({imperial: false}).addTo(map);
  // search by name (Chinese or pinyin)
  var Search = L.Control.extend({
    onAdd: function () {
      var box = L.DomUtil.create('input', 'geotool-search');
      box.type = 'search'; box.placeholder = options.searchHint;
      box.style.cssText = 'width:210px;padding:4px;font:13px sans-serif';
      L.DomEvent.disableClickPropagation(box);
      box.addEventListener('keydown', function (e) {
        if (e.key === 'Enter') { window.geotoolSearch(box.value); }
      });
      return box;
    }
  });
  new Search({position: 'topleft'}).addTo(map);
  window.geotoolSearch = function (q) {
    q = String(q || '').trim().toLowerCase();
    if (!q) { return null; }
    var hit = null;
    search = search || ids.map(function (id, r) { return searchText(r); });
    ids.some(function (code, r) {
      if (search[r].indexOf(q) >= 0 && byCode[code]) { hit = code; return true; }
      return false;
    });
    if (hit) {
      var lyr = byCode[hit];
      if (lyr.getBounds) { map.fitBounds(lyr.getBounds(), {maxZoom: 16}); }
      else { map.setView(lyr.getLatLng(), 9); }
      lyr.openTooltip(lyr.getBounds ? lyr.getBounds().getCenter() : lyr.getLatLng());
    }
    if (hooks) { document.body.setAttribute('data-geotool-found', hit || ''); }
    return hit;
  };
  // full screen, with the browser's own API (no plugin, works offline)
  var Full = L.Control.extend({
    onAdd: function () {
      var b = L.DomUtil.create('a', 'geotool-fullscreen leaflet-bar');
      b.href = '#'; b.title = (options.words || {}).fullScreen || 'Full screen';
      b.innerHTML = '<svg width="16" height="16" viewBox="0 0 16 16" style="margin-top:7px"><path d="M1 6V1h5M10 1h5v5M15 10v5h-5M6 15H1v-5" fill="none" stroke="#333" stroke-width="2"/></svg>';
      b.style.cssText = 'display:block;width:30px;height:30px;line-height:30px;text-align:center;background:#fff;font-size:18px';
      L.DomEvent.on(b, 'click', function (e) {
        L.DomEvent.preventDefault(e);
        var el = map.getContainer();
        if (!document.fullscreenElement) { el.requestFullscreen && el.requestFullscreen(); }
        else { document.exitFullscreen(); }
      });
      return b;
    }
  });
  new Full({position: 'topleft'}).addTo(map);
  var m = /search=([^&]+)/.exec(window.location.hash);
  if (m) { window.geotoolSearch(decodeURIComponent(m[1])); }
  if (hooks) {
    // test hooks (off unless geotool.settings.page_test_hooks): every polygon is on the
    // map with its handlers; the browser tests and benchmarks read these attributes
    document.body.setAttribute('data-geotool-polygons', String(drawn));
    document.body.setAttribute('data-geotool-ms', String(Math.round(performance.now())));
    document.body.setAttribute('data-geotool-errors', JSON.stringify(errors));
    window.geotoolTooltip = function (id) { return row[id] === undefined ? null : tip(id); };
    document.body.setAttribute('data-geotool-ready', '1');
  }
}
// palette codes of a layer's units ('.' = no colour)
geotoolPage.CODES = '0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ';
