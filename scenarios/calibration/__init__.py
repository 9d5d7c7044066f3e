"""Calibration of the land-use model and what uses it, in one place.

Modules (each imports only those above it, so there is no import loop):

- :mod:`~scenarios.calibration.data`: land-use maps, drivers, constraint, conversion and
  demand tables read from rasters and CSV, checked onto one grid and study area;
- :mod:`~scenarios.calibration.store`: the fitted suitability model on disk (skops, checked
  against its sha256 before it is opened);
- :mod:`~scenarios.calibration.parameters`: ``parameters.yaml`` (format, reading) and the
  calibrated model applied to a territory (``twin run --calibration``);
- :mod:`~scenarios.calibration.calibrate`: ``twin calibrate`` (fit and validate);
- :mod:`~scenarios.calibration.report`: the report folder it writes;
- :mod:`~scenarios.calibration.forecast`: ``twin simulate`` (a calibrated model from rasters).
"""
