"""Monitoring the plan as it is implemented (the second half of the "one map" system).

=================  ===================================================================
``observed``       dated observed maps on the TIM's grid; control lines (TIM or derived
                   stand-ins, labelled so)
``changes``        ``twin changes``: change patches between two maps, severity against the
                   control lines, farmland balance (占补平衡)
``assess``         ``twin assess``: the scenario indicator registry on observed years and
                   levels, trends, phased plan targets, warnings
``evaluation``     ``twin evaluate``: 双评价 grades 1-5, carrying capacity
``review``         ``twin review``: compliance of proposals with rules naming legal sources
``reports``        the four reports on the product's report machinery
                   (:mod:`scenarios.reporting`: typed report -> A4 HTML -> PDF), in every
                   language asked (catalogue ``locale/<lang>/LC_MESSAGES/monitoring.po``)
=================  ===================================================================

Every command writes a folder atomically with a ``manifest.json`` (``format``:
``territory-twin/changes|assessment|evaluation|review``) listing its files, so a dashboard
reads results without computing. The modules use the scenarios' indicator engine
(:mod:`scenarios.indicators`, :mod:`scenarios.areas`) and height analyses
(:mod:`scenarios.planning.heights`); nothing here is imported by them.
"""
