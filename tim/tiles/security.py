"""Security levels of 3D tiles: each tileset, overlay and content takes the most restrictive
level of the TIM items (fields, layers, point clouds, meshes) it is made from.

The levels are those of the TIM manifest (:data:`tim.store.LEVELS`, :func:`tim.store.
security_levels`). A tileset records its level and its sources in ``asset.extras.security``
(``{"level": ..., "sources": [...]}``), every content its level in ``content.extras.security``,
the root tileset the level of each part, and ``overlays/index.json`` the level of each overlay;
the dashboard serves a file of the tiles folder only to a user cleared for it
(:meth:`viz.overlays.TilesFolder.level_of`).

What a part is made from (what its geometry or its properties show):

* ``buildings``: the buildings layer, the ground they stand on (``terrain__elevation``, their
  base heights), the planning units and zoning whose ids each building carries, and the
  city-model surfaces (``building_surfaces``) of LoD2 roofs;
* ``terrain``: ``terrain__elevation`` and, draped, the land use and the ecological red line it
  paints;
* ``points``: the point cloud; ``meshes/<name>``: the mesh;
* a run's overlays (``twin publish``): every field and layer of the TIM the run was made from
  (a simulation reads the constraints, the zoning and the drivers; see :func:`run_level`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from tim.model import Territory
from tim.store import DEFAULT_LEVEL, LEVELS, security_levels

#: Fields and layers a draped terrain paints (tim.tiles.terrain.drape_colours).
DRAPE_SOURCES = ("land_use__class", "control__ecological_red_line")
#: Layers whose values the buildings' batch tables carry (tim.tiles.buildings.BATCH_PROPERTIES).
BUILDING_ATTRIBUTE_SOURCES = ("planning_units", "zoning")


def most_restrictive(levels: Iterable[Any]) -> str:
    """The highest of ``levels`` (an unknown level counts as ``restricted``; none at all gives
    the default, ``internal``).

    Examples
    --------
    >>> most_restrictive(["public", "internal"]), most_restrictive(["public", "secret"])
    ('internal', 'restricted')
    >>> most_restrictive([]), most_restrictive(["public"])
    ('internal', 'public')
    """
    ranks = [LEVELS.index(v) if v in LEVELS else len(LEVELS) - 1 for v in levels]
    return LEVELS[max(ranks)] if ranks else DEFAULT_LEVEL


def part_sources(territory: Territory, part: str, *, lod: str = "auto",
                 drape: bool = False) -> tuple[str, ...]:
    """The TIM items the tileset ``part`` (``buildings``, ``terrain``, ``points``,
    ``meshes/<name>``) of ``territory`` is made from (see the module)."""
    have = {*territory.fields, *territory.layers, *territory.point_clouds, *territory.meshes}
    if part == "buildings":
        wanted = ["buildings", "terrain__elevation", *BUILDING_ATTRIBUTE_SOURCES]
        if lod == "auto":
            wanted.append("building_surfaces")
    elif part == "terrain":
        wanted = ["terrain__elevation", *(DRAPE_SOURCES if drape else ())]
    elif part == "points":
        wanted = sorted(territory.point_clouds)[:1]  # the one cloud tim.tiles writes
    elif part.startswith("meshes/"):
        wanted = [part.split("/", 1)[1]]
    else:
        raise ValueError(f"unknown tileset part {part!r}")
    return tuple(name for name in wanted if name in have)


def sources_level(territory: Territory, sources: Iterable[str]) -> str:
    """The most restrictive level the TIM manifest gives ``sources``."""
    levels = security_levels(territory)
    return most_restrictive(levels.get(name, {}).get("level", DEFAULT_LEVEL)
                            for name in sources)


def part_security(territory: Territory, part: str, *, lod: str = "auto",
                  drape: bool = False) -> dict[str, Any]:
    """``{"level": ..., "sources": [...]}`` of a part, as its tileset records it."""
    sources = part_sources(territory, part, lod=lod, drape=drape)
    return {"level": sources_level(territory, sources), "sources": list(sources)}


def territory_level(territory: Territory) -> str:
    """The most restrictive level of a territory's fields and layers: that of anything a
    simulation on it produces."""
    return sources_level(territory, [*territory.fields, *territory.layers])


def manifest_level(manifest: Mapping[str, Any]) -> str:
    """:func:`territory_level` from a TIM manifest (its ``security`` map; a manifest without
    one predates classification: ``internal``, the default level)."""
    security = manifest.get("security")
    if not isinstance(security, Mapping):
        return DEFAULT_LEVEL
    names = {*manifest.get("fields", {}), *manifest.get("layers", {})}
    return most_restrictive((security.get(n) or {}).get("level", DEFAULT_LEVEL)
                            if isinstance(security.get(n), Mapping) else "restricted"
                            for n in names)


def run_level(run_manifest: Mapping[str, Any]) -> str:
    """The level of a run's products: :func:`manifest_level` of the TIM it was made from
    (its manifest's ``tim.path``); ``restricted`` when that TIM cannot be read (refuse when in
    doubt)."""
    path = (run_manifest.get("tim") or {}).get("path")
    try:
        manifest = json.loads((Path(path) / "manifest.json").read_text())
    except (TypeError, OSError, ValueError):
        return "restricted"
    return manifest_level(manifest) if isinstance(manifest, dict) else "restricted"


def stamp_tileset(tileset: dict[str, Any], security: Mapping[str, Any]) -> dict[str, Any]:
    """``tileset`` with ``security`` (``{"level", "sources"}``) in ``asset.extras`` and its
    level in every content's ``extras`` (changed in place and returned)."""
    tileset.setdefault("asset", {}).setdefault("extras", {})["security"] = dict(security)
    stack = [tileset["root"]]
    while stack:
        tile = stack.pop()
        if "content" in tile:
            tile["content"].setdefault("extras", {})["security"] = security["level"]
        stack.extend(tile.get("children", []))
    return tileset
