"""OR-Tools routing model and search for ``RoutingProblem``.

Owns the translation of a problem into an OR-Tools routing model (capacities, time windows,
service times, shifts, multi-depot starts and ends, per-vehicle costs and speeds, optional
stops as disjunctions, committed stops, warm starts) and the search settings. Every
returned route is rescheduled in double precision by ``optimizer.construct.schedule_route``.

Integer scaling is conservative: travel and service times are rounded up, window opens and
departures up, window closes and shift ends down, so every plan the integer model accepts
is feasible with the exact double-precision times. Costs are scaled by ``COST_SCALE`` so
a distance of 1e-6 km still counts.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2, routing_parameters_pb2
from ortools.util.optional_boolean_pb2 import BOOL_TRUE

from optimizer.construct import (
    _as_float_problem,
    departure_min,
    schedule_route,
    solve_baseline,
    steering_weights,
    validate_problem,
)
from optimizer.errors import ProblemError
from optimizer.problems import RoutePlan, RoutingProblem

TIME_SCALE = 1000  # integer time units per minute
COST_SCALE = 1_000_000  # integer cost units per eur (or per km for distance-costed vehicles)
LOAD_SCALE = 1000  # integer load units per demand unit
# Keeps the objective far below int64 overflow even with every stop dropped at big-M.
MAX_OBJECTIVE = 2**61

FIRST_SOLUTIONS = {
    "path_cheapest_arc": routing_enums_pb2.FirstSolutionStrategy.PATH_CHEAPEST_ARC,
    "parallel_cheapest_insertion": (
        routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    ),
    "local_cheapest_insertion": routing_enums_pb2.FirstSolutionStrategy.LOCAL_CHEAPEST_INSERTION,
    "savings": routing_enums_pb2.FirstSolutionStrategy.SAVINGS,
    "christofides": routing_enums_pb2.FirstSolutionStrategy.CHRISTOFIDES,
    "automatic": routing_enums_pb2.FirstSolutionStrategy.AUTOMATIC,
}
# The tuned preset's starts. Guided local search ends in very different local optima from
# different first solutions, so two half-budget runs beat one full-budget run (Solomon, 56
# instances at 3 s, mean gap to best-known: PATH_CHEAPEST_ARC alone 0.95%, both 0.60%).
# PARALLEL_CHEAPEST_INSERTION, the former tuned start, opens few routes and the search rarely
# opens more: on 12 instances at 3 s it was 2.7-8.1 points worse than PATH_CHEAPEST_ARC on R2,
# RC1 and RC2, where the shortest plans use many vehicles.
TUNED_STARTS = ("path_cheapest_arc", "savings")
# Guided local search's penalty weight, as a fraction of the mean arc cost of a local optimum
# (OR-Tools' default is 0.1). Heavier penalties push the search out of a local optimum
# sooner, which pays on loose time windows. Solomon at 10 s per instance, mean gap to
# best-known for C1/R1/RC1/C2/R2/RC2, separate runs (noise about 0.4 points):
#   one PATH_CHEAPEST_ARC start, default operators (plain), 0.1:  0.94/1.21/4.24/0.95/-4.29/-6.74
#   the same at 0.2:                                               2.67/0.61/4.41/0.26/-4.95/-7.27
#   this portfolio with the close-node operators, 0.1:             -/-/-/1.61/-3.63/-6.00
#   this portfolio with the close-node operators, 0.2:             0.39/0.13/2.41/0.70/-4.18/-6.80
#   this portfolio with the close-node operators, 0.3:             0.39/-0.22/2.27/1.38/-3.84/-6.29
TUNED_GLS_LAMBDA = 0.2
METAHEURISTICS = {
    "guided_local_search": routing_enums_pb2.LocalSearchMetaheuristic.GUIDED_LOCAL_SEARCH,
    "simulated_annealing": routing_enums_pb2.LocalSearchMetaheuristic.SIMULATED_ANNEALING,
    "tabu_search": routing_enums_pb2.LocalSearchMetaheuristic.TABU_SEARCH,
    "greedy_descent": routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT,
}


@dataclass(frozen=True)
class RoutingParams:
    """Search settings for ``solve_ortools``.

    Exactly one stopping rule drives the search: ``time_limit_s`` (wall clock, for the
    CLI and benchmarks) or, when ``deterministic`` is set, ``solution_limit`` (a count of
    accepted solutions, so the same problem always gives the same plan; for the simulation).
    ``search`` picks a preset: ``"tuned"`` (the default: a portfolio of guided local searches
    from different first solutions, each with an equal share of the budget, with two extra
    large-neighbourhood operators and a heavier penalty weight; the best plan is kept) or
    ``"plain"`` (OR-Tools' textbook setup: PATH_CHEAPEST_ARC + guided local search with
    default operators and penalty weight, the benchmark's anchor). ``first_solution``
    replaces the tuned portfolio (or the plain start) by one start.
    """

    time_limit_s: float = 10.0
    deterministic: bool = False
    solution_limit: int = 2000
    # Deterministic mode's guard against a search that finds no further solutions; a run
    # that reaches it is no longer guaranteed reproducible (it has never been reached in tests).
    safety_time_limit_s: float = 300.0
    search: str = "tuned"
    first_solution: str | None = None  # overrides the preset's first-solution strategy
    log_search: bool = False

    def __post_init__(self) -> None:
        if self.search not in ("tuned", "plain"):
            raise ProblemError(f"search={self.search!r}; use 'tuned' or 'plain'")
        if self.first_solution is not None and self.first_solution not in FIRST_SOLUTIONS:
            raise ProblemError(
                f"first_solution={self.first_solution!r}; use one of {sorted(FIRST_SOLUTIONS)}"
            )
        if self.deterministic and self.solution_limit < 1:
            raise ProblemError("solution_limit must be >= 1 in deterministic mode")
        if not self.deterministic and not self.time_limit_s > 0:
            raise ProblemError("time_limit_s must be > 0 (or set deterministic=True)")


def search_parameters(params: RoutingParams) -> routing_parameters_pb2.RoutingSearchParameters:
    """The OR-Tools search parameters for a preset, over the whole budget.

    For the tuned preset these are the settings of its first start; ``solve_ortools`` runs
    each start of ``TUNED_STARTS`` with its share of the budget (see ``_portfolio``).
    """
    sp = pywrapcp.DefaultRoutingSearchParameters()
    if params.deterministic:
        sp.solution_limit = params.solution_limit
        sp.time_limit.FromMilliseconds(max(1, int(params.safety_time_limit_s * 1000)))
    else:
        sp.time_limit.FromMilliseconds(max(1, int(params.time_limit_s * 1000)))
    sp.log_search = params.log_search
    sp.local_search_metaheuristic = METAHEURISTICS["guided_local_search"]
    if params.search == "plain":
        sp.first_solution_strategy = FIRST_SOLUTIONS["path_cheapest_arc"]
    else:
        sp.first_solution_strategy = FIRST_SOLUTIONS[TUNED_STARTS[0]]
        # Large-neighbourhood moves that remove a stop with its nearest stops and re-insert
        # them by cheapest insertion (Solomon, 56 instances at 3 s, separate runs: portfolio
        # without/with them, mean gap to best-known 0.60% / -0.23%, better on every class).
        ops = sp.local_search_operators
        ops.use_global_cheapest_insertion_close_nodes_lns = BOOL_TRUE
        ops.use_local_cheapest_insertion_close_nodes_lns = BOOL_TRUE
        sp.guided_local_search_lambda_coefficient = TUNED_GLS_LAMBDA
    if params.first_solution is not None:
        sp.first_solution_strategy = FIRST_SOLUTIONS[params.first_solution]
    return sp


def _portfolio(params: RoutingParams) -> list[routing_parameters_pb2.RoutingSearchParameters]:
    """The searches ``solve_ortools`` runs one after the other, keeping the best plan.

    The tuned preset runs one guided local search per start of ``TUNED_STARTS``. Each gets an
    equal share of the accepted-solution count in deterministic mode (so the total work, and
    the result, do not depend on the clock) and of the wall-clock budget otherwise (the
    caller re-divides what is left before each run, so model building is paid for).
    """
    sp = search_parameters(params)
    if params.search == "plain" or params.first_solution is not None:
        return [sp]
    runs = []
    for k, start in enumerate(TUNED_STARTS):
        run = routing_parameters_pb2.RoutingSearchParameters()
        run.CopyFrom(sp)
        run.first_solution_strategy = FIRST_SOLUTIONS[start]
        if params.deterministic:
            # Split N as evenly as possible; every run accepts at least one solution. The
            # safety limit is split too, so the whole portfolio keeps the caller's guard.
            share = params.solution_limit // len(TUNED_STARTS)
            run.solution_limit = max(1, share + (k < params.solution_limit % len(TUNED_STARTS)))
            safety_ms = int(params.safety_time_limit_s * 1000 / len(TUNED_STARTS))
            run.time_limit.FromMilliseconds(max(1, safety_ms))
        runs.append(run)
    return runs


class _Model:
    """The OR-Tools index manager and routing model of one problem, with its scaling."""

    def __init__(self, problem: RoutingProblem) -> None:
        self.problem = p = problem
        n = p.n_stops
        veh = p.vehicles
        # Stops no vehicle could serve even on a trip of their own stay out of the model:
        # they are dropped anyway, and a model where nothing fits gives the search no move.
        committed = {s for v in veh for s in v.committed_stops}
        servable = np.zeros(n, dtype=bool)
        for v in veh:
            leave = departure_min(p, v)
            begin = np.maximum(
                leave + p.travel_min[v.start, p.stop_location] / v.speed_factor, p.tw_start_min
            )
            back = begin + p.service_min + p.travel_min[p.stop_location, v.end] / v.speed_factor
            servable |= (
                (begin <= p.tw_end_min)
                & (back <= v.shift_end_min)
                & (v.initial_load + p.demand <= v.capacity)
            )
        self.stops = [s for s in range(n) if servable[s] or s in committed]
        depots = sorted({v.start for v in veh} | {v.end for v in veh})
        self.node_loc = np.array([int(p.stop_location[s]) for s in self.stops] + depots, dtype=int)
        self.node_of_stop = {s: k for k, s in enumerate(self.stops)}
        depot_node = {loc: len(self.stops) + k for k, loc in enumerate(depots)}
        n_nodes = len(self.node_loc)
        self.manager = pywrapcp.RoutingIndexManager(
            n_nodes, len(veh), [depot_node[v.start] for v in veh], [depot_node[v.end] for v in veh]
        )
        self.routing = pywrapcp.RoutingModel(self.manager)
        r = self.routing
        stop_arr = np.array(self.stops, dtype=int)

        # Time origin and horizon: all cumuls are >= 0 and finite.
        finite = [p.start_min, *(v.shift_start_min for v in veh)]
        finite += [float(x) for x in p.tw_start_min[stop_arr]]
        finite += [float(x) for x in p.tw_end_min[stop_arr] if np.isfinite(x)]
        finite += [v.shift_end_min for v in veh if np.isfinite(v.shift_end_min)]
        self.t0 = min(finite)
        slowest = min(v.speed_factor for v in veh)
        reach = (
            float(p.service_min[stop_arr].sum())
            + (len(self.stops) + 1) * float(p.travel_min.max(initial=0.0)) / slowest
        )
        self.horizon = math.ceil((max(finite) - self.t0 + reach + 1.0) * TIME_SCALE)

        service = np.zeros(n_nodes)
        service[: len(self.stops)] = p.service_min[stop_arr]
        loc = self.node_loc
        dist_nodes = p.distance_km[np.ix_(loc, loc)]
        travel_nodes = p.travel_min[np.ix_(loc, loc)]

        # Arc costs per distinct per-km weight; the per-minute part is a span cost.
        weights = [steering_weights(v) for v in veh]
        arc_cb: dict[float, int] = {}
        max_arc = 1
        for k, w in enumerate(weights):
            if w.per_km not in arc_cb:
                mat = np.rint(dist_nodes * w.per_km * COST_SCALE).astype(np.int64)
                max_arc = max(max_arc, int(mat.max(initial=0)))
                arc_cb[w.per_km] = self._register(mat)
            r.SetArcCostEvaluatorOfVehicle(arc_cb[w.per_km], k)
            r.SetFixedCostOfVehicle(round(w.fixed * COST_SCALE), k)

        transit_cb: dict[float, int] = {}
        for v in veh:
            if v.speed_factor not in transit_cb:
                mat = np.ceil(
                    (service[:, None] + travel_nodes / v.speed_factor) * TIME_SCALE - 1e-9
                ).astype(np.int64)
                transit_cb[v.speed_factor] = self._register(np.maximum(mat, 0))
        r.AddDimensionWithVehicleTransits(
            [transit_cb[v.speed_factor] for v in veh], self.horizon, self.horizon, False, "time"
        )
        self.time_dim = r.GetDimensionOrDie("time")
        for k, s in enumerate(self.stops):
            lo = self._t_up(p.tw_start_min[s])
            hi = self._t_down(p.tw_end_min[s])
            self.time_dim.CumulVar(self.manager.NodeToIndex(k)).SetRange(lo, max(lo, hi))
            if hi < lo:  # window narrower than the integer grid: no vehicle may serve it
                r.ActiveVar(self.manager.NodeToIndex(k)).SetValue(0)
        max_span_coef = 0
        for k, (v, w) in enumerate(zip(veh, weights, strict=True)):
            start, end = r.Start(k), r.End(k)
            self.time_dim.CumulVar(start).SetRange(
                min(self._t_up(departure_min(p, v)), self.horizon), self.horizon
            )
            self.time_dim.CumulVar(end).SetRange(0, self._t_down(v.shift_end_min))
            coef = round(w.per_min * COST_SCALE / TIME_SCALE)
            max_span_coef = max(max_span_coef, coef)
            if coef:
                self.time_dim.SetSpanCostCoefficientForVehicle(coef, k)

        demand = np.zeros(n_nodes, dtype=np.int64)
        demand[: len(self.stops)] = np.ceil(p.demand[stop_arr] * LOAD_SCALE - 1e-9)
        if demand.any() or any(v.initial_load for v in veh):
            load_cb = r.RegisterUnaryTransitVector([int(d) for d in demand])
            caps = [math.floor(v.capacity * LOAD_SCALE + 1e-9) for v in veh]
            r.AddDimensionWithVehicleCapacity(load_cb, 0, caps, False, "load")
            load_dim = r.GetDimensionOrDie("load")
            for k, v in enumerate(veh):
                init = math.ceil(v.initial_load * LOAD_SCALE - 1e-9)
                load_dim.CumulVar(r.Start(k)).SetRange(init, init)

        # Drop penalties: big-M for mandatory stops keeps the model feasible when the wave
        # is over-full; M exceeds any achievable routing cost so mandatory stops go first.
        bound = (
            2 * (n_nodes + 1) * max_arc
            + sum(round(w.fixed * COST_SCALE) for w in weights)
            + max_span_coef * self.horizon * max(1, len(veh))
        )
        big_m = max(10 * bound, 10**9)
        finite_pen = [x for x in p.drop_penalty[stop_arr] if np.isfinite(x)]
        if finite_pen:
            big_m = max(big_m, 10 * round(max(finite_pen) * COST_SCALE))
        big_m = min(big_m, MAX_OBJECTIVE // max(1, len(self.stops)))
        for k, s in enumerate(self.stops):
            if s in committed:
                continue
            pen = p.drop_penalty[s]
            cost = big_m if not np.isfinite(pen) else min(big_m, round(pen * COST_SCALE))
            r.AddDisjunction([self.manager.NodeToIndex(k)], cost)

        solver = r.solver()
        for k, v in enumerate(veh):
            prev = r.Start(k)
            for s in v.committed_stops:
                index = self.manager.NodeToIndex(self.node_of_stop[s])
                solver.Add(r.NextVar(prev) == index)
                prev = index

    def _register(self, mat: np.ndarray) -> int:
        # A node-indexed matrix evaluated inside OR-Tools: no Python call per arc, which
        # would cost most of the search's speed.
        return self.routing.RegisterTransitMatrix(mat.tolist())

    def _t_up(self, t: float) -> int:
        if not np.isfinite(t):
            return self.horizon
        return max(0, math.ceil((t - self.t0) * TIME_SCALE - 1e-6))

    def _t_down(self, t: float) -> int:
        if not np.isfinite(t):
            return self.horizon
        return min(self.horizon, math.floor((t - self.t0) * TIME_SCALE + 1e-6))

    def initial_routes(self, plan: RoutePlan) -> list[list[int]]:
        """Per-vehicle node lists from a plan, committed stops first, unknown stops skipped."""
        by_vehicle = {r.vehicle_id: r.stops for r in plan.routes}
        out: list[list[int]] = []
        for v in self.problem.vehicles:
            committed = list(v.committed_stops)
            rest = [
                s for s in by_vehicle.get(v.id, ()) if s in self.node_of_stop and s not in committed
            ]
            out.append([self.node_of_stop[s] for s in committed + rest])
        # A stop in two routes of a stale warm start keeps its first place only.
        seen: set[int] = set()
        for nodes in out:
            unique = []
            for x in nodes:
                if x not in seen:
                    unique.append(x)
                    seen.add(x)
            nodes[:] = unique
        return out

    def plan(self, solution: object, solver_name: str, elapsed_s: float) -> RoutePlan:
        """Read routes from an OR-Tools assignment and reschedule them exactly."""
        r = self.routing
        routes = []
        served: set[int] = set()
        for k in range(len(self.problem.vehicles)):
            index = solution.Value(r.NextVar(r.Start(k)))  # type: ignore[attr-defined]
            stops: list[int] = []
            while not r.IsEnd(index):
                stops.append(self.stops[self.manager.IndexToNode(index)])
                index = solution.Value(r.NextVar(index))  # type: ignore[attr-defined]
            if stops:
                routes.append(schedule_route(self.problem, k, stops))
                served.update(stops)
        dropped = tuple(s for s in range(self.problem.n_stops) if s not in served)
        return RoutePlan(
            routes=tuple(routes), dropped=dropped, solver=solver_name, solve_time_s=elapsed_s
        )


def plan_objective(problem: RoutingProblem, plan: RoutePlan) -> tuple[int, float]:
    """(mandatory stops dropped, steering cost + finite drop penalties): lower is better."""
    weights = {v.id: steering_weights(v) for v in problem.vehicles}
    cost = 0.0
    for r in plan.routes:
        w = weights[r.vehicle_id]
        cost += w.per_km * r.distance_km + w.per_min * r.duration_min + w.fixed
    pen = [float(problem.drop_penalty[s]) for s in plan.dropped]
    return sum(1 for x in pen if not np.isfinite(x)), cost + sum(x for x in pen if np.isfinite(x))


def _search(
    model: _Model,
    sp: routing_parameters_pb2.RoutingSearchParameters,
    name: str,
    initial_plan: RoutePlan | None,
    t_start: float,
) -> RoutePlan | None:
    """One OR-Tools search (from the warm start if it is readable); None if it found nothing."""
    routing = model.routing
    routing.CloseModelWithParameters(sp)
    solution = None
    if initial_plan is not None:
        start = routing.ReadAssignmentFromRoutes(model.initial_routes(initial_plan), True)
        if start is not None:
            solution = routing.SolveFromAssignmentWithParameters(start, sp)
    if solution is None:
        solution = routing.SolveWithParameters(sp)
    assert routing.status() != routing_enums_pb2.RoutingSearchStatus.ROUTING_INVALID, (
        "search parameters rejected by OR-Tools"
    )
    if solution is None:
        return None
    return model.plan(solution, name, time.perf_counter() - t_start)


def solve_ortools(
    problem: RoutingProblem,
    params: RoutingParams | None = None,
    initial_plan: RoutePlan | None = None,
) -> RoutePlan:
    """Solve with OR-Tools routing; stops no vehicle can serve in time are listed as dropped.

    ``initial_plan`` warm-starts the search (the first run of the tuned portfolio; e.g. the
    previous wave's routes, matched by vehicle id; stops it does not know are inserted by the
    search; an infeasible warm start is ignored). The tuned search also runs the baseline
    (milliseconds) and returns its plan if the search ends worse, as it can on clustered
    instances at short budgets; ``solver`` then says so. If the search finds nothing within
    its budget, the baseline's plan is returned, with ``solver`` saying so.
    """
    params = params or RoutingParams()
    t_start = time.perf_counter()
    validate_problem(problem)
    problem = _as_float_problem(problem)
    name = f"ortools-{params.search}"
    if not problem.vehicles or problem.n_stops == 0:
        return RoutePlan(
            routes=(),
            dropped=tuple(range(problem.n_stops)),
            solver=name,
            solve_time_s=time.perf_counter() - t_start,
        )
    runs = _portfolio(params)
    best: RoutePlan | None = None
    for k, sp in enumerate(runs):
        if not params.deterministic:
            # Equal shares of what is left, so a run that ends early or the model building
            # of the next ones never overruns the budget.
            left_s = params.time_limit_s - (time.perf_counter() - t_start)
            sp.time_limit.FromMilliseconds(max(1, int(1000 * left_s / (len(runs) - k))))
        # Each run builds its own model, so nothing of one search carries into the next.
        plan = _search(_Model(problem), sp, name, initial_plan if k == 0 else None, t_start)
        if plan is not None and (
            best is None or plan_objective(problem, plan) < plan_objective(problem, best)
        ):
            best = plan
    if best is None:
        fallback = solve_baseline(problem)
        return RoutePlan(
            routes=fallback.routes,
            dropped=fallback.dropped,
            solver=f"{name}(no solution in budget: baseline)",
            solve_time_s=time.perf_counter() - t_start,
        )
    plan = dataclasses.replace(best, solve_time_s=time.perf_counter() - t_start)
    if params.search == "tuned":
        base = solve_baseline(problem)
        if plan_objective(problem, base) < plan_objective(problem, plan):
            return RoutePlan(
                routes=base.routes,
                dropped=base.dropped,
                solver=f"{name}(baseline kept: better)",
                solve_time_s=time.perf_counter() - t_start,
            )
    return plan


SOLVERS = ("ortools", "ortools-plain", "baseline")


def solve_named(problem: RoutingProblem, solver: str, time_limit_s: float) -> RoutePlan:
    """Solve with a solver chosen by name (one of ``SOLVERS``), as the CLI and the benchmark
    offer them: tuned OR-Tools, plain OR-Tools, or the constructive baseline."""
    if solver not in SOLVERS:
        raise ProblemError(f"solver {solver!r} is not one of {', '.join(SOLVERS)}")
    if solver == "baseline":
        return solve_baseline(problem)
    search = "plain" if solver == "ortools-plain" else "tuned"
    return solve_ortools(problem, RoutingParams(time_limit_s=time_limit_s, search=search))
