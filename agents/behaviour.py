"""How agents decide: pure, vectorised functions of attribute arrays (no Mesa, no grid).

* Households choose a planning unit by a multinomial logit (McFadden 1974) over units with free
  dwellings: utility = b_acc x accessibility + b_amen x amenities + b_flood x flood risk +
  b_price[income] x ln(price); each unit's weight is exp(utility) x vacant dwellings (the size
  term of aggregated alternatives, Ben-Akiva & Lerman 1985). Capacity is enforced as in
  UrbanSim's lottery choices (Waddell 2002): oversubscribed units take the applicants with the
  lowest random priority, the rest choose again among units still vacant.
* Developers evaluate a site with a pro forma (as in UrbanSim's developer model): the floor
  area zoning allows, its sales value, construction and land cost, and the margin; they build
  where the margin reaches their hurdle rate.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from engine.kernels.choice import draw_choices
from engine.kernels.random import uniform_ids

#: Random streams: choice rounds use CHOICE + round, priorities PRIORITY + round.
CHOICE, PRIORITY = 100, 200


@dataclass(frozen=True)
class ChoiceCoefficients:
    """Taste coefficients of the location choice; ``price`` has one entry per income group."""

    accessibility: float = 1.5
    amenities: float = 1.0
    flood_risk: float = -2.0
    price: tuple[float, ...] = (-1.5, -1.0, -0.5)


def unit_utilities(accessibility: np.ndarray, amenities: np.ndarray, flood_risk: np.ndarray,
                   price: np.ndarray, coefficients: ChoiceCoefficients) -> np.ndarray:
    """Systematic utility of each unit for each income group, shape (groups, units)."""
    base = (coefficients.accessibility * accessibility + coefficients.amenities * amenities
            + coefficients.flood_risk * flood_risk)
    log_price = np.log(price)
    return np.array([base + b * log_price for b in coefficients.price])


def choice_probabilities(utilities: np.ndarray, vacancies: np.ndarray) -> np.ndarray:
    """Logit probabilities (groups, units) with the vacancy size term; rows sum to 1, or to 0
    when no unit has a vacancy.

    Examples
    --------
    >>> p = choice_probabilities(np.array([[0.0, np.log(2.0)]]), np.array([3, 3]))
    >>> np.round(p, 4).tolist()   # utility ratio 1 : 2, equal vacancies
    [[0.3333, 0.6667]]
    """
    weights = np.exp(utilities - utilities.max(axis=1, keepdims=True)) * vacancies
    total = weights.sum(axis=1, keepdims=True)
    return np.divide(weights, total, out=np.zeros_like(weights), where=total > 0)


def assign_with_capacity(groups: np.ndarray, ids: np.ndarray, utilities: np.ndarray,
                         vacancies: np.ndarray, *, seed: int, step: int,
                         rounds: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """Assign choosers to units without exceeding vacancies.

    Returns the unit index per chooser (-1: no dwelling found) and the number of first-round
    applications per unit (the demand signal prices respond to).
    """
    vacant = np.asarray(vacancies, dtype=np.int64).copy()
    if (vacant < 0).any():
        raise ValueError("vacancies must be >= 0")
    assigned = np.full(groups.size, -1, dtype=np.int64)
    applications = np.zeros(vacant.size, dtype=np.int64)
    pending = np.arange(groups.size)
    for r in range(rounds):
        if pending.size == 0 or vacant.sum() == 0:
            break
        weights = np.exp(utilities - utilities.max(axis=1, keepdims=True)) * vacant
        choice = draw_choices(groups[pending], ids[pending], weights, seed=seed, step=step,
                              stream=CHOICE + r).astype(np.int64)
        if r == 0:
            applications = np.bincount(choice[choice >= 0], minlength=vacant.size)
        accepted = _within_capacity(choice, uniform_ids(ids[pending], seed, step, PRIORITY + r),
                                    vacant)
        assigned[pending[accepted]] = choice[accepted]
        vacant -= np.bincount(choice[accepted], minlength=vacant.size)
        pending = pending[~accepted & (choice >= 0)]
    return assigned, applications


def _within_capacity(choice: np.ndarray, priority: np.ndarray, vacant: np.ndarray) -> np.ndarray:
    """True for applicants ranked (by priority) within their unit's vacancies."""
    order = np.lexsort((priority, choice))
    ranked = choice[order]
    first = np.searchsorted(ranked, ranked, side="left")
    rank = np.empty(choice.size, dtype=np.int64)
    rank[order] = np.arange(choice.size) - first
    return (choice >= 0) & (rank < vacant[np.maximum(choice, 0)])


@dataclass(frozen=True)
class ProForma:
    """A site's development appraisal (arrays, one entry per site)."""

    floor_area: np.ndarray   # m2 gross floor area allowed and built
    storeys: np.ndarray
    revenue: np.ndarray
    cost: np.ndarray

    @property
    def margin(self) -> np.ndarray:
        """Profit on cost: revenue / cost - 1."""
        return np.divide(self.revenue, self.cost, out=np.full(self.cost.shape, -1.0),
                         where=self.cost > 0) - 1.0


def pro_forma(site_area: float, max_far: np.ndarray, max_height: np.ndarray,
              price_m2: np.ndarray, land_cost_m2: np.ndarray, *, coverage: float,
              storey_height: float, construction_cost_m2: float,
              high_rise_premium: float) -> ProForma:
    """Appraise building the most zoning allows on each site.

    Floor area = min(max_far x site area, storeys under the height cap x footprint), footprint =
    coverage x site area. Construction cost per m2 rises by ``high_rise_premium`` for every
    10 storeys above 6 (structure, lifts). Revenue = price x floor area.

    Examples
    --------
    >>> f = pro_forma(1000.0, np.array([2.0]), np.array([30.0]), np.array([8000.0]),
    ...               np.array([500.0]), coverage=0.4, storey_height=3.0,
    ...               construction_cost_m2=4000.0, high_rise_premium=0.1)
    >>> f.floor_area.tolist(), f.storeys.tolist()   # FAR 2 binds: 2000 m2 on a 400 m2 footprint
    ([2000.0], [5])
    >>> round(float(f.margin[0]), 4)   # 16.0 M / (8.0 M + 0.5 M) - 1
    0.8824
    """
    footprint = coverage * site_area
    max_storeys = np.floor(max_height / storey_height)
    floor_area = np.minimum(max_far * site_area, max_storeys * footprint)
    floor_area = np.where(floor_area > 0, floor_area, 0.0)
    storeys = np.ceil(floor_area / footprint - 1e-9).astype(np.int64)
    premium = 1.0 + high_rise_premium * np.maximum(0, storeys - 6) / 10.0
    cost = construction_cost_m2 * premium * floor_area + land_cost_m2 * site_area
    return ProForma(floor_area=floor_area, storeys=storeys, revenue=price_m2 * floor_area,
                    cost=cost)
