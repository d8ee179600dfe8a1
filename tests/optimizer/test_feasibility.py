"""The independent checkers catch every kind of violation they claim to."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from optimizer.construct import schedule_route, solve_baseline
from optimizer.feasibility import check_plan, check_solomon
from optimizer.instances import read_solomon
from optimizer.problems import Route, RoutePlan, RoutingProblem, Vehicle


def line_problem(capacity: float = 10.0, shift_end_min: float = 100.0) -> RoutingProblem:
    """Depot at 0 and three stops at 1, 2, 3 km on a line; 1 km = 1 min."""
    xs = np.array([0.0, 1.0, 2.0, 3.0])
    dist = np.abs(xs[:, None] - xs[None, :])
    return RoutingProblem(
        distance_km=dist,
        travel_min=dist.copy(),
        stop_location=np.array([1, 2, 3]),
        demand=np.array([4.0, 4.0, 4.0]),
        service_min=np.array([1.0, 1.0, 1.0]),
        tw_start_min=np.array([0.0, 0.0, 10.0]),
        tw_end_min=np.array([50.0, 50.0, 12.0]),
        drop_penalty=np.full(3, np.inf),
        vehicles=(
            Vehicle(
                id="a",
                start=0,
                end=0,
                capacity=capacity,
                shift_start_min=0.0,
                shift_end_min=shift_end_min,
                cost_per_km_eur=1.0,
                cost_per_hour_eur=60.0,
            ),
            Vehicle(
                id="b", start=0, end=0, capacity=capacity, shift_start_min=0.0, shift_end_min=100.0
            ),
        ),
    )


def plan_of(
    p: RoutingProblem, routes: dict[int, list[int]], dropped: tuple[int, ...] = ()
) -> RoutePlan:
    return RoutePlan(
        routes=tuple(schedule_route(p, v, stops) for v, stops in routes.items()),
        dropped=dropped,
        solver="hand",
    )


def test_feasible_hand_plan_passes_and_delays_departure() -> None:
    p = line_problem()
    plan = plan_of(p, {0: [0, 2], 1: [1]})
    assert check_plan(p, plan) == []
    # Stop 2 opens at 10 and is 3 min away: leaving at 0 would wait, so the route leaves
    # at 6 (1 min to stop 0, 1 min service, 2 min on to stop 2 at 10).
    route = plan.routes[0]
    assert route.arrival_min == pytest.approx((7.0, 10.0))
    assert route.duration_min == pytest.approx(14.0 - 6.0)
    assert route.cost_eur == pytest.approx(6.0 + 8.0)


def test_capacity_violation_reported() -> None:
    p = line_problem(capacity=10.0)
    assert any("capacity" in v for v in check_plan(p, plan_of(p, {0: [0, 1, 2]})))


def test_window_violation_reported() -> None:
    p = line_problem(capacity=100.0)
    # Stop 2 must start by 12; after 0 and 1 it would be fine, but make it late via order.
    late = dataclasses.replace(p, tw_end_min=np.array([50.0, 50.0, 3.0]))
    assert any("window ends" in v for v in check_plan(late, plan_of(late, {0: [0, 1, 2]})))


def test_shift_end_violation_reported() -> None:
    p = line_problem(capacity=100.0, shift_end_min=12.0)
    assert any("shift ends" in v for v in check_plan(p, plan_of(p, {0: [0, 1, 2]})))


def test_double_service_and_missing_stops_reported() -> None:
    p = line_problem(capacity=100.0)
    twice = plan_of(p, {0: [0, 2], 1: [0]})
    msgs = check_plan(p, twice)
    assert any("served twice" in v for v in msgs)
    assert any("neither served nor dropped" in v for v in msgs)
    both = plan_of(p, {0: [0, 1, 2]}, dropped=(1,))
    assert any("both served and dropped" in v for v in check_plan(p, both))


def test_committed_order_and_reported_figures_checked() -> None:
    p = line_problem(capacity=100.0)
    v0 = dataclasses.replace(p.vehicles[0], committed_stops=(1, 0))
    q = dataclasses.replace(p, vehicles=(v0, p.vehicles[1]))
    assert any("committed" in v for v in check_plan(q, plan_of(q, {0: [0, 1, 2]})))
    good = plan_of(q, {0: [1, 0, 2]})
    assert check_plan(q, good) == []
    fudged = dataclasses.replace(good.routes[0], distance_km=1.0)
    assert any(
        "recomputed" in v for v in check_plan(q, dataclasses.replace(good, routes=(fudged,)))
    )
    early = Route("a", (1, 0, 2), (0.0, 0.0, 10.0), good.routes[0].distance_km, 20.0, 0.0)
    assert any(
        "cannot get there" in v for v in check_plan(q, dataclasses.replace(good, routes=(early,)))
    )


def test_solomon_checker_catches_a_broken_route(solomon_dir: Path) -> None:
    inst = read_solomon(solomon_dir / "R101.txt")
    plan = solve_baseline(inst.problem)
    routes = [[inst.customer_ids[s] for s in r.stops] for r in plan.routes]
    assert check_solomon(inst, routes).violations == []
    reversed_first = [list(reversed(routes[0])), *routes[1:]]
    assert any("due" in v for v in check_solomon(inst, reversed_first).violations)
    assert any("not visited" in v for v in check_solomon(inst, routes[1:]).violations)
    merged = [routes[0] + routes[1], *routes[2:]]
    assert check_solomon(inst, merged).violations != []
