"""3D Tiles writers for a territory: the tiling policy and the mesh content are ours;
py3dtiles converts point clouds.

``write_tiles(territory, out_dir)`` writes whatever the territory has - buildings (LoD1 extruded
or LoD2 from a city model), terrain, point clouds, meshes - as 3D Tiles 1.0 (or 1.1 with
``version="1.1"``: :mod:`tim.tiles.glb`, :mod:`tim.tiles.implicit`) under one root tileset, each
part recording its security level (:mod:`tim.tiles.security`); see :mod:`tim.tiles.tileset` for the layout and the policy, :mod:`tim.tiles.georef` for
the local frame, heights and the glTF Y-up convention, :mod:`tim.tiles.buildings`,
:mod:`tim.tiles.lod2`, :mod:`tim.tiles.terrain`, :mod:`tim.tiles.points` and
:mod:`tim.tiles.meshes` for each part, and :mod:`tim.tiles.overlay` for scenario results
published without re-tiling.
"""

from tim.tiles.tileset import PartSummary, TilesetSummary, available_parts, write_tiles

__all__ = ["PartSummary", "TilesetSummary", "available_parts", "write_tiles"]
