"""Built-in land-use class tables.

``DEFAULT_CLASSES`` aggregates the first-level classes of China's national classification for
territorial survey, planning and use control (国土空间调查、规划、用途管制用地用海分类, 2023) into
the seven classes a land-use change model distinguishes. Codes keep the national first-level
numbers so maps read the same in both systems; construction classes 07-16 become one built-up
class (code 7) and sea classes 18-22 one sea class (code 18).
"""

from __future__ import annotations

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
