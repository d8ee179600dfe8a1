"""Baseline routing: problem validation, route scheduling and a regret-2 insertion heuristic.

This module owns three things every solver in the package shares:

* ``validate_problem``: the checks that turn a malformed ``RoutingProblem`` into one clear
  ``ProblemError`` (wrong shapes, negative or NaN values, bad vehicle or committed stops);
* ``schedule_route``: the exact (double precision) schedule of one vehicle's visit order,
  which is how every solver turns a visit order into a ``Route`` with times, km and cost;
* ``solve_baseline``: parallel regret-2 cheapest insertion with time-window, capacity and
  shift-end checks. It is the reference the value of optimisation is measured against.

Conventions shared with ``optimizer.routing`` and ``optimizer.feasibility``:

* a vehicle's travel time on an arc is ``travel_min / speed_factor``;
* it leaves no earlier than ``max(shift_start_min, problem.start_min)`` and, to avoid
  paying for idle time, as late as it can without arriving anywhere later;
* its load is ``initial_load`` plus the demand of every stop on its route, at most
  ``capacity`` (deliveries: everything is on board when it leaves);
* a vehicle with neither a per-km nor a per-hour cost is steered by distance (one cost unit
  per km) so that a cost-free fleet still gets sensible routes; ``Route.cost_eur`` always
  reports the contract's cost, never that steering weight.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass

import numpy as np

from optimizer.errors import ProblemError
from optimizer.problems import Route, RoutePlan, RoutingProblem, Vehicle

# Slack for float comparisons of times and loads: matrices are doubles built from sums.
TIME_EPS_MIN = 1e-6


@dataclass(frozen=True)
class CostWeights:
    """The per-km, per-minute and fixed weights a solver steers a vehicle by."""

    per_km: float
    per_min: float
    fixed: float


def steering_weights(vehicle: Vehicle) -> CostWeights:
    """Objective weights for a vehicle: its own costs, or distance if it has no running cost."""
    per_km = vehicle.cost_per_km_eur
    per_min = vehicle.cost_per_hour_eur / 60.0
    if per_km == 0.0 and per_min == 0.0:
        per_km = 1.0
    return CostWeights(per_km=per_km, per_min=per_min, fixed=vehicle.fixed_cost_eur)


def departure_min(problem: RoutingProblem, vehicle: Vehicle) -> float:
    """The earliest time the vehicle may leave its start location."""
    return max(vehicle.shift_start_min, problem.start_min)


def _stop_name(problem: RoutingProblem, stop: int) -> str:
    if problem.stop_ids:
        return f"stop {stop} ({problem.stop_ids[stop]!r})"
    return f"stop {stop}"


def _check_array(name: str, values: np.ndarray, length: int, allow_inf: bool) -> None:
    if values.shape != (length,):
        raise ProblemError(f"{name} has shape {values.shape}; expected ({length},), one per stop")
    if np.isnan(values).any():
        raise ProblemError(
            f"{name} contains NaN at stop {int(np.flatnonzero(np.isnan(values))[0])}"
        )
    if not allow_inf and np.isinf(values).any():
        raise ProblemError(
            f"{name} must be finite (stop {int(np.flatnonzero(np.isinf(values))[0])})"
        )


def validate_problem(problem: RoutingProblem) -> None:
    """Raise ``ProblemError`` naming the field and the fix if the problem is malformed.

    Checks shapes, value ranges, vehicle fields and that every vehicle can serve its
    committed stops in order within their windows, its capacity and its shift; an
    infeasible commitment is the caller's to fix (release the stop or widen its window).
    """
    dist = np.asarray(problem.distance_km, dtype=float)
    trav = np.asarray(problem.travel_min, dtype=float)
    if dist.ndim != 2 or dist.shape[0] != dist.shape[1]:
        raise ProblemError(f"distance_km must be a square matrix, got shape {dist.shape}")
    if trav.shape != dist.shape:
        raise ProblemError(
            f"travel_min has shape {trav.shape} but distance_km has {dist.shape}; give both "
            "matrices over the same locations"
        )
    for name, mat in (("distance_km", dist), ("travel_min", trav)):
        if not np.isfinite(mat).all():
            raise ProblemError(f"{name} contains NaN or infinite entries")
        if (mat < 0).any():
            raise ProblemError(f"{name} contains negative entries")
    n_loc = dist.shape[0]
    n = problem.n_stops
    loc = np.asarray(problem.stop_location)
    if loc.ndim != 1:
        raise ProblemError(f"stop_location must be one-dimensional, got shape {loc.shape}")
    if n and (not np.issubdtype(loc.dtype, np.integer) or loc.min() < 0 or loc.max() >= n_loc):
        raise ProblemError(f"stop_location must hold integer location indices in [0, {n_loc})")
    _check_array("demand", np.asarray(problem.demand, dtype=float), n, allow_inf=False)
    _check_array("service_min", np.asarray(problem.service_min, dtype=float), n, allow_inf=False)
    _check_array("tw_start_min", np.asarray(problem.tw_start_min, dtype=float), n, allow_inf=False)
    _check_array("tw_end_min", np.asarray(problem.tw_end_min, dtype=float), n, allow_inf=True)
    _check_array("drop_penalty", np.asarray(problem.drop_penalty, dtype=float), n, allow_inf=True)
    if n and (np.asarray(problem.demand) < 0).any():
        raise ProblemError("demand must be non-negative (pickups are not modelled)")
    if n and (np.asarray(problem.service_min) < 0).any():
        raise ProblemError("service_min must be non-negative")
    if n and (np.asarray(problem.drop_penalty) < 0).any():
        raise ProblemError("drop_penalty must be non-negative (use inf for a mandatory stop)")
    if problem.stop_ids and len(problem.stop_ids) != n:
        raise ProblemError(f"stop_ids has {len(problem.stop_ids)} entries for {n} stops")
    if not np.isfinite(problem.start_min):
        raise ProblemError("start_min must be finite")

    seen_ids: set[str] = set()
    committed_by: dict[int, str] = {}
    for v in problem.vehicles:
        if v.id in seen_ids:
            raise ProblemError(f"vehicle id {v.id!r} is used twice; vehicle ids must be unique")
        seen_ids.add(v.id)
        for field_name in ("start", "end"):
            idx = getattr(v, field_name)
            if not 0 <= idx < n_loc:
                raise ProblemError(
                    f"vehicle {v.id!r}: {field_name}={idx} is not a location index in [0, {n_loc})"
                )
        for field_name in ("capacity", "cost_per_km_eur", "cost_per_hour_eur", "fixed_cost_eur"):
            value = getattr(v, field_name)
            if not np.isfinite(value) or value < 0:
                raise ProblemError(
                    f"vehicle {v.id!r}: {field_name}={value} must be finite and >= 0"
                )
        if not np.isfinite(v.initial_load) or v.initial_load < 0:
            raise ProblemError(f"vehicle {v.id!r}: initial_load={v.initial_load} must be >= 0")
        if not np.isfinite(v.speed_factor) or v.speed_factor <= 0:
            raise ProblemError(f"vehicle {v.id!r}: speed_factor={v.speed_factor} must be > 0")
        if not np.isfinite(v.shift_start_min) or np.isnan(v.shift_end_min):
            raise ProblemError(f"vehicle {v.id!r}: shift_start_min must be finite")
        for stop in v.committed_stops:
            if not 0 <= stop < n:
                raise ProblemError(f"vehicle {v.id!r}: committed stop {stop} is not in [0, {n})")
            if stop in committed_by:
                raise ProblemError(
                    f"{_stop_name(problem, stop)} is committed to both vehicle "
                    f"{committed_by[stop]!r} and {v.id!r}; commit it to one vehicle"
                )
            committed_by[stop] = v.id
    as_float = _as_float_problem(problem)
    for v_idx, v in enumerate(problem.vehicles):
        if v.committed_stops:
            reason = _route_violation(as_float, v_idx, list(v.committed_stops))
            if reason is not None:
                raise ProblemError(
                    f"vehicle {v.id!r} cannot serve its committed stops {list(v.committed_stops)}: "
                    f"{reason}; release the stop or widen its window or shift"
                )


def _forward_times(
    problem: RoutingProblem, v_idx: int, stops: list[int], depart_min: float
) -> tuple[list[float], list[float], float]:
    """Service starts and waits at each stop, and the arrival time at the end location."""
    v = problem.vehicles[v_idx]
    trav = problem.travel_min
    loc = problem.stop_location
    t = depart_min
    here = v.start
    starts: list[float] = []
    waits: list[float] = []
    for s in stops:
        arrive = t + float(trav[here, loc[s]]) / v.speed_factor
        begin = max(arrive, float(problem.tw_start_min[s]))
        starts.append(begin)
        waits.append(begin - arrive)
        t = begin + float(problem.service_min[s])
        here = int(loc[s])
    return starts, waits, t + float(trav[here, v.end]) / v.speed_factor


def _route_violation(problem: RoutingProblem, v_idx: int, stops: list[int]) -> str | None:
    """Why the visit order is infeasible for the vehicle, or None if it is feasible."""
    v = problem.vehicles[v_idx]
    load = v.initial_load + float(np.sum(np.asarray(problem.demand)[stops]))
    if load > v.capacity + TIME_EPS_MIN:
        return f"load {load:g} exceeds capacity {v.capacity:g}"
    starts, _, end_min = _forward_times(problem, v_idx, stops, departure_min(problem, v))
    for s, begin in zip(stops, starts, strict=True):
        if begin > problem.tw_end_min[s] + TIME_EPS_MIN:
            return (
                f"{_stop_name(problem, s)} served at {begin:g}, after its window ends at "
                f"{problem.tw_end_min[s]:g}"
            )
    if end_min > v.shift_end_min + TIME_EPS_MIN:
        return f"back at {end_min:g}, after the shift ends at {v.shift_end_min:g}"
    return None


def schedule_route(problem: RoutingProblem, v_idx: int, stops: list[int]) -> Route:
    """The exact schedule, km and cost of a visit order (assumed feasible) for vehicle ``v_idx``.

    The departure is delayed as far as possible without delaying any later event, so
    ``duration_min`` excludes avoidable waiting.
    """
    v = problem.vehicles[v_idx]
    earliest = departure_min(problem, v)
    starts, waits, end_min = _forward_times(problem, v_idx, stops, earliest)
    # Delaying the departure by d is absorbed by the waits up to each stop; it must neither
    # push a service start past its window nor delay the return (total wait).
    delay = float(sum(waits))
    waited = 0.0
    for s, begin, wait in zip(stops, starts, waits, strict=True):
        waited += wait
        delay = min(delay, waited + float(problem.tw_end_min[s]) - begin)
    delay = max(delay, 0.0)
    if delay > 0.0:
        starts, _, end_min = _forward_times(problem, v_idx, stops, earliest + delay)
    depart = earliest + delay
    path = [v.start, *(int(problem.stop_location[s]) for s in stops), v.end]
    dist = float(sum(problem.distance_km[a, b] for a, b in itertools.pairwise(path)))
    duration = end_min - depart
    cost = v.cost_per_km_eur * dist + v.cost_per_hour_eur * duration / 60.0 + v.fixed_cost_eur
    return Route(
        vehicle_id=v.id,
        stops=tuple(int(s) for s in stops),
        arrival_min=tuple(starts),
        distance_km=dist,
        duration_min=duration,
        cost_eur=cost,
    )


class _RouteState:
    """One vehicle's route under construction, with the insertion data per gap.

    Gap ``p`` lies between element ``p - 1`` (or the start) and element ``p`` (or the end).
    For each gap it keeps the location and earliest departure before it and the location
    and latest allowed arrival after it, so an insertion is checked in O(1).
    """

    def __init__(self, problem: RoutingProblem, v_idx: int) -> None:
        self.problem = problem
        self.v_idx = v_idx
        self.vehicle = problem.vehicles[v_idx]
        self.weights = steering_weights(self.vehicle)
        self.stops: list[int] = list(self.vehicle.committed_stops)
        self.n_locked = len(self.stops)
        self.load = self.vehicle.initial_load + float(np.sum(problem.demand[self.stops]))
        self.refresh()

    def refresh(self) -> None:
        """Recompute the per-gap arrays after the visit order changed."""
        p = self.problem
        v = self.vehicle
        starts, _, _ = _forward_times(p, self.v_idx, self.stops, departure_min(p, v))
        locs = [int(p.stop_location[s]) for s in self.stops]
        latest = [0.0] * len(self.stops)
        nxt_loc, nxt_latest = v.end, float(v.shift_end_min)
        for k in range(len(self.stops) - 1, -1, -1):
            s = self.stops[k]
            travel = float(p.travel_min[locs[k], nxt_loc]) / v.speed_factor
            latest[k] = min(float(p.tw_end_min[s]), nxt_latest - float(p.service_min[s]) - travel)
            nxt_loc, nxt_latest = locs[k], latest[k]
        # Gaps inside the committed prefix are closed: those stops come first, in order.
        gaps = range(self.n_locked, len(self.stops) + 1)
        self.prev_loc = np.array([v.start if g == 0 else locs[g - 1] for g in gaps], dtype=int)
        self.prev_dep = np.array(
            [
                departure_min(p, v)
                if g == 0
                else starts[g - 1] + float(p.service_min[self.stops[g - 1]])
                for g in gaps
            ]
        )
        self.next_loc = np.array([v.end if g == len(locs) else locs[g] for g in gaps], dtype=int)
        self.next_latest = np.array(
            [float(v.shift_end_min) if g == len(locs) else latest[g] for g in gaps]
        )

    def signature(self) -> tuple[object, ...]:
        """Attributes that make two empty vehicles interchangeable."""
        v = self.vehicle
        return (
            v.start,
            v.end,
            v.capacity,
            v.shift_start_min,
            v.shift_end_min,
            v.cost_per_km_eur,
            v.cost_per_hour_eur,
            v.fixed_cost_eur,
            v.speed_factor,
            v.initial_load,
        )

    def insertion(self, cand: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Cheapest feasible insertion cost (inf if none) and its gap, for each candidate stop."""
        p = self.problem
        w = self.weights
        inv_speed = 1.0 / self.vehicle.speed_factor
        lu = p.stop_location[cand]
        t_in = p.travel_min[self.prev_loc[:, None], lu[None, :]] * inv_speed
        t_out = p.travel_min[lu[None, :], self.next_loc[:, None]] * inv_speed
        begin = np.maximum(self.prev_dep[:, None] + t_in, p.tw_start_min[cand][None, :])
        ok = begin <= p.tw_end_min[cand][None, :] + TIME_EPS_MIN
        ok &= (
            begin + p.service_min[cand][None, :] + t_out <= self.next_latest[:, None] + TIME_EPS_MIN
        )
        ok &= (self.load + p.demand[cand] <= self.vehicle.capacity + TIME_EPS_MIN)[None, :]
        d_in = p.distance_km[self.prev_loc[:, None], lu[None, :]]
        d_out = p.distance_km[lu[None, :], self.next_loc[:, None]]
        d_old = p.distance_km[self.prev_loc, self.next_loc][:, None]
        t_old = p.travel_min[self.prev_loc, self.next_loc][:, None] * inv_speed
        delta = w.per_km * (d_in + d_out - d_old) + w.per_min * (
            t_in + p.service_min[cand][None, :] + t_out - t_old
        )
        if not self.stops:
            delta = delta + w.fixed
        delta = np.where(ok, delta, np.inf)
        best_gap = np.argmin(delta, axis=0)
        best = delta[best_gap, np.arange(len(cand))]
        return best, best_gap + self.n_locked

    def insert(self, stop: int, gap: int) -> None:
        self.stops.insert(gap, stop)
        self.load += float(self.problem.demand[stop])
        self.refresh()


