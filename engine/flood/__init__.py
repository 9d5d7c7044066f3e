"""Coastal and pluvial flooding on the territory grid: forcing, domain, the two engines.

* :mod:`engine.flood.forcing` - hydrographs (sea level, inflow, rain) and the synthetic surge
  hydrograph built from a peak level;
* :mod:`engine.flood.domain` - the grid the water moves on: bed, friction, sea cells, obstacles
  and defence crests on cell faces;
* :mod:`engine.flood.inertial` - the local inertial shallow-water engine (its kernels are in
  :mod:`engine.kernels.inertial`); the connectivity bathtub is :mod:`engine.kernels.bathtub`.
"""
