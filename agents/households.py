"""All households of a territory as attribute arrays held by one Mesa agent.

One Python object per household would cost about a kilobyte and a microsecond each; a million
households are instead columns (id, size, income group, unit, waiting unit) that every decision
updates at once. Draws that belong to a household (does it move?) are counter-based on its
stable id; draws of the population as a whole (how many arrive?) come from the model's seeded
generator, as Mesa intends.
"""

from __future__ import annotations

from dataclasses import dataclass

import mesa
import numpy as np

from engine.kernels.random import uniform_ids

#: Random streams of household decisions (see engine.kernels.random).
MOVE, LEAVE, EMIGRATE = 10, 11, 12


@dataclass(frozen=True)
class Demography:
    """Who the households are: shares of sizes 1..k persons and of income groups (low->high)."""

    size_shares: tuple[float, ...] = (0.18, 0.30, 0.26, 0.16, 0.10)
    income_shares: tuple[float, ...] = (0.30, 0.50, 0.20)

    @property
    def mean_size(self) -> float:
        return float(np.dot(np.arange(1, len(self.size_shares) + 1), self.size_shares))


class Households(mesa.Agent):
    """The households: ``id``, ``size`` (persons), ``income`` (group index), ``unit`` (index of
    the planning unit they live in, -1 while they look for a dwelling) and ``waiting`` (the
    unit a household without a dwelling stays in meanwhile, e.g. with relatives)."""

    def __init__(self, model: mesa.Model, units_of_households: np.ndarray,
                 demography: Demography):
        super().__init__(model)
        self.demography = demography
        n = units_of_households.size
        self.id = np.arange(n, dtype=np.int64)
        self.size, self.income = self._draw_attributes(n)
        self.unit = units_of_households.astype(np.int64)
        self.waiting = self.unit.copy()
        self.next_id = n

    def _draw_attributes(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        rng: np.random.Generator = self.model.rng
        sizes = rng.choice(np.arange(1, len(self.demography.size_shares) + 1), size=n,
                           p=self.demography.size_shares).astype(np.int8)
        income = rng.choice(len(self.demography.income_shares), size=n,
                            p=self.demography.income_shares).astype(np.int8)
        return sizes, income

    def __len__(self) -> int:
        return self.id.size

    def arrive(self, count: int, units: np.ndarray) -> None:
        """``count`` new households (births of households, in-migration) start looking for a
        dwelling; meanwhile they stay in units drawn in proportion to the population."""
        if count <= 0:
            return
        size, income = self._draw_attributes(count)
        rng: np.random.Generator = self.model.rng
        waiting = units[rng.integers(0, units.size, count)] if units.size else \
            np.full(count, -1)
        self.id = np.concatenate([self.id, np.arange(self.next_id, self.next_id + count)])
        self.size = np.concatenate([self.size, size])
        self.income = np.concatenate([self.income, income])
        self.unit = np.concatenate([self.unit, np.full(count, -1, dtype=np.int64)])
        self.waiting = np.concatenate([self.waiting, waiting.astype(np.int64)])
        self.next_id += count

    def leave(self, share: float, year: int, stream: int = LEAVE) -> int:
        """Each household leaves the territory with probability ``share``; returns how many."""
        if share <= 0:
            return 0
        stay = uniform_ids(self.id, self.model.seed_value, year, stream) >= share
        gone = int((~stay).sum())
        for column in ("id", "size", "income", "unit", "waiting"):
            setattr(self, column, getattr(self, column)[stay])
        return gone

    def start_moving(self, mobility: float, year: int) -> np.ndarray:
        """Households that decide to move this year vacate their dwelling; returns their mask."""
        movers = (self.unit >= 0) & (uniform_ids(self.id, self.model.seed_value, year, MOVE)
                                     < mobility)
        self.waiting[movers] = self.unit[movers]
        self.unit[movers] = -1
        return movers

    def occupied(self, n_units: int) -> np.ndarray:
        """Dwellings occupied per unit."""
        housed = self.unit[self.unit >= 0]
        return np.bincount(housed, minlength=n_units)

    def persons_by_unit(self, n_units: int) -> np.ndarray:
        """Residents per unit, those waiting for a dwelling counted where they wait."""
        home = np.where(self.unit >= 0, self.unit, self.waiting)
        known = home >= 0
        return np.bincount(home[known], weights=self.size[known].astype(np.float64),
                           minlength=n_units)

    @property
    def unhoused(self) -> int:
        return int((self.unit < 0).sum())
