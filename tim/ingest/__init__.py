"""Readers, one module per source family; :mod:`tim.build` is the one place that assembles them
into a territory.

======================  =============================================================
module                  reads
======================  =============================================================
``raster``              GeoTIFF and other GDAL rasters (DEM, DSM, land use, population)
``vector``              GeoPackage, GeoJSON, Shapefile, SpatiaLite, FlatGeobuf polygons
``cityjson``            CityJSON 0.x-2.0 buildings (LoD1/LoD2 surfaces) and TIN terrain
``osm``                 OpenStreetMap PBF buildings and land use (pyrosm)
``pointcloud``          LAS/LAZ point clouds (laspy), DTM/DSM and roof heights from them
``mesh``                OBJ, glTF/GLB, PLY meshes (trimesh) with a CRS and an offset
``catalog``             the YAML catalog of sources and roles
``crs``                 CRS parsing, the project CRS, vertical datums, extent checks
``layers``              standard columns per role (buildings' height rules, zoning, ...)
``report``              what was repaired, skipped or filled in, feature by feature
======================  =============================================================
"""
