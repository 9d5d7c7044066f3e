"""Engine processes, by the name scenarios use for them."""

from engine.processes.land_use import LandUseChange, territory_model
from engine.processes.surge import StormSurge

PROCESSES = {"land_use_change": LandUseChange, "storm_surge": StormSurge}

__all__ = ["PROCESSES", "LandUseChange", "StormSurge", "territory_model"]
