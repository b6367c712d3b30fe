"""A study: one typed, validated, immutable description of what to analyse.

Every entry point builds a :class:`Study` (the CLI from its flags, Python from keywords,
``geotool run study.toml`` from a file) and hands it to :func:`geotool.pipeline.run`. The
2020 report is one too (``recipe="report2020"``, :mod:`geotool.report.study`).

A study file is TOML whose keys are the fields below, flat or in tables named for the
reader (``[data]``, ``[values]``, ``[methods]``, ``[labels]``, ``[output]``)::

    title = "Industrial output of Jiangsu's prefectures"
    [data]
    data = "jiangsu_gdp_gbk.csv"     # relative to the study file
    year_col = "年份"
    [values]
    value_cols = ["GDP"]
    per = "人口"
    [labels]
    labels = { GDP = "GDP (100 million yuan)" }

An unknown key is refused by name, so a typo never runs a different study.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geotool import _validate as check
from geotool import settings
from geotool._errors import InputError
from geotool._text import listing, short

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

__all__ = ["LANGS", "Study"]

#: Languages of titles, legends and figures.
LANGS = ("zh", "en")
_TIER_METHODS = ("ward", "jenks", "quantiles", "report")
_BASEMAPS = ("none", "positron", "osm", "amap")
_RECIPES = ("report2020",)
#: composite.METHODS and regress.KINDS + PANEL_KINDS (not imported: the CLI's start is quick)
_INDEX_METHODS = ("entropy", "critic", "pca", "equal", "ahp")
_MODEL_KINDS = ("ols", "lag", "error", "slx", "durbin", "gwr", "mgwr",
                "pooled", "fe_lag", "fe_error", "re_lag", "re_error")  # fmt: skip


def _opt(default: Any = None, help: str = "", *choices: Any, flag: str = "",
         metavar: str | None = None, many: bool = False, factory: Any = None) -> Any:
    """A field and its command-line option, which :mod:`geotool.cli` builds from this.

    ``help`` names other fields as ``{name}`` (the CLI spells them as its options);
    ``choices`` are the values allowed (checked here too); ``flag``: the option's name when
    not the field's; ``many``: the option repeats.
    """
    meta = {"help": help, "choices": choices, "flag": flag, "metavar": metavar, "many": many}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True, kw_only=True)
class Study:
    """What to analyse, how, and where the results go.

    Each field's ``_opt`` help is its documentation (and its command-line option's help);
    ``data`` and ``geometry`` may also be frames already read, ``out=None`` writes no folder.
    """

    data: Path | pd.DataFrame | None = _opt(
        None, "your table (CSV, .xlsx) or geometry file, not the report's")
    geometry: Path | gpd.GeoDataFrame | None = _opt(
        None, "your polygons (GeoPackage, Shapefile, GeoJSON ...)")
    raster: Path | None = _opt(None, "a GeoTIFF grid: LISA on its cells ({weights} rook/queen)")
    recipe: str | None = _opt(None, "", *_RECIPES)
    id_col: str | None = _opt(None, "id column of {geometry} and {data}: unit codes or names")
    name_col: str | None = _opt(None, "column of the name")
    province_col: str | None = _opt(None, "column of the province")
    prefecture_col: str | None = _opt(None, "column of the prefecture")
    code_col: str | None = _opt(None, "column of the code")
    year_col: str | None = _opt(None, "year column (a panel in long form)")
    encoding: str | None = _opt(None, "force the CSV encoding (e.g. gb18030)")
    geometry_encoding: str | None = _opt(
        None, "encoding of {geometry}'s attributes (e.g. gbk); default: its .cpg, else detected")
    sheet: str | int | None = _opt(None, "Excel sheet name or number")
    layer: str | None = _opt(None, "layer of a GeoPackage with several")
    level: str = _opt("auto", "level of the units of {data}; auto: detected from codes and names",
                      "auto", "county", "prefecture", "province")
    crs: str | None = _opt(None, "CRS of {geometry} when its own is missing or wrong (EPSG:4326)")
    datum: str | None = _opt(None, "datum of {geometry}: gcj02 for AMap-derived, bd09 for "
                             "Baidu-derived", "wgs84", "gcj02", "bd09")
    max_unmatched: float = _opt(0.0, "share of rows allowed unmatched")
    value_cols: tuple[str, ...] = _opt((), "value column(s) of {data}, comma-separated; default: "
                                       "its only numeric one", flag="value-col")
    all_numeric: bool = _opt(False, "analyse every numeric column of {data}")
    transform: str | None = _opt(None, "transform of every variable, after {per}",
                                 "log", "log1p", "standardise")
    per: str | None = _opt(None, "population column: variables become rates")
    smooth: str | None = _opt(None, "empirical-Bayes smoothing of {per} rates (global or "
                              "spatial), for event counts", "eb", "spatial_eb")
    scale: float = _opt(1.0, "multiplier of rates (e.g. 10000)")
    bivariate: tuple[tuple[str, str], ...] = _opt(
        (), "bivariate Moran's I and LISA of two value columns (repeatable)", metavar="A:B",
        many=True)
    weights: str | None = _opt(None, "weights spec: queen, rook, knn:6, distance:100km (batch: "
                               "several, comma-separated)")
    islands: str = _opt("nearest", "units without neighbours: nearest (within 3x the median "
                        "nearest distance), max:100km, nearest:unbounded, drop or keep",
                        metavar="RULE")
    permutations: int = _opt(help="permutations of the pseudo p-values",
                             factory=lambda: settings.permutations)
    seed: int = _opt(help="random seed of the permutations", factory=lambda: settings.seed)
    alpha: float = _opt(0.05, "significance level")
    adjust: str = _opt("none", "multiple-comparison rule of the LISA classes and Gi*: none (each "
                       "unit at alpha), bonferroni or fdr", "none", "bonferroni", "fdr")
    sided: str = _opt("two-sided", "local p-values: two-sided (alpha holds under the null) or "
                      "folded (GeoDa's one-sided)", "two-sided", "folded")
    indicators: tuple[str, ...] = _opt((), "columns combined into a composite index "
                                       "(comma-separated): the index is then the variable")
    index_method: str = _opt("entropy", "weights of {indicators} (ahp needs {ahp})",
                             *_INDEX_METHODS)
    direction: Mapping[str, str] = _opt(
        help="indicators where less is better get '-'", metavar="A:-,B:+", factory=dict)
    dimensions: Mapping[str, tuple[str, ...]] = _opt(
        help="a dimension of the index and its indicators (repeatable)", metavar="NAME=A,B",
        flag="dimension", many=True, factory=dict)
    ahp: Path | tuple[tuple[float, ...], ...] | None = _opt(
        None, "AHP pairwise matrix (CSV; 1/3 allowed), over the dimensions or else the indicators")
    normalise: str | None = _opt(None, "normalisation of the indicators (default minmax; vector "
                                 "for topsis)", "minmax", "zscore", "vector")
    aggregate: str = _opt("sum", "how normalised indicators combine", "sum", "geometric", "topsis")
    groups: str | None = _opt(None, "groups inequality is decomposed between: region (China's "
                              "东中西东北, the default there), province, cluster (city clusters "
                              "of {cluster_set}), or a column")
    tiers: str = _opt("ward", "how values are classed into tiers", *_TIER_METHODS)
    k: int = _opt(4, "number of tiers")
    markov_k: int = 5
    cluster_set: str = _opt("report2020", "cluster definitions: report2020, plans, or a YAML/CSV "
                            "file of them", flag="set", metavar="SET")
    model: str | None = _opt(None, "a regression, e.g. 'y ~ x1 + log(x2) + C(region)' (formula "
                             "syntax; y is then the variable)")
    model_kind: str = _opt(
        "ols", "the model: OLS (with the LM tests), spatial lag or error, SLX, spatial Durbin, "
        "GWR or MGWR; with {year_col}, a panel: pooled OLS with year effects, spatial fixed "
        "(fe_lag, fe_error) or random effects (re_lag, re_error) with the Hausman test",
        *_MODEL_KINDS, flag="kind")
    model_method: str = _opt("ml", "lag, error and Durbin models by maximum likelihood or GMM",
                             "ml", "gm", flag="method")
    model_regimes: str | None = _opt(None, "spatial regimes with Chow tests: a column, or "
                                     "'groups' ({groups})", flag="regimes", metavar="COLUMN")
    model_robust: str | None = _opt(None, "heteroskedasticity-robust standard errors: white "
                                    "(OLS, SLX, GM lag and Durbin) or het (GM error)",
                                    "white", "het", flag="robust")  # regress.ROBUST
    title: str | None = _opt(None, "the title of the map or study")
    labels: Mapping[str, str] = _opt(
        help="a readable label of a column for titles and legends (repeatable)",
        flag="label", metavar="COL=TEXT", many=True, factory=dict)
    lang: str | None = _opt(None, "language of the pages; default: zh in China", *LANGS)
    out: Path | None = _opt(Path("outputs"), "output folder (map: the page)")
    figures: tuple[str, ...] = _opt((), "figures for print, e.g. png,svg,pdf (4 s a figure)")
    dpi: int = _opt(300, "resolution of the PNG figures")
    cdn: bool = _opt(False, "Leaflet from its CDN (smaller, blank offline)")
    basemap: str = _opt("none", "tiles under the map", *_BASEMAPS)
    value_classes: str | None = _opt(
        None, "classes of the value maps: quantiles:5 (default), jenks:5, equal:5 or "
        "breaks:1,10,100", flag="classes", metavar="SCHEME:K")

    def __post_init__(self) -> None:
        """Normalise and check every field: a bad study fails before any work."""
        _check_types(self)
        put = object.__setattr__
        for name in ("data", "geometry", "out"):
            value = getattr(self, name)
            if value is not None and not (name != "out" and _is_frame(value, name)):
                put(self, name, _path(value, name))
        put(self, "value_cols", _names(self.value_cols, "value_cols"))
        put(self, "bivariate", _pairs(self.bivariate))
        put(self, "figures", _texts(self.figures, "figures"))  # checked by the pipeline
        put(self, "labels", _labels(self.labels))
        for f in dataclasses.fields(self):
            if f.metadata.get("choices"):
                allowed = f.metadata["choices"]
                _choice(getattr(self, f.name), (None, *allowed) if f.default is None else allowed,
                        f.name)  # fmt: skip
        self.classes_spec()  # refuse a bad value_classes now, not after the statistics
        check.permutations(self.permutations, n_units=1)
        check.seed(self.seed)
        check.alpha(self.alpha)
        check.share(self.max_unmatched, "max_unmatched")
        # classes: a map's legend shows them all; dpi: maps.figure.validate's range
        for name, low, top in (("k", 2, 20), ("markov_k", 2, 20), ("dpi", 30, 1200)):
            value = getattr(self, name)
            if not low <= value <= top:
                msg = f"{name}={short(repr(value))} must be a whole number from {low} to {top}."
                raise InputError(msg)
        if self.raster is not None:
            _check_raster(self)
        self._check_sources()
        self._check_index()
        self._check_model()

    def classes_spec(self) -> tuple[str, int | None, list[float] | None] | None:
        """``value_classes`` as ``(scheme, k, breaks)``; None: each variable's default."""
        from geotool._classify import parse_spec

        return None if self.value_classes is None else parse_spec(self.value_classes)

    def _check_sources(self) -> None:
        """The sources fit together: a recipe alone, or the user's data."""
        if self.raster is not None:
            return  # _check_raster: a grid alone
        if self.recipe is not None and (self.data is not None or self.geometry is not None):
            raise InputError(
                f"recipe={self.recipe!r} analyses the bundled report; drop data= and "
                "geometry= (or the recipe, to analyse your own file)."
            )
        if self.data is None and _is_frame(self.geometry, "geometry"):
            raise InputError(
                "geometry= holds polygons already read, so it needs data= (the table of "
                "values to join to them); or pass the file they came from as data=."
            )
        if not math.isfinite(self.scale) or self.scale <= 0:
            msg = f"scale={self.scale!r} must be a positive number, e.g. 10000 (per 10,000)."
            raise InputError(msg)
        if self.recipe is None and self.data is None and self.geometry is None:
            msg = "A study needs data= (a table or geometry file), geometry=, or recipe=."
            raise InputError(msg)
        if self.tiers == "report" and self.recipe is None:
            raise InputError(
                "tiers='report' is the 2020 report's cut points, for its rankings only; "
                "pass tiers='ward', 'jenks' or 'quantiles'."
            )

    def _check_index(self) -> None:
        """The composite index's fields: choices, and indicators they name."""
        put = object.__setattr__
        put(self, "indicators", _names(self.indicators, "indicators"))
        if not self.indicators and (self.direction or self.dimensions or self.ahp is not None):
            msg = "direction=, dimensions= and ahp= describe a composite index: pass indicators=."
            raise InputError(msg)
        put(self, "direction", _direction(self.direction, self.indicators))
        put(self, "dimensions", _dimensions(self.dimensions))
        for name, cols in self.dimensions.items():
            stray = [c for c in cols if c not in self.indicators]
            if stray:
                raise InputError(
                    f"dimensions: {short(name)!r} lists {short(stray[0])!r}, which is not one "
                    f"of the indicators {listing(list(self.indicators), 12)}; write "
                    "'name=a,b;other=c'."
                )
        if isinstance(self.ahp, str | Path):
            put(self, "ahp", _path(self.ahp, "ahp"))
        if self.indicators and (self.value_cols or self.all_numeric):
            raise InputError(
                "indicators= makes the composite index the study's variable; drop "
                "value_cols= (all_numeric=) or the indicators."
            )
        if (self.index_method == "ahp") != (self.ahp is not None) and self.indicators:
            raise InputError(
                "index_method='ahp' needs ahp= (the pairwise matrix), and ahp= needs "
                "index_method='ahp'; give both or neither."
            )

    def _check_model(self) -> None:
        """A model's ``y`` is the study's variable when none is named."""
        if self.model is None:
            return
        if "~" not in self.model:
            raise InputError(f"model={short(repr(self.model))} must read 'y ~ x1 + log(x2)'.")
        y = self.model.split("~", 1)[0].strip().strip("`")
        if not (self.value_cols or self.all_numeric or self.indicators) and y.isidentifier():
            object.__setattr__(self, "value_cols", (y,))

    def language(self, china: bool) -> str:
        """The study's language: as given, else Chinese for units in China, else English."""
        return self.lang or ("zh" if china else "en")

    @property
    def source(self) -> str:
        """The name of the study's data in titles: its file's stem, or ``table``."""
        given = self.data if self.data is not None else self.geometry
        return Path(given).stem if isinstance(given, Path) else "table"

    def label(self, column: str) -> str:
        """The readable label of a column (``labels``), else the column itself."""
        return self.labels.get(column, column)

    def replace(self, **changes: Any) -> Study:
        """A copy with some fields changed (and checked again)."""
        return dataclasses.replace(self, **changes)

    @classmethod
    def from_file(cls, path: Path | str, **overrides: Any) -> Study:
        """Read a study file (TOML: the fields, flat or in tables); ``overrides`` win."""
        path = _path(path, "study")
        try:
            if not path.exists():
                msg = f"There is no study file at {short(str(path), 160)}; check the path."
                raise InputError(msg)
            if not path.is_file():  # a pipe or a device would block or never end
                msg = f"The study file {short(str(path))} is not a regular file; pass a file."
                raise InputError(msg)
            with path.open("rb") as f:
                data = f.read(_STUDY_FILE_BYTES + 1)
            if len(data) > _STUDY_FILE_BYTES:
                msg = f"The study file {short(path.name)} is over 1 MiB; a study file is short."
                raise InputError(msg)
            doc = tomllib.loads(data.decode("utf-8-sig"))
        except UnicodeDecodeError:
            msg = (f"The study file {short(path.name)} is not UTF-8 text (saved as GBK?); save "
                   "it as UTF-8 (in Notepad: Save As, encoding UTF-8).")  # fmt: skip
            raise InputError(msg) from None
        except OSError as exc:
            msg = f"Cannot read the study file {short(str(path))}: {short(str(exc), 120)}."
            raise InputError(msg) from None
        except (tomllib.TOMLDecodeError, RecursionError) as exc:
            why = short(str(exc) or "nested too deeply", 120)
            msg = f"The study file {short(path.name)} is not valid TOML ({why}); fix it there."
            raise InputError(msg) from None
        fields = _flatten(doc, path.name)
        for name in ("data", "geometry", "raster", "out", "ahp"):
            if isinstance(fields.get(name), str):
                given = Path(fields[name]).expanduser()
                fields[name] = given if given.is_absolute() else path.parent / given
        try:
            return cls(**(fields | overrides))
        except InputError as exc:  # a key of the file is named as the file spells it, not a flag
            text = str(exc)
            for name in fields.keys() - overrides.keys():
                if text.startswith(f"{name}="):  # lang='fr' is ... -> key 'lang' = 'fr' is ...
                    rest = text[len(name) + 1 :]
                    said = f"{name!r}{rest}" if rest.startswith(" ") else f"key {name!r} = {rest}"
                    raise InputError(f"{path.name}: {said}") from None
            raise


