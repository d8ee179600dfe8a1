"""The physical network at run time: nodes (warehouses, stores) with their pickers,
collection desks and lockers, their opening hours and outages, and distances to them.

Node indices run over warehouses first, then stores, in scenario order.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import numpy as np
import simpy

from optimizer.travel import haversine_pair_km, road_distance_km
from sim.scenario import Scenario, Store

DAY_MIN = 1440.0


@dataclass(frozen=True)
class Window:
    """A closed-open interval of simulation minutes."""

    start_min: float
    end_min: float

    def covers(self, t: float) -> bool:
        return self.start_min <= t < self.end_min


class Network:
    """Static node data as arrays, and the SimPy resources of each node."""

    def __init__(self, scenario: Scenario, env: simpy.Environment) -> None:
        nodes = scenario.network.nodes
        self.scenario = scenario
        self.ids = [n.id for n in nodes]
        self.index = {n.id: i for i, n in enumerate(nodes)}
        self.lat = np.array([n.lat for n in nodes])
        self.lon = np.array([n.lon for n in nodes])
        self.is_store = np.array([isinstance(n, Store) for n in nodes])
        self.warehouses = np.flatnonzero(~self.is_store)
        self.stores = np.flatnonzero(self.is_store)
        self.open_hour = np.array([n.open_hour for n in nodes])
        self.close_hour = np.array([n.close_hour for n in nodes])
        self.pick_min_per_line = np.array([60.0 / n.pick_rate_lines_per_hour for n in nodes])
        costs = scenario.costs
        self.pick_cost_per_line_eur = np.where(
            self.is_store, costs.pick_per_line_store_eur, costs.pick_per_line_warehouse_eur
        )
        self.pickers = [simpy.Resource(env, capacity=max(n.pickers, 1)) for n in nodes]
        self.can_pick = np.array([n.pickers > 0 for n in nodes])
        self.desks = {
            i: simpy.Resource(env, capacity=n.desk_staff)
            for i, n in enumerate(nodes)
            if isinstance(n, Store) and n.desk_staff > 0
        }
        self.desk_service_min = np.array([getattr(n, "desk_service_min", 0.0) for n in nodes])
        self.lockers_free = np.array([getattr(n, "lockers", 0) for n in nodes])
        self.distance_km = road_distance_km(self.lat, self.lon, scenario.travel.circuity)
        self.outages: dict[int, list[Window]] = {}
        for d in scenario.disruptions:
            if d.kind == "node_outage" and d.target is not None:
                self.outages.setdefault(self.index[d.target], []).append(
                    Window(
                        minutes_from_start(scenario, d.start), minutes_from_start(scenario, d.end)
                    )
                )

    def distance_to(self, lat: float, lon: float) -> np.ndarray:
        """Road km from every node to a point."""
        return haversine_pair_km(lat, lon, self.lat, self.lon) * self.scenario.travel.circuity

    def nearest_store(self, lat: float, lon: float) -> int:
        if not len(self.stores):
            return -1
        return int(self.stores[np.argmin(self.distance_to(lat, lon)[self.stores])])

    def in_outage(self, node: int, t: float) -> bool:
        return any(w.covers(t) for w in self.outages.get(node, ()))

    def up(self, t: float) -> np.ndarray:
        """Per node: not in an outage at time t."""
        up = np.ones(len(self.ids), dtype=bool)
        for node in self.outages:
            up[node] = not self.in_outage(node, t)
        return up

    def next_open(self, node: int, t: float) -> float:
        """The earliest time ≥ t at which the node is open and not in an outage."""
        for _ in range(400):  # bounded: outages are finite, hours repeat daily
            day = np.floor(t / DAY_MIN)
            open_t = day * DAY_MIN + self.open_hour[node] * 60
            close_t = day * DAY_MIN + self.close_hour[node] * 60
            if t < open_t:
                t = open_t
            elif t >= close_t:
                t = open_t + DAY_MIN
            window = next((w for w in self.outages.get(node, ()) if w.covers(t)), None)
            if window is None:
                return float(t)
            t = window.end_min
        raise AssertionError(f"node {self.ids[node]} never opens")

    def is_open(self, node: int, t: float) -> bool:
        return self.next_open(node, t) == t


def minutes_from_start(scenario: Scenario, when: datetime) -> float:
    """Simulation minutes of a calendar time."""
    return (when - scenario.start).total_seconds() / 60.0
