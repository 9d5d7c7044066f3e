"""Coordinate reference systems of sources: parsing, the project CRS, vertical datums, extents.

Rules
-----
* **Parsing.** A CRS may be given as ``EPSG:xxxx``, a bare code, WKT, a PROJ string, an OGC URN
  (``urn:ogc:def:crs:EPSG::7415``, CityJSON 1.0) or an OGC URL
  (``https://www.opengis.net/def/crs/EPSG/0/7415``, CityJSON 1.1/2.0).
* **Project CRS.** The one given (``--crs`` or the catalog); else the horizontal part of the
  elevation source's CRS (or of the first source); when that is geographic, a local projected CRS
  chosen from the data's centre (:func:`local_projected_crs`).
* **Local projected CRS.** The CGCS2000 3-degree Gauss-Krueger zone (EPSG:4534-4554, central
  meridian = 3 x round(lon / 3)) when the centre lies inside that zone's EPSG area of use (which
  EPSG limits to China), else the WGS 84 UTM zone of the centre.
* **Vertical datum.** The vertical part of a compound CRS (e.g. "NAP height" from EPSG:7415);
  ``None`` when a source does not say. :func:`reconcile_datums` decides the territory's datum and
  the warnings to record: sources with different known datums, or known and unknown mixed, are
  never combined silently.
* **Extent.** Coordinates must fall inside the CRS's area of use (with a margin): data far from
  it almost always mean a wrong CRS or a mesh in local coordinates without its offset.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any, Iterable

import numpy as np

from tim.errors import CRSError

log = logging.getLogger(__name__)

#: EPSG codes of the CGCS2000 3-degree Gauss-Krueger "CM" CRSs (no zone prefix on eastings).
CGCS2000_GK_FIRST, CGCS2000_GK_LAST, CGCS2000_GK_FIRST_CM = 4534, 4554, 75
#: Margin (degrees) around a CRS's area of use within which data are still accepted.
EXTENT_MARGIN_DEG = 2.0


def parse_crs(value: Any, *, source: str | Path | None = None, field: str = "crs") -> Any:
    """A pyproj CRS from any of the accepted spellings; an unknown one is a :class:`CRSError`."""
    from pyproj import CRS

    if isinstance(value, CRS):
        return value
    try:
        return CRS.from_user_input(value)
    except Exception as exc:  # pyproj raises CRSError, but also TypeError for odd input
        raise CRSError(f"unknown CRS {value!r}: {exc}", source=source, field=field) from exc


def horizontal(crs: Any) -> Any:
    """The horizontal part of a compound CRS; the CRS itself otherwise (3D -> 2D)."""
    crs = parse_crs(crs)
    if crs.is_compound:
        crs = crs.sub_crs_list[0]
    if len(crs.axis_info) == 3 and (crs.is_geographic or crs.is_projected):
        crs = crs.to_2d()
    return crs


def vertical_datum(crs: Any) -> str | None:
    """Name of the vertical CRS of a compound CRS ("NAP height"), else None."""
    crs = parse_crs(crs)
    if crs.is_compound and len(crs.sub_crs_list) > 1:
        return crs.sub_crs_list[1].name
    if crs.is_vertical:
        return crs.name
    return None


def crs_label(crs: Any) -> str:
    """``AUTH:code`` when the CRS has one, else its WKT."""
    crs = parse_crs(crs)
    authority = crs.to_authority(min_confidence=90)
    return f"{authority[0]}:{authority[1]}" if authority else crs.to_wkt()


def lonlat_of_bounds(crs: Any, bounds: tuple[float, float, float, float]) -> tuple[float, ...]:
    """(west, south, east, north) in degrees of projected/geographic ``bounds``."""
    from pyproj import Transformer

    t = Transformer.from_crs(horizontal(crs), "EPSG:4326", always_xy=True)
    return tuple(float(v) for v in t.transform_bounds(*bounds))


def local_projected_crs(lon: float, lat: float) -> Any:
    """CGCS2000 3-degree Gauss-Krueger zone in China, WGS 84 / UTM elsewhere (module doc).

    Examples
    --------
    >>> local_projected_crs(117.1, 24.5).to_epsg()   # Xiamen: CGCS2000 GK CM 117E
    4548
    >>> local_projected_crs(114.3, 30.6).to_epsg()   # Wuhan: CM 114E
    4547
    >>> local_projected_crs(4.3, 52.1).to_epsg()     # Den Haag: UTM 31N
    32631
    >>> local_projected_crs(127.0, 37.5).to_epsg()   # Seoul: outside China's GK areas, UTM 52N
    32652
    """
    from pyproj import CRS
    from pyproj.aoi import AreaOfInterest
    from pyproj.database import query_utm_crs_info

    central = 3 * round(lon / 3)
    code = CGCS2000_GK_FIRST + (central - CGCS2000_GK_FIRST_CM) // 3
    if CGCS2000_GK_FIRST <= code <= CGCS2000_GK_LAST:
        gk = CRS.from_epsg(code)
        w, s, e, n = gk.area_of_use.bounds
        if w <= lon <= e and s <= lat <= n:
            return gk
    info = query_utm_crs_info(datum_name="WGS 84",
                              area_of_interest=AreaOfInterest(lon, lat, lon, lat))
    return CRS.from_epsg(int(info[0].code))


def choose_project_crs(given: str | None, candidates: list[tuple[Any, tuple]]) -> tuple[str, str]:
    """The project CRS (as ``EPSG:xxxx`` or WKT) and the rule that chose it.

    ``candidates`` are (CRS, bounds) of the sources, the preferred one (elevation) first.
    """
    if given is not None:
        chosen, rule = horizontal(parse_crs(given, field="--crs")), "given"
    else:
        chosen, rule = horizontal(candidates[0][0]), "from the first source"
    if chosen.is_geographic:
        boxes = [lonlat_of_bounds(c, b) for c, b in candidates]
        w, s = min(b[0] for b in boxes), min(b[1] for b in boxes)
        e, n = max(b[2] for b in boxes), max(b[3] for b in boxes)
        geographic = chosen.name
        chosen = local_projected_crs((w + e) / 2, (s + n) / 2)
        rule = f"local projected CRS for geographic input ({geographic})"
        log.info("geographic input: using %s", chosen.name)
    if not chosen.is_projected:
        raise CRSError(f"the project CRS must be projected (metres), not {chosen.name}",
                       field="crs")
    return crs_label(chosen), rule


def reconcile_datums(declared: str | None,
                     sources: Iterable[tuple[str, str | None]]) -> tuple[str, list[str]]:
    """The territory's vertical datum and the warnings to record.

    Parameters
    ----------
    declared : str or None
        The datum the catalog states. It wins; sources that say nothing are taken to be in it
        (the user said so: no warning), sources that say otherwise are warned about.
    sources : iterable of (source, datum or None)
        Every source that carries absolute heights.

    Without a declaration, one known datum is the territory's; sources without one beside it,
    sources with different datums, or several sources none of which says, are warnings:
    heights are combined as they are, never converted.

    Examples
    --------
    >>> reconcile_datums(None, [("a.json", "NAP height"), ("b.laz", None)])
    ('NAP height', ['b.laz: vertical datum unknown, assumed to be NAP height like a.json'])
    >>> reconcile_datums(None, [("a.tif", None)])
    ('unknown', [])
    >>> reconcile_datums("NAP height", [("a.tif", None)])
    ('NAP height', [])
    >>> reconcile_datums(None, [("a.tif", None), ("b.laz", None)])[1]
    ['vertical datums of a.tif, b.laz are unknown; their heights were combined as they are']
    """
    sources = list(sources)
    known = {datum: src for src, datum in sources if datum}
    if declared:
        return declared, [f"{src}: vertical datum {d} differs from the catalog's {declared}; "
                          "heights were not converted" for src, d in sources if d and
                          d != declared]
    if not known:
        if len(sources) > 1:
            return "unknown", ["vertical datums of " + ", ".join(src for src, _ in sources)
                               + " are unknown; their heights were combined as they are"]
        return "unknown", []
    datum = next(iter(known))
    warnings: list[str] = []
    if len(known) > 1:
        warnings.append("sources use different vertical datums (" + ", ".join(
            f"{src}: {d}" for d, src in known.items()) + f"); heights were not converted, the "
            f"territory records {datum}")
    reference = ", ".join(src for d, src in known.items() if d == datum)
    warnings += [f"{src}: vertical datum unknown, assumed to be {datum} like {reference}"
                 for src, d in sources if not d]
    return datum, warnings


def check_extent(crs: Any, x: np.ndarray, y: np.ndarray, *, source: str | Path,
                 labels: Any = None) -> None:
    """Refuse coordinates outside the CRS's area of use (plus a margin), naming the feature.

    ``labels(i)`` names the i-th coordinate's feature in the message.
    """
    from pyproj import Transformer

    crs = horizontal(crs)
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    if not len(x):
        return
    bad = ~(np.isfinite(x) & np.isfinite(y))
    if not bad.any() and crs.area_of_use is not None:
        with np.errstate(all="ignore"):
            lon, lat = Transformer.from_crs(crs, "EPSG:4326", always_xy=True).transform(x, y)
        w, s, e, n = crs.area_of_use.bounds
        m = EXTENT_MARGIN_DEG
        if e < w:  # the area of use crosses the antimeridian
            e += 360.0
            lon = np.where(lon < w - m, lon + 360.0, lon)
        bad = ~(np.isfinite(lon) & np.isfinite(lat) & (lon >= w - m) & (lon <= e + m)
                & (lat >= s - m) & (lat <= n + m))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        where = labels(i) if labels is not None else f"coordinate {i}"
        area = crs.area_of_use.name if crs.area_of_use is not None else "its valid range"
        raise CRSError(f"{int(bad.sum())} coordinate(s) lie far outside the area of use of "
                       f"{crs.name} ({area}), first {where} at ({x[i]:.3f}, {y[i]:.3f})",
                       source=source, field="crs",
                       hint="check the CRS, or give the offset of data in local coordinates")
