"""Planners' analyses over a territory: pure functions of arrays, grids and typed rules.

One module per family: :mod:`~engine.analysis.viewshed` (what observers see),
:mod:`~engine.analysis.sightlines` (viewpoint to targets over a raster surface),
:mod:`~engine.analysis.corridors` (protected view corridors and their height envelope) and
:mod:`~engine.analysis.heights` (height limits, maximum allowable height, violations).
"""
