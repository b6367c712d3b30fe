// geotool's linked LISA view: a Moran scatter and two unit maps, all SVG, linked by
// hover, click and brushing (GeoDa's linked windows). No library, no network. Every
// string reaches the page as text (textContent / attributes), never as HTML.
function geotoolLinked(data) {
  var NS = 'http://www.w3.org/2000/svg';
  var errors = [];
  var W_ = data.words;  // the page's words, in its one language (maps/words.toml)
  if (data.testHooks) { window.addEventListener('error', function (e) { errors.push(String(e.message)); }); }
  function el(name, attrs, parent) {
    var e = document.createElementNS(NS, name);
    Object.keys(attrs).forEach(function (k) { e.setAttribute(k, attrs[k]); });
    if (parent) { parent.appendChild(e); }
    return e;
  }
  // unit ids are user data: every table keyed by them has no prototype ("constructor",
  // "__proto__" are ids like any other)
  var stats = Object.create(null), names = Object.create(null);
  var mapPaths = Object.create(null), points = Object.create(null);
  data.stats.forEach(function (r) { stats[r[0]] = r[1]; });
  var ids = Object.keys(stats).filter(function (id) {
    return isFinite(stats[id][0]) && isFinite(stats[id][1]);
  });

  // ------------------------------------------------------------------ the two maps
  var mapsSpec = [
    {id: 'clusters', legend: data.classes,
     fill: function (s) { return s[3] >= 0 ? data.classes[s[2]][1] : data.notTested; }},
    {id: 'significance', legend: data.pclasses,
     fill: function (s) { return s[3] >= 0 ? data.pclasses[s[3]][1] : data.notTested; }}
  ];
  mapsSpec.forEach(function (m) {
    var svg = document.getElementById(m.id);
    svg.setAttribute('viewBox', data.view.join(' '));
    var g = el('g', {id: m.id + '-units'}, svg);
    data.units.forEach(function (u) {
      var s = stats[u[0]];
      var p = el('path', {d: u[1], fill: s ? m.fill(s) : data.notTested,
                          'class': s ? 'u t' : 'u nt', 'data-id': u[0]}, g);
      names[u[0]] = u[2];
      if (s) { (mapPaths[u[0]] = mapPaths[u[0]] || []).push(p); }
    });
    if (data.maritime) { el('path', {d: data.maritime, 'class': 'maritime'}, g); }
    if (data.inset) {  // the South China Sea islands: the same drawing, seen through a second window
      var inset = el('svg', {'class': 'inset', viewBox: data.inset.join(' ')}, svg.parentNode);
      el('use', {href: '#' + m.id + '-units'}, inset);
    }
    var legend = document.getElementById('legend-' + m.id);
    m.legend.concat([[W_.not_tested, data.notTested]]).forEach(function (item) {
      var sw = document.createElement('span');
      sw.className = 'sw'; sw.style.background = item[1];
      legend.appendChild(sw);
      legend.appendChild(document.createTextNode(item[0]));
    });
    svg.addEventListener('mouseover', function (e) {
      var id = e.target.getAttribute('data-id');
      if (id && stats[id]) { setHover(id); }
    });
    svg.addEventListener('mouseout', function () { setHover(null); });
    svg.addEventListener('click', function (e) {
      var id = e.target.getAttribute('data-id');
      if (id && stats[id]) { toggle(id, e.shiftKey); } else { select([], false); }
    });
  });

  // ------------------------------------------------------------------ the scatter
  var sc = document.getElementById('scatter');
  var W = 420, H = 420, M = 40, R = 10;
  function extent(k) {
    var lo = 0, hi = 0;
    ids.forEach(function (id) { var v = stats[id][k]; if (v < lo) { lo = v; } if (v > hi) { hi = v; } });
    var pad = (hi - lo) * 0.05 || 1;
    return [lo - pad, hi + pad];
  }
  var xr = extent(0), yr = extent(1);
  function sx(v) { return M + (v - xr[0]) / (xr[1] - xr[0]) * (W - M - R); }
  function sy(v) { return H - M - (v - yr[0]) / (yr[1] - yr[0]) * (H - M - R); }
  el('rect', {x: M, y: R, width: W - M - R, height: H - M - R, fill: '#fff', stroke: '#999'}, sc);
  var clip = el('clipPath', {id: 'plot-area'}, el('defs', {}, sc));
  el('rect', {x: M, y: R, width: W - M - R, height: H - M - R}, clip);
  el('line', {x1: sx(0), x2: sx(0), y1: R, y2: H - M, 'class': 'axis'}, sc);
  el('line', {x1: M, x2: W - R, y1: sy(0), y2: sy(0), 'class': 'axis'}, sc);
  if (isFinite(data.slope)) {
    el('line', {x1: sx(xr[0]), y1: sy(data.slope * xr[0]), x2: sx(xr[1]), y2: sy(data.slope * xr[1]),
                'class': 'fit', 'clip-path': 'url(#plot-area)'}, sc);
  }
  function text(x, y, s, attrs) {
    var t = el('text', Object.assign({x: x, y: y, 'class': 'tick'}, attrs || {}), sc);
    t.textContent = s;
    return t;
  }
  [xr[0], 0, xr[1]].forEach(function (v) { text(sx(v), H - M + 14, v.toFixed(1), {'text-anchor': 'middle'}); });
  [yr[0], 0, yr[1]].forEach(function (v) { text(M - 4, sy(v) + 4, v.toFixed(1), {'text-anchor': 'end'}); });
  text((M + W - R) / 2, H - 8, W_.x_axis, {'text-anchor': 'middle'});
  text(12, (R + H - M) / 2, W_.y_axis, {'text-anchor': 'middle',
       transform: 'rotate(-90 12 ' + (R + H - M) / 2 + ')'});
  text(W - R - 4, R + 14, "Moran's I = " + (isFinite(data.slope) ? data.slope.toFixed(3) : '–'),
       {'text-anchor': 'end'});
  var dots = el('g', {}, sc);
  ids.forEach(function (id) {
    var s = stats[id];
    points[id] = el('circle', {cx: sx(s[0]).toFixed(1), cy: sy(s[1]).toFixed(1), r: 3.2,
                               fill: data.classes[s[2]][1], 'class': 'pt', 'data-id': id}, dots);
  });
  var brush = el('rect', {'class': 'brush', visibility: 'hidden', x: 0, y: 0, width: 0, height: 0}, sc);

  // ------------------------------------------------------------------ linking
  var info = document.getElementById('info');
  var hovered = null, selected = Object.create(null);
  function describe(id) {
    var s = stats[id];
    return (names[id] || id) + ' (' + id + ')\n' + W_.value + ' ' + s[4] + ' · z ' + s[0] + ' · lag ' + s[1] +
      ' · local Moran Ii ' + s[5] + ' · p ' + s[6] + ' · ' + data.classes[s[2]][0];
  }
  function raise(node) { node.parentNode.appendChild(node); }
  function setHover(id) {
    if (hovered === id) { return; }
    if (hovered) {
      mapPaths[hovered].forEach(function (p) { p.classList.remove('hi'); });
      if (points[hovered]) { points[hovered].classList.remove('hi'); }
    }
    hovered = id;
    if (id) {
      mapPaths[id].forEach(function (p) { p.classList.add('hi'); raise(p); });
      if (points[id]) { points[id].classList.add('hi'); raise(points[id]); }
      info.textContent = describe(id);
    }
  }
  function mark(id, on) {
    (mapPaths[id] || []).forEach(function (p) { p.classList.toggle('sel', on); });
    if (points[id]) { points[id].classList.toggle('sel', on); }
  }
  function select(list, add) {
    if (!add) { Object.keys(selected).forEach(function (id) { mark(id, false); });
      selected = Object.create(null); }
    list.forEach(function (id) { selected[id] = true; mark(id, true); });
    var n = Object.keys(selected).length;
    document.body.classList.toggle('sel-on', n > 0);
    if (n) { info.textContent = n + ' ' + W_.selected + (n === 1 ? ': ' + describe(list[0] || Object.keys(selected)[0]) : ''); }
  }
  function toggle(id, add) {
    if (selected[id] && add) { delete selected[id]; mark(id, false); select([], true); }
    else { select([id], add); }
  }
  window.addEventListener('keydown', function (e) { if (e.key === 'Escape') { select([], false); } });
  sc.addEventListener('mouseover', function (e) {
    var id = e.target.getAttribute('data-id');
    if (id) { setHover(id); }
  });
  sc.addEventListener('mouseout', function (e) { if (e.target.getAttribute('data-id')) { setHover(null); } });
  function local(e) {
    var p = sc.createSVGPoint();
    p.x = e.clientX; p.y = e.clientY;
    return p.matrixTransform(sc.getScreenCTM().inverse());
  }
  var start = null, startId = null, adding = false;
  sc.addEventListener('mousedown', function (e) {
    start = local(e); startId = e.target.getAttribute('data-id'); adding = e.shiftKey;
    e.preventDefault();
  });
  function box(a, b) {
    return {x: Math.min(a.x, b.x), y: Math.min(a.y, b.y), w: Math.abs(a.x - b.x), h: Math.abs(a.y - b.y)};
  }
  window.addEventListener('mousemove', function (e) {
    if (!start) { return; }
    var r = box(start, local(e));
    brush.setAttribute('x', r.x); brush.setAttribute('y', r.y);
    brush.setAttribute('width', r.w); brush.setAttribute('height', r.h);
    brush.setAttribute('visibility', 'visible');
    raise(brush);
  });
  window.addEventListener('mouseup', function (e) {
    if (!start) { return; }
    var r = box(start, local(e));
    start = null;
    brush.setAttribute('visibility', 'hidden');
    if (r.w < 3 && r.h < 3) {  // a click
      if (startId) { toggle(startId, adding || e.shiftKey); } else { select([], false); }
      return;
    }
    var hits = ids.filter(function (id) {
      var x = sx(stats[id][0]), y = sy(stats[id][1]);
      return x >= r.x && x <= r.x + r.w && y >= r.y && y <= r.y + r.h;
    });
    select(hits, adding || e.shiftKey);
  });

  // ------------------------------------------------------------------ test hooks
  if (data.testHooks) {
    var b = document.body;
    var put = function (k, v) { b.setAttribute('data-geotool-' + k, String(v)); }
    var style = function (node) {
      var cs = window.getComputedStyle(node);
      return cs.stroke + '|' + cs.strokeWidth + '|' + cs.fillOpacity;
    }
    var at = function (node, type, x, y) {
      node.dispatchEvent(new MouseEvent(type, {bubbles: true, cancelable: true, view: window,
                                               clientX: x, clientY: y}));
    }
    put('paths', document.querySelectorAll('#clusters path.u').length);
    put('tested', document.querySelectorAll('#clusters path.t').length);
    put('points', sc.querySelectorAll('circle.pt').length);
    var other = ids[0];
    var hash = window.location.hash;
    var m = /hover=([^&]+)/.exec(hash);
    if (m) {
      var id = decodeURIComponent(m[1]);
      other = ids.filter(function (k) { return k !== id; })[0];
      var bb = points[id].getBoundingClientRect();
      at(points[id], 'mouseover', bb.left + bb.width / 2, bb.top + bb.height / 2);
      put('hover', hovered);
      put('hover-style', style(mapPaths[id][0]));
      put('significance-style', style(mapPaths[id][1]));
      put('info', info.textContent);
    }
    m = /maphover=([^&]+)/.exec(hash);
    if (m) {
      var mid = decodeURIComponent(m[1]);
      other = ids.filter(function (k) { return k !== mid; })[0];
      at(mapPaths[mid][0], 'mouseover', 0, 0);
      put('hover', hovered);
      put('point-style', style(points[mid]));
      put('significance-style', style(mapPaths[mid][1]));
    }
    m = /brush=([-0-9.e]+),([-0-9.e]+),([-0-9.e]+),([-0-9.e]+)/.exec(hash);
    if (m) {
      var ctm = sc.getScreenCTM();
      var screen = function (x, y) {
        var p = sc.createSVGPoint(); p.x = sx(x); p.y = sy(y);
        return p.matrixTransform(ctm);
      }
      var a = screen(+m[1], +m[2]), c = screen(+m[3], +m[4]);
      at(sc, 'mousedown', a.x, a.y);
      at(sc, 'mousemove', (a.x + c.x) / 2, (a.y + c.y) / 2);
      at(sc, 'mousemove', c.x, c.y);
      at(sc, 'mouseup', c.x, c.y);
      var chosen = Object.keys(selected).sort();
      put('selected', chosen.join(','));
      var out = ids.filter(function (k) { return !selected[k]; })[0];
      if (chosen.length) { put('selected-style', style(mapPaths[chosen[0]][0])); }
      if (out) { put('unselected-style', style(mapPaths[out][0])); }
    }
    if (other) { put('other-style', style(mapPaths[other][0])); }
    put('errors', JSON.stringify(errors));
    put('ready', '1');
  }
}
