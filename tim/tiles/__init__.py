"""3D Tiles writers for a territory: the tiling policy is ours, py3dtiles serialises.

``write_tiles(territory, out_dir)`` writes the buildings as 3D Tiles 1.0 (LoD1 b3dm) under a
root tileset; see :mod:`tim.tiles.tileset` for the layout and the policy, :mod:`tim.tiles.georef`
for the local frame, heights and the glTF Y-up convention, :mod:`tim.tiles.buildings` for the
meshes.
"""

from tim.tiles.tileset import TilesetSummary, write_tiles

__all__ = ["TilesetSummary", "write_tiles"]
