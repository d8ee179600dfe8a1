"""Plain problem and plan objects for courier routing.

A routing problem is a set of locations with distance and travel-time matrices, stops
placed at those locations, and vehicles that start and end at locations. Times are in
minutes on the caller's clock (the simulation uses minutes from scenario start; Solomon
instances use their own units), distances in km (or instance units).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass(frozen=True)
class Vehicle:
    """One courier vehicle available for a wave.

    ``start`` and ``end`` are location indices: a vehicle already en route starts at its
    current position (or its committed next stop) and ends at its depot.
    """

    id: str
    start: int
    end: int
    capacity: float
    shift_start_min: float
    shift_end_min: float
    cost_per_km_eur: float = 0.0
    cost_per_hour_eur: float = 0.0
    fixed_cost_eur: float = 0.0
    speed_factor: float = 1.0  # multiplies speed: 0.8 = 25% longer travel times for this vehicle
    initial_load: float = 0.0
    committed_stops: tuple[int, ...] = ()  # stop indices it must visit first, in this order


@dataclass(frozen=True)
class RoutingProblem:
    """A capacitated, multi-depot VRP with time windows and optional stops.

    Arrays indexed by stop have length ``n_stops``; ``drop_penalty`` is ``inf`` for a stop
    that must be served (the solver then reports it dropped only if no feasible plan exists).
    """

    distance_km: np.ndarray  # (n_locations, n_locations)
    travel_min: np.ndarray  # (n_locations, n_locations), already at the wave's time of day
    stop_location: np.ndarray  # (n_stops,) int location index of each stop
    demand: np.ndarray  # (n_stops,) units of vehicle capacity
    service_min: np.ndarray  # (n_stops,)
    tw_start_min: np.ndarray  # (n_stops,) earliest service start
    tw_end_min: np.ndarray  # (n_stops,) latest service start
    drop_penalty: np.ndarray  # (n_stops,) cost (eur or distance units) of leaving the stop out
    vehicles: tuple[Vehicle, ...]
    start_min: float = 0.0  # the earliest any vehicle may leave (the wave's time)
    stop_ids: tuple[str, ...] = field(default=())  # caller's ids, for messages and output

    @property
    def n_stops(self) -> int:
        return len(self.stop_location)


@dataclass(frozen=True)
class Route:
    """The visit order of one vehicle with its planned service start times."""

    vehicle_id: str
    stops: tuple[int, ...]  # stop indices in visit order
    arrival_min: tuple[float, ...]  # planned service start at each stop
    distance_km: float
    duration_min: float  # depart start location .. arrive end location
    cost_eur: float


@dataclass(frozen=True)
class RoutePlan:
    """A solver's answer: one route per used vehicle and the stops it left out."""

    routes: tuple[Route, ...]
    dropped: tuple[int, ...]
    solver: str
    solve_time_s: float = 0.0

    @property
    def distance_km(self) -> float:
        return float(sum(r.distance_km for r in self.routes))

    @property
    def cost_eur(self) -> float:
        return float(sum(r.cost_eur for r in self.routes))