#: Fields whose value is a mapping (a TOML table of that name may also hold the field).
_MAPPINGS = ("labels", "direction", "dimensions")
#: The most bytes a study file may hold.
_STUDY_FILE_BYTES = 1 << 20
#: Fields of each type (checked before anything else, so a wrong type is named).
_TEXT_FIELDS = (
    "recipe", "id_col", "name_col", "province_col", "prefecture_col", "code_col",
    "year_col", "encoding", "geometry_encoding", "layer", "level", "datum",
    "transform", "per", "smooth", "weights", "islands", "adjust", "sided", "tiers",
    "cluster_set", "title", "lang", "basemap", "index_method", "normalise", "aggregate", "groups",
    "model", "model_kind", "model_method", "model_regimes", "model_robust", "value_classes",
)  # fmt: skip
_FLAG_FIELDS = ("all_numeric", "cdn")
_NUMBER_FIELDS = ("max_unmatched", "scale", "alpha")
_WHOLE_FIELDS = ("permutations", "seed", "k", "markov_k", "dpi")


def _check_types(study: Study) -> None:
    """Refuse a field of the wrong type by its name (a list where a column is named ...)."""
    rules: tuple[tuple[tuple[str, ...], str, Callable[[Any], bool]], ...] = (
        (_TEXT_FIELDS, "text", lambda v: v is None or isinstance(v, str)),
        (_FLAG_FIELDS, "true or false", lambda v: isinstance(v, bool)),
        (_NUMBER_FIELDS, "a number",
         lambda v: not isinstance(v, bool) and isinstance(v, numbers.Real)),
        (_WHOLE_FIELDS, "a whole number",
         lambda v: not isinstance(v, bool) and isinstance(v, numbers.Integral)),
        (("sheet",), "a sheet's name or number", lambda v: v is None or isinstance(v, str | int)),
    )  # fmt: skip
    for names, what, ok in rules:
        for name in names:
            value = getattr(study, name)
            if not ok(value):
                raise InputError(f"{name}= must be {what}, got {short(repr(value))}.")


