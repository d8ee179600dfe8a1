"""Small scenarios built in code, fast enough for property tests."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from sim.scenario import Scenario, scenario_from_dict

SMALL_TOWN: dict[str, Any] = {
    "name": "small_town",
    "start": "2026-11-01T00:00",
    "horizon_days": 2,
    "seed": 7,
    "network": {
        "warehouses": [{"id": "W", "lat": 32.00, "lon": 34.85, "pickers": 4}],
        "stores": [
            {"id": "S1", "lat": 32.07, "lon": 34.78, "walk_ins_per_day": 80, "lockers": 3},
            {"id": "S2", "lat": 32.10, "lon": 34.83, "walk_ins_per_day": 60},
        ],
    },
    "catalogue": {"n_skus": 120},
    "demand": {
        "online_orders_per_day": 160,
        "zones": [
            {"name": "A", "lat": 32.07, "lon": 34.79, "radius_km": 2, "weight": 2},
            {"name": "B", "lat": 32.10, "lon": 34.84, "radius_km": 2, "weight": 1},
        ],
    },
    "fleet": [
        {"depot": "W", "count": 3, "capacity_parcels": 40},
        {"depot": "S1", "vehicle_type": "cargo_bike", "count": 1, "capacity_parcels": 10},
    ],
}


def small_town(**changes: Any) -> Scenario:
    """The small-town scenario with dotted-path changes, e.g. ``{"policies.allocation": ...}``."""
    data = copy.deepcopy(SMALL_TOWN)
    for path, value in changes.items():
        node = data
        *parents, last = path.split(".")
        for p in parents:
            node = node.setdefault(p, {})
        node[last] = value
    return scenario_from_dict(data, "small_town")


@pytest.fixture
def small_town_scenario() -> Scenario:
    return small_town()
