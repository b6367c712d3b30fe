"""Map budgets: one map of all 2,875 units <= 1.5 MB of HTML; interactive in headless Chromium
within 3 s of load. The peer, measured in the same run, is folium's standard way to draw
the same 1 km layer: ``folium.GeoJson`` with a ``GeoJsonTooltip``.

Usage: python benchmarks/bench_maps.py
"""

from __future__ import annotations

import re
import shutil
import statistics
import subprocess
import tempfile
from pathlib import Path

PROBE = """
<script>
window.addEventListener('load', function () {
  // folium's map script has run by now: the same point as geotool's own stamp
  document.documentElement.setAttribute('data-geotool-ms', String(Math.round(performance.now())));
});
</script>
"""


def load_ms(page: Path, profile: Path) -> float:
    """Milliseconds from navigation start until every polygon is on the map (real time)."""
    chrome = shutil.which("chromium")
    out = subprocess.run(
        [
            chrome,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--host-resolver-rules=MAP * ~NOTFOUND",
            f"--user-data-dir={profile}",
            "--timeout=15000",
            "--dump-dom",
            f"file://{page}",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    ready = re.search(r'data-geotool-ms="(\d+)"', out)
    if ready:
        return float(ready.group(1))
    painted = re.search(r"<title>painted:(\d+)</title>", out)
    if painted is None:
        Path("/tmp/bench_peer_dom.html").write_text(out)
        msg = f"{page.name}: the page never reported it had painted"
        raise RuntimeError(msg)
    return float(painted.group(1))


def main() -> None:
    import folium
    import geopandas as gpd

    from geotool import clusters, maps, settings
    from geotool.maps import pages as map_pages
    from geotool.report import figures

    # the pages report when they are interactive through their test hooks (off by default)
    settings.page_test_hooks = True
    info = figures.unit_info(membership=clusters.membership("report2020"))
    with tempfile.TemporaryDirectory() as tmpdir:
        tmp = Path(tmpdir)
        pages = {}
        for kind, fmap in (
            ("rankings", figures.rankings_map(info, offline=True)),
            (
                "clusters",
                map_pages.clusters_map(
                    clusters.membership("report2020"),
                    clusters.polygons("report2020"),
                    info,
                    offline=True,
                ),
            ),
        ):
            pages[kind] = tmp / f"{kind}.html"
            maps.to_html(fmap, pages[kind])
        # the peer: the same 1 km layer as GeoJSON through folium.GeoJson + GeoJsonTooltip
        import json

        import numpy as np
        import shapely

        topo = json.loads(maps._topology("wgs84"))
        sx, sy = topo["transform"]["scale"]
        tx, ty = topo["transform"]["translate"]
        arcs = [np.cumsum(np.array(a), axis=0) * [sx, sy] + [tx, ty] for a in topo["arcs"]]

        def ring(refs):
            return np.vstack([arcs[r] if r >= 0 else arcs[~r][::-1] for r in refs])

        def polygon(p):  # rings collapsed by the quantisation (< 4 positions) are left out
            rings = [r for r in (ring(refs) for refs in p) if len(r) >= 4]
            return shapely.Polygon(rings[0], rings[1:]) if rings and len(ring(p[0])) >= 4 else None

        geoms = [
            shapely.MultiPolygon([q for q in (polygon(p) for p in g["arcs"]) if q is not None])
            for g in topo["objects"]["units"]["geometries"]
        ]
        gdf = gpd.GeoDataFrame(
            info.reset_index()[["adcode", "industrial_rank", "tier"]].astype(str),
            geometry=geoms,
            crs=4326,
        )
        peer = folium.Map(location=[35, 105], zoom_start=4, tiles=None, prefer_canvas=True)
        folium.GeoJson(
            gdf,
            tooltip=folium.GeoJsonTooltip(["adcode", "industrial_rank", "tier"]),
            style_function=lambda f: {"weight": 0.3},
        ).add_to(peer)
        html = peer.get_root().render().replace("</head>", PROBE + "</head>")
        import xstatic.pkg.leaflet as xl

        leaflet = (Path(xl.BASE_DIR) / "leaflet.js").read_text()
        for url in re.findall(r'<script src="(https?://[^"]+)"', html):
            tag = f'<script src="{url}"></script>'
            # the peer keeps only Leaflet, inlined, like geotool's offline maps
            html = html.replace(tag, f"<script>{leaflet}</script>" if "leaflet@" in url else "")
        pages["peer (folium.GeoJson)"] = tmp / "peer.html"
        pages["peer (folium.GeoJson)"].write_text(html, encoding="utf-8")
        times = {}
        for name, page in pages.items():
            runs = [load_ms(page, tmp / f"profile-{name}-{i}") for i in range(3)]
            times[name] = statistics.median(runs)
            print(
                f"{name}: {page.stat().st_size / 1e6:.2f} MB (budget 1.5 MB), "
                f"interactive after {times[name]:.0f} ms (median of 3; budget 3000 ms)"
            )
        peer_t = times["peer (folium.GeoJson)"]
        peer_size = pages["peer (folium.GeoJson)"].stat().st_size
        for name in ("rankings", "clusters"):
            print(
                f"{name} / peer: size {pages[name].stat().st_size / peer_size:.2f}, "
                f"time {times[name] / peer_t:.2f}"
            )


if __name__ == "__main__":
    main()