#: File endings read as geometry (the table's values are the features' attributes).
GEOMETRY_SUFFIXES = (".gpkg", ".shp", ".zip", ".geojson", ".json", ".parquet", ".geoparquet")


def is_geometry_file(path: Path) -> bool:
    """Whether ``path`` names a geometry file (by its ending), not a table."""
    return path.suffix.lower() in GEOMETRY_SUFFIXES


def _flatten(doc: Mapping[str, Any], where: str) -> dict[str, Any]:
    """A study file's keys, out of their tables; unknown or repeated keys refused."""
    known = {f.name for f in dataclasses.fields(Study)}
    out: dict[str, Any] = {}
    for key, value in doc.items():
        section = isinstance(value, dict) and not (
            key in _MAPPINGS and not isinstance(value.get(key), dict)
        )  # a table of fields ([data], [labels] ...), or a mapping field itself
        if not section and key not in known:
            fields = listing(sorted(known), 60)
            msg = f"{where}: {short(key)!r} is not a study field; the fields are {fields}."
            raise InputError(msg)
        for inner, v in _flatten(value, where).items() if section else [(key, value)]:
            if inner in out:
                raise InputError(f"{where} sets {inner!r} twice; keep one.")
            out[inner] = v
    return out


def _is_frame(value: object, name: str) -> bool:
    """A table already read: a GeoDataFrame for ``geometry``, a DataFrame for ``data``.

    Checked by type name (pandas and geopandas are not imported here).
    """
    kinds = {c.__name__ for c in type(value).__mro__}
    if name == "data" and "GeoDataFrame" in kinds:
        msg = "data= is a GeoDataFrame: pass its polygons as geometry= and its values as data=."
        raise InputError(msg)
    return ("GeoDataFrame" if name == "geometry" else "DataFrame") in kinds