def _as_float_problem(problem: RoutingProblem) -> RoutingProblem:
    """The same problem with every array as a numpy float (int for locations) array."""
    return RoutingProblem(
        distance_km=np.asarray(problem.distance_km, dtype=float),
        travel_min=np.asarray(problem.travel_min, dtype=float),
        stop_location=np.asarray(problem.stop_location, dtype=int),
        demand=np.asarray(problem.demand, dtype=float),
        service_min=np.asarray(problem.service_min, dtype=float),
        tw_start_min=np.asarray(problem.tw_start_min, dtype=float),
        tw_end_min=np.asarray(problem.tw_end_min, dtype=float),
        drop_penalty=np.asarray(problem.drop_penalty, dtype=float),
        vehicles=problem.vehicles,
        start_min=float(problem.start_min),
        stop_ids=problem.stop_ids,
    )


def solve_baseline(problem: RoutingProblem) -> RoutePlan:
    """Parallel regret-2 cheapest insertion; stops that fit nowhere are dropped.

    Every vehicle starts with its committed stops. Each step inserts the unrouted stop
    with the largest regret (cost of its second-best route minus its best; a stop with a
    single feasible route, or whose penalty caps the regret, comes first), at its cheapest
    feasible gap. Empty interchangeable vehicles count as one option, so the regret
    compares "join an open route" with "open a new one". An optional stop is left out when
    its cheapest insertion costs more than its drop penalty. Deterministic: ties go to the
    lower stop index and the lower vehicle index.
    """
    t0 = time.perf_counter()
    validate_problem(problem)
    problem = _as_float_problem(problem)
    n = problem.n_stops
    routes = [_RouteState(problem, v) for v in range(len(problem.vehicles))]
    committed = {s for v in problem.vehicles for s in v.committed_stops}
    unrouted = np.array([s for s in range(n) if s not in committed], dtype=int)
    n_routes = len(routes)
    cost = np.full((n, n_routes), np.inf)
    gap = np.zeros((n, n_routes), dtype=int)
    if len(unrouted) and n_routes:
        for r, state in enumerate(routes):
            cost[unrouted, r], gap[unrouted, r] = state.insertion(unrouted)
    penalty = problem.drop_penalty

    while len(unrouted) and n_routes:
        usable = np.ones(n_routes, dtype=bool)
        seen: set[tuple[object, ...]] = set()
        for r, state in enumerate(routes):
            if not state.stops:
                sig = state.signature()
                usable[r] = sig not in seen
                seen.add(sig)
        c = np.where(usable[None, :], cost[unrouted], np.inf)
        if n_routes >= 2:
            two = np.partition(c, 1, axis=1)
            best, second = two[:, 0], two[:, 1]
        else:
            best, second = c[:, 0], np.full(len(unrouted), np.inf)
        pen = penalty[unrouted]
        eligible = np.isfinite(best) & (best < pen)
        if not eligible.any():
            break
        with np.errstate(invalid="ignore"):
            regret = np.minimum(second, pen) - best
        regret = np.where(eligible, regret, -np.inf)
        # lexsort: last key is primary. Largest regret, then cheapest, then lowest index.
        pick = int(np.lexsort((unrouted, best, -regret))[0])
        stop = int(unrouted[pick])
        r = int(np.argmin(c[pick]))
        routes[r].insert(stop, int(gap[stop, r]))
        unrouted = np.delete(unrouted, pick)
        if len(unrouted):
            cost[unrouted, r], gap[unrouted, r] = routes[r].insertion(unrouted)

    plan_routes = tuple(
        schedule_route(problem, state.v_idx, state.stops) for state in routes if state.stops
    )
    return RoutePlan(
        routes=plan_routes,
        dropped=tuple(sorted(int(s) for s in unrouted)),
        solver="baseline-regret2",
        solve_time_s=time.perf_counter() - t0,
    )
