"""Built-in land-use class tables and the mappings from source classifications onto them.

``DEFAULT_CLASSES`` aggregates the first-level classes of China's national classification for
territorial survey, planning and use control (国土空间调查、规划、用途管制用地用海分类, 2023) into
the seven classes a land-use change model distinguishes. Codes keep the national first-level
numbers so maps read the same in both systems; construction classes 07-16 become one built-up
class (code 7) and sea classes 18-22 one sea class (code 18). A catalog may give its own table
(``classes:``); the mappings below then land on the codes that table has.

Mappings onto a class table (:func:`class_mapper`):

* **national codes** (``classification: national`` on a land-use source): a first-level code
  (``"07"``, 7) or any finer code whose first two digits are the first level (``"0701"``,
  ``"070101"``) maps to that first-level code when the territory's table has it, else through
  :data:`NATIONAL_TO_DEFAULT` (the aggregation of ``DEFAULT_CLASSES``);
* **OSM tags** (OpenStreetMap sources): ``key=value`` pairs in :data:`OSM_TAGS` map to a national
  first-level code, then as above;
* **a user YAML mapping** (``class_map`` on a source) maps source values (``key=value`` for OSM,
  the column's values otherwise) straight to class codes of the territory's table; its entries
  replace the built-in ones, and a value mapped to ``null`` is dropped on purpose.

Values no mapping knows are not guessed: the reader skips those features and counts them in the
build report.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Mapping

from tim.errors import InputError
from tim.model import ClassTable, LandUseClass

DEFAULT_CLASSES = ClassTable((
    LandUseClass(1, "Cropland 耕地", "#f2d16b", "farmland", True),
    LandUseClass(3, "Forest 林地", "#2e7d32", "ecological", True),
    LandUseClass(4, "Grassland 草地", "#a5d66f", "ecological", True),
    LandUseClass(5, "Wetland 湿地", "#5fb3a1", "ecological", False),
    LandUseClass(7, "Built-up 建设用地 (07-16)", "#d64541", "built", False),
    LandUseClass(17, "Inland water 陆地水域", "#4f8fd6", "water", False),
    LandUseClass(18, "Sea 海洋 (18-22)", "#1f4e8c", "sea", False),
))

#: The 24 first-level classes of the 2023 national classification: code -> (Chinese, English).
NATIONAL_FIRST_LEVEL: dict[int, tuple[str, str]] = {
    1: ("耕地", "Cropland"), 2: ("园地", "Garden land"), 3: ("林地", "Forest land"),
    4: ("草地", "Grassland"), 5: ("湿地", "Wetland"),
    6: ("农业设施建设用地", "Agricultural facility land"), 7: ("居住用地", "Residential"),
    8: ("公共管理与公共服务用地", "Public administration and services"),
    9: ("商业服务业用地", "Commercial and business services"), 10: ("工矿用地", "Industrial and mining"),
    11: ("仓储用地", "Storage"), 12: ("交通运输用地", "Transport"), 13: ("公用设施用地", "Public utilities"),
    14: ("绿地与开敞空间用地", "Green and open space"), 15: ("特殊用地", "Special use"),
    16: ("留白用地", "Reserved land"), 17: ("陆地水域", "Inland water"), 18: ("渔业用海", "Fishery sea"),
    19: ("工矿通信用海", "Industrial, mining and communication sea"),
    20: ("交通运输用海", "Transport sea"), 21: ("游憩用海", "Recreational sea"),
    22: ("特殊用海", "Special-use sea"), 23: ("其他土地", "Other land"), 24: ("其他海域", "Other sea"),
}

#: National first-level code -> code in DEFAULT_CLASSES, with the reason where it is a choice.
NATIONAL_TO_DEFAULT: dict[int, int] = {
    1: 1, 3: 3, 4: 4, 5: 5, 17: 17,
    2: 1,    # garden land (orchards, tea) is agricultural land: farmland
    6: 1,    # agricultural facility land counts as agricultural land (设施农用地), not construction
    **{c: 7 for c in range(7, 17)},   # construction land 07-16 -> built-up
    **{c: 18 for c in range(18, 23)},  # sea uses 18-22 -> sea
    23: 4,   # other land (bare, sandy, saline): no unused class in the table; nearest cover
    24: 18,  # other sea -> sea
}

#: OSM ``key=value`` -> national first-level code. Polygons only; the first matching key in
#: :data:`OSM_KEYS` order decides (``natural=water`` wins over ``landuse=...`` on one feature).
OSM_TAGS: dict[str, int] = {
    # water and wetland
    "natural=water": 17, "water=river": 17, "water=lake": 17, "water=canal": 17,
    "water=pond": 17, "water=reservoir": 17, "waterway=riverbank": 17, "landuse=reservoir": 17,
    "landuse=basin": 17, "natural=wetland": 5, "natural=bay": 24, "place=sea": 24,
    # vegetation
    "landuse=forest": 3, "natural=wood": 3, "natural=scrub": 3, "landuse=orchard": 2,
    "landuse=vineyard": 2, "landuse=plant_nursery": 2, "landuse=meadow": 4,
    "landuse=grass": 4, "natural=grassland": 4, "natural=heath": 4,
    "natural=sand": 23, "natural=beach": 23, "natural=bare_rock": 23, "natural=scree": 23,
    "natural=shingle": 23,
    # agriculture
    "landuse=farmland": 1, "landuse=allotments": 1, "landuse=farmyard": 6,
    "landuse=greenhouse_horticulture": 6, "landuse=aquaculture": 6,
    # construction land
    "landuse=residential": 7, "landuse=education": 8, "landuse=institutional": 8,
    "amenity=school": 8, "amenity=university": 8, "amenity=hospital": 8,
    "landuse=commercial": 9, "landuse=retail": 9, "landuse=industrial": 10,
    "landuse=quarry": 10, "landuse=landfill": 13, "landuse=railway": 12,
    "amenity=parking": 12, "aeroway=aerodrome": 12, "landuse=port": 12,
    "landuse=military": 15, "landuse=religious": 15, "landuse=cemetery": 15,
    "amenity=grave_yard": 15, "landuse=recreation_ground": 14, "landuse=village_green": 14,
    "leisure=park": 14, "leisure=garden": 14, "leisure=pitch": 14, "leisure=playground": 14,
    "leisure=sports_centre": 8, "landuse=brownfield": 16, "landuse=greenfield": 16,
    "landuse=construction": 16,
}
#: OSM keys looked at for land use, in priority order.
OSM_KEYS = ("natural", "water", "waterway", "place", "leisure", "amenity", "aeroway", "landuse")


def national_first_level(value: Any) -> int | None:
    """The first-level class of a national code (2, 4 or 6 digits; int or str); None if none.

    Examples
    --------
    >>> national_first_level("0103"), national_first_level(7), national_first_level("1202")
    (1, 7, 12)
    >>> national_first_level("99") is None
    True
    """
    text = str(value).strip()
    if text.isdigit() and len(text) in (1, 3, 5):  # leading zero lost in a numeric column
        text = "0" + text
    if not text.isdigit() or len(text) not in (2, 4, 6):
        return None
    code = int(text[:2])
    return code if code in NATIONAL_FIRST_LEVEL else None


def load_class_map(source: str | Path | Mapping[str, Any] | None,
                   base: Path | None = None) -> dict[str, int | None]:
    """A user mapping ``{source value: class code or null}`` from a YAML file or a mapping.

    The YAML holds either the mapping itself or ``{map: {...}}``. Keys are compared as strings.
    """
    from tim.config import read_yaml

    if source is None:
        return {}
    where: str | Path = "class_map"
    if not isinstance(source, Mapping):
        path = Path(source) if base is None else base / source
        where = path
        source = read_yaml(path, "class mapping file")
    if isinstance(source, Mapping) and set(source) == {"map"}:
        source = source["map"]
    if not isinstance(source, Mapping):
        raise InputError("a class mapping must map source values to class codes", source=where)
    out: dict[str, int | None] = {}
    for key, code in source.items():
        if code is not None and (not isinstance(code, int) or not 0 <= code <= 254):
            raise InputError("class codes must be integers 0..254 (or null to drop)",
                             source=where, field=str(key), value=code)
        out[str(key)] = code
    return out


def class_mapper(classes: ClassTable, scheme: str,
                 user: Mapping[str, int | None] | None = None) -> Callable[[Any], int | None]:
    """A function from a source value to a class code of ``classes`` (None: unmapped).

    Parameters
    ----------
    classes : ClassTable
        The territory's table; national codes go through :data:`NATIONAL_TO_DEFAULT` when it has
        no code for the first-level class itself.
    scheme : {"codes", "national", "osm"}
        What the source values are: class codes already, national codes, or OSM ``key=value``.
    user : mapping, optional
        Entries that replace the built-in ones (:func:`load_class_map`).

    Examples
    --------
    >>> to_class = class_mapper(DEFAULT_CLASSES, "osm", {"landuse=construction": None})
    >>> to_class("landuse=residential"), to_class("natural=water"), to_class("landuse=meadow")
    (7, 17, 4)
    >>> to_class("landuse=construction") is None, to_class("landuse=unknown") is None
    (True, True)
    >>> class_mapper(DEFAULT_CLASSES, "national")("0903")  # commercial -> built-up
    7
    """
    codes = set(classes.codes.tolist())
    user = dict(user or {})
    for key, code in user.items():
        if code is not None and code not in codes:
            raise InputError(f"class code {code} is not in the class table {sorted(codes)}",
                             field=f"class_map.{key}", value=code)

    def via_national(first: int | None) -> int | None:
        if first is None:
            return None
        if first in codes:
            return first
        target = NATIONAL_TO_DEFAULT.get(first)
        return target if target in codes else None

    def mapped(value: Any) -> int | None:
        key = str(value)
        if key in user:
            return user[key]
        if scheme == "osm":
            return via_national(OSM_TAGS.get(key))
        if scheme == "national":
            return via_national(national_first_level(value))
        try:
            code = int(value)
        except (TypeError, ValueError):
            return None
        return code if code in codes else None

    if scheme not in ("codes", "national", "osm"):
        raise InputError("classification must be codes, national or osm", field="classification",
                         value=scheme)
    return mapped


#: Control lines (三区三线) by the ``kind`` the TIM's ``control_lines`` layer uses:
#: kind -> (Chinese, English) national names.
CONTROL_LINES: dict[str, tuple[str, str]] = {
    "ecological_red_line": ("生态保护红线", "Ecological protection red line"),
    "permanent_basic_farmland": ("永久基本农田", "Permanent basic farmland"),
    "urban_development_boundary": ("城镇开发边界", "Urban development boundary"),
}


def localized(name: str, lang: str) -> str:
    """One language of a bilingual class name such as ``"Built-up 建设用地 (07-16)"``.

    ``lang`` starting with ``zh`` keeps the Chinese words, any other the English ones; a
    code range in brackets is kept. A name in one language only is returned as it is.

    Examples
    --------
    >>> localized("Built-up 建设用地 (07-16)", "zh_CN"), localized("Cropland 耕地", "en")
    ('建设用地 (07-16)', 'Cropland')
    >>> localized("Residential", "zh_CN")
    'Residential'
    """
    import re

    match = re.fullmatch(r"\s*([^\u3400-\u9fff]*?)\s*([\u3400-\u9fff][^()（]*?)\s*"
                         r"(\([^)]*\))?\s*", name)
    if not match or not match.group(1):
        return name
    english, chinese, codes = match.group(1), match.group(2), match.group(3)
    words = chinese if lang.startswith("zh") else english
    return f"{words} {codes}" if codes else words