def _check_raster(study: Study) -> None:
    """``raster=``: an existing GeoTIFF, and the study's only source."""
    path = _path(study.raster, "raster")
    object.__setattr__(study, "raster", path)
    if study.data is not None or study.geometry is not None or study.recipe is not None:
        msg = "raster= is a study of its own: drop data=, geometry= and recipe= (or raster=)."
        raise InputError(msg)
    if not path.is_file():
        raise InputError(f"raster={short(str(path))} is not a file; pass a GeoTIFF (.tif).")
    with path.open("rb") as f:
        magic = f.read(4)
    if magic not in (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"):
        msg = f"raster={short(path.name)} is not a GeoTIFF (no TIFF header); pass a .tif grid."
        raise InputError(msg)


def _path(value: object, name: str) -> Path:
    if isinstance(value, Path):
        path = value
    elif isinstance(value, str) and value.strip():
        path = Path(value)
    else:
        raise InputError(f"{name} must be a path, got {short(repr(value))}.")
    if str(path) in ("", "."):
        raise InputError(f"{name} must name a file or folder, got an empty path.")
    return path


def _choice(value: object, allowed: tuple[object, ...], name: str) -> None:
    if value not in allowed:
        shown = listing([a for a in allowed if a is not None])
        raise InputError(f"{name}={short(repr(value))} is not one of {shown}.")


def _names(value: object, name: str) -> tuple[str, ...]:
    """A tuple of column names from a tuple, a list or ``"A,B"``."""
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        msg = f"{name}= must be column names (a list, or 'A,B'), got {short(repr(value))}."
        raise InputError(msg)
    if len(set(value)) != len(value):
        raise InputError(f"{name}= names a column twice ({listing(list(value))}); name each once.")
    return tuple(value)


def _direction(value: object, indicators: tuple[str, ...]) -> dict[str, str]:
    """Each indicator's direction (``+`` or ``-``), from a mapping or ``"a:+,b:-"``."""
    if isinstance(value, str):
        parts = [p.strip() for p in value.split(",") if p.strip()]
        value = {p.rsplit(":", 1)[0]: p.rsplit(":", 1)[1] if ":" in p else "" for p in parts}
    if not isinstance(value, Mapping):
        msg = f"direction= must map indicators to '+' or '-' ('a:+,b:-'), got {short(repr(value))}."
        raise InputError(msg)
    out = {str(k).strip(): str(v).strip() for k, v in value.items()}
    bad = {k: v for k, v in out.items() if v not in ("+", "-")}
    if bad:
        k, v = next(iter(bad.items()))
        msg = f"direction= gives {short(k)} {short(repr(v))}; write '{short(k)}:-' or ':+'."
        raise InputError(msg)
    unknown = [k for k in out if k not in indicators]
    if unknown:
        raise InputError(
            f"direction= names {listing(unknown)}, which are not among indicators= "
            f"({listing(list(indicators))})."
        )
    return out


def _dimensions(value: object) -> dict[str, tuple[str, ...]]:
    """Dimensions of an index: a mapping, ``"name=a,b;other=c"`` or its parts in a list."""
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        value = ";".join(value)
    if isinstance(value, str):
        parts = [p.split("=", 1) for p in value.split(";") if p.strip()]
        if not all(len(p) == 2 for p in parts):
            raise InputError(f"dimensions= reads 'name=a,b;other=c', got {short(repr(value))}.")
        value = {name.strip(): cols for name, cols in parts}
    if not isinstance(value, Mapping):
        msg = f"dimensions= maps names to indicators ('name=a,b;c=d'), not {short(repr(value))}."
        raise InputError(msg)
    return {str(k): _names(v, f"dimensions[{short(str(k))}]") for k, v in value.items()}


def _pairs(value: object) -> tuple[tuple[str, str], ...]:
    """Pairs of value columns, from pairs or ``"A:B"`` strings."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list | tuple):
        msg = f"bivariate must be pairs of value columns ('A:B'), got {short(repr(value))}."
        raise InputError(msg)
    out = []
    for item in items:
        pair = item.split(":") if isinstance(item, str) else item
        if (
            not isinstance(pair, list | tuple)
            or len(pair) != 2
            or not all(isinstance(p, str) and p.strip() for p in pair)
        ):
            msg = f"bivariate takes two value columns as 'A:B', got {short(repr(item))}."
            raise InputError(msg)
        a, b = (p.strip() for p in pair)
        if a == b:
            msg = f"bivariate pairs {short(a)!r} with itself; pair two different value columns."
            raise InputError(msg)
        out.append((a, b))
    return tuple(out)


def _texts(value: object, name: str) -> tuple[str, ...]:
    """A tuple of words from a tuple, a list or ``"a,b"``."""
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, list | tuple) or not all(isinstance(v, str) for v in items):
        raise InputError(f"{name}= must be words (a list, or 'a,b'), got {short(repr(value))}.")
    return tuple(v.strip() for v in items if v.strip())


def _labels(value: object) -> dict[str, str]:
    """Column labels from a mapping or ``["COL=TEXT", ...]``."""
    if isinstance(value, list | tuple):
        pairs = {}
        for item in value:
            col, sep, text = str(item).partition("=")
            if not sep or not col.strip() or not text.strip():
                raise InputError(f"labels take COLUMN=TEXT, got {short(repr(item))}.")
            pairs[col.strip()] = text.strip()
        value = pairs
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InputError(f"labels must map column names to text, got {short(repr(value))}.")
    return dict(value)
