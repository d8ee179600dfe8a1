"""Independent plan checkers: they trust nothing a solver reports.

``check_plan`` recomputes every route of a ``RoutePlan`` from the problem's matrices and
lists each violated rule of the routing contract (capacity, time windows, shift end, each
stop served at most once, dropped + served = all stops, committed stops first and in
order, reported km/times/cost consistent). ``check_solomon`` checks routes given as
customer numbers against a Solomon instance's coordinates in the convention of
``../shared/data/solomon/README.md`` (double-precision Euclidean distance, travel time =
distance, wait allowed, serve by the due date, back at the depot by its due date) and
recomputes the total distance. Both are deliberately written as plain loops, separately
from the solvers' scheduling code, so that a shared bug cannot hide.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from optimizer.instances import Instance
from optimizer.problems import RoutePlan, RoutingProblem

# Tolerances: times and loads are sums of doubles; km are compared relatively.
EPS = 1e-6
REL_EPS = 1e-9


def check_plan(problem: RoutingProblem, plan: RoutePlan) -> list[str]:
    """Every violation of the routing contract in ``plan``; an empty list means feasible."""
    out: list[str] = []
    n = len(problem.stop_location)
    vehicles = {v.id: (k, v) for k, v in enumerate(problem.vehicles)}
    served: dict[int, str] = {}
    used: set[str] = set()
    for route in plan.routes:
        if route.vehicle_id not in vehicles:
            out.append(f"route for unknown vehicle {route.vehicle_id!r}")
            continue
        if route.vehicle_id in used:
            out.append(f"vehicle {route.vehicle_id!r} has two routes")
        used.add(route.vehicle_id)
        _, v = vehicles[route.vehicle_id]
        tag = f"vehicle {v.id!r}"
        if len(route.arrival_min) != len(route.stops):
            out.append(f"{tag}: {len(route.arrival_min)} times for {len(route.stops)} stops")
            continue
        bad = [s for s in route.stops if not 0 <= s < n]
        if bad:
            out.append(f"{tag}: stop indices {bad} out of range [0, {n})")
            continue
        for s in route.stops:
            if s in served:
                out.append(f"stop {s} served twice (vehicles {served[s]!r} and {v.id!r})")
            served[s] = v.id
        committed = list(v.committed_stops)
        if list(route.stops[: len(committed)]) != committed:
            out.append(f"{tag}: does not start with its committed stops {committed}")

        load = v.initial_load + sum(float(problem.demand[s]) for s in route.stops)
        if load > v.capacity + EPS:
            out.append(f"{tag}: load {load:g} exceeds capacity {v.capacity:g}")

        leave = max(v.shift_start_min, problem.start_min)
        here = v.start
        ready = leave  # earliest moment the vehicle can be moving on from `here`
        dist = 0.0
        for s, t in zip(route.stops, route.arrival_min, strict=True):
            loc = int(problem.stop_location[s])
            travel = float(problem.travel_min[here][loc]) / v.speed_factor
            dist += float(problem.distance_km[here][loc])
            if t < ready + travel - EPS:
                out.append(f"{tag}: stop {s} at {t:g}, cannot get there before {ready + travel:g}")
            if t < float(problem.tw_start_min[s]) - EPS:
                out.append(f"{tag}: stop {s} at {t:g}, before its window opens")
            if t > float(problem.tw_end_min[s]) + EPS:
                out.append(
                    f"{tag}: stop {s} at {t:g}, after its window ends at "
                    f"{float(problem.tw_end_min[s]):g}"
                )
            ready = max(t, ready + travel) + float(problem.service_min[s])
            here = loc
        back = ready + float(problem.travel_min[here][v.end]) / v.speed_factor
        dist += float(problem.distance_km[here][v.end])
        if back > v.shift_end_min + EPS:
            out.append(f"{tag}: back at {back:g}, after the shift ends at {v.shift_end_min:g}")
        if not math.isclose(route.distance_km, dist, rel_tol=REL_EPS, abs_tol=EPS):
            out.append(f"{tag}: reports {route.distance_km:g} km, recomputed {dist:g}")
        first_leave = route.arrival_min[0] - (
            float(problem.travel_min[v.start][int(problem.stop_location[route.stops[0]])])
            / v.speed_factor
            if route.stops
            else 0.0
        )
        if route.stops and route.duration_min < back - max(first_leave, leave) - EPS:
            out.append(f"{tag}: reports {route.duration_min:g} min, the times need more")
        cost = (
            v.cost_per_km_eur * route.distance_km
            + v.cost_per_hour_eur * route.duration_min / 60.0
            + v.fixed_cost_eur
        )
        if not math.isclose(route.cost_eur, cost, rel_tol=REL_EPS, abs_tol=EPS):
            out.append(f"{tag}: reports cost {route.cost_eur:g}, its km and minutes give {cost:g}")

    for v in problem.vehicles:
        if v.committed_stops and v.id not in used:
            out.append(f"vehicle {v.id!r} has committed stops but no route")
    dropped = list(plan.dropped)
    if len(set(dropped)) != len(dropped):
        out.append("a stop is listed twice in dropped")
    both = sorted(set(dropped) & set(served))
    if both:
        out.append(f"stops {both} are both served and dropped")
    missing = sorted(set(range(n)) - set(dropped) - set(served))
    if missing:
        out.append(f"stops {missing} are neither served nor dropped")
    extra = sorted(s for s in dropped if not 0 <= s < n)
    if extra:
        out.append(f"dropped stops {extra} out of range [0, {n})")
    return out


@dataclass(frozen=True)
class SolomonCheck:
    """Result of checking customer-number routes against a Solomon instance."""

    violations: list[str]
    distance: float  # total Euclidean distance, double precision
    vehicles: int  # non-empty routes


def check_solomon(instance: Instance, routes: Sequence[Sequence[int]]) -> SolomonCheck:
    """Check routes of customer numbers in Solomon's convention and recompute their distance.

    Uses only the instance's coordinates, demands, windows and service times (not the
    problem's matrices). Every customer must be visited exactly once, by at most the
    instance's number of vehicles.
    """
    p = instance.problem
    index = {cid: i for i, cid in enumerate(instance.customer_ids)}
    depot_x, depot_y = (float(c) for c in instance.coords[0])
    v = p.vehicles[0] if p.vehicles else None
    capacity = v.capacity if v else 0.0
    horizon = v.shift_end_min if v else p.start_min
    out: list[str] = []
    seen: set[int] = set()
    total = 0.0
    used = [r for r in routes if len(r)]
    if len(used) > instance.max_vehicles:
        out.append(f"{len(used)} routes, the instance allows {instance.max_vehicles} vehicles")
    for k, route in enumerate(used):
        x, y, t, load = depot_x, depot_y, p.start_min, 0.0
        for cid in route:
            if cid not in index:
                out.append(f"route {k}: unknown customer {cid}")
                continue
            if cid in seen:
                out.append(f"customer {cid} visited twice")
            seen.add(cid)
            i = index[cid]
            cx, cy = (float(c) for c in instance.coords[p.stop_location[i]])
            leg = math.hypot(cx - x, cy - y)
            total += leg
            t = max(t + leg, float(p.tw_start_min[i]))
            if t > float(p.tw_end_min[i]) + EPS:
                out.append(f"route {k}: customer {cid} served at {t:.4f} > due {p.tw_end_min[i]:g}")
            t += float(p.service_min[i])
            load += float(p.demand[i])
            x, y = cx, cy
        leg = math.hypot(depot_x - x, depot_y - y)
        total += leg
        if t + leg > horizon + EPS:
            out.append(f"route {k}: back at the depot at {t + leg:.4f} > {horizon:g}")
        if load > capacity + EPS:
            out.append(f"route {k}: load {load:g} > capacity {capacity:g}")
    missing = sorted(set(instance.customer_ids) - seen)
    if missing:
        out.append(f"customers not visited: {missing}")
    return SolomonCheck(violations=out, distance=total, vehicles=len(used))
