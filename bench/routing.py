"""Routing benchmark: OR-Tools (tuned and plain) and PyVRP on Solomon's 56 VRPTW instances.

Usage: ``python bench/routing.py [--time-limit 10] [--instances R1,C101] [--out runs/x.csv]``

For every instance in ``../shared/data/solomon`` (beside the project root) and every solver,
at the same wall-clock budget, one after the other (``--jobs 1`` only, so timings are
honest): total distance, vehicles, gap to the best-known distance, and feasibility checked
by the independent Solomon checker (``optimizer.feasibility.check_solomon``, double-precision
Euclidean distance). Gaps are against the **hierarchical** best-known solutions (fewest
vehicles, then distance, double precision: ``hier_distance`` in ``bks.csv``), the right
reference for a double-precision solver. Every solver here minimises distance only, with
up to 25 vehicles, so it may beat ``hier_distance`` by using more vehicles than
``hier_vehicles``: the table reports vehicles beside the gap. Interrupting (Ctrl-C) prints
the summary of the instances that finished.
"""

from __future__ import annotations

import argparse
import csv
import math
import sys
import time
from dataclasses import dataclass
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]
if str(PROJECT_ROOT) not in sys.path:
    sys.path.insert(0, str(PROJECT_ROOT))

from optimizer.feasibility import check_plan, check_solomon  # noqa: E402
from optimizer.instances import BestKnown, Instance, read_bks, read_solomon  # noqa: E402
from optimizer.routing import solve_named  # noqa: E402

SOLOMON_DIR = PROJECT_ROOT.parent / "shared" / "data" / "solomon"
CLASSES = ("C1", "C2", "R1", "R2", "RC1", "RC2")
PYVRP_SCALE = 1000  # PyVRP takes integers: distances x1000 rounded, durations x1000 rounded up


@dataclass(frozen=True)
class Result:
    instance: str
    instance_class: str
    solver: str
    distance: float
    vehicles: int
    bks_distance: float
    bks_vehicles: int
    feasible: bool
    seconds: float

    @property
    def gap_pct(self) -> float:
        return 100.0 * (self.distance / self.bks_distance - 1.0)


def solve_pyvrp(inst: Instance, time_limit_s: float) -> list[list[int]]:
    """PyVRP's HGS on the instance, scaled to integers conservatively; routes as customer ids."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    p = inst.problem
    v = p.vehicles[0]
    m = Model()
    x, y = inst.coords[0]
    depot = m.add_depot(
        m.add_location(x=float(x), y=float(y)),
        tw_early=math.ceil(v.shift_start_min * PYVRP_SCALE),
        tw_late=math.floor(v.shift_end_min * PYVRP_SCALE),
    )
    m.add_vehicle_type(
        num_available=len(p.vehicles),
        capacity=round(v.capacity),
        start_depot=depot,
        end_depot=depot,
        tw_early=math.ceil(v.shift_start_min * PYVRP_SCALE),
        tw_late=math.floor(v.shift_end_min * PYVRP_SCALE),
    )
    clients = []
    for i in range(p.n_stops):
        cx, cy = inst.coords[p.stop_location[i]]
        clients.append(
            m.add_client(
                m.add_location(x=float(cx), y=float(cy)),
                delivery=round(p.demand[i]),
                service_duration=math.ceil(p.service_min[i] * PYVRP_SCALE),
                tw_early=math.ceil(p.tw_start_min[i] * PYVRP_SCALE),
                tw_late=math.floor(p.tw_end_min[i] * PYVRP_SCALE),
            )
        )
    locations = m.locations
    loc_index = [0, *(int(p.stop_location[i]) for i in range(p.n_stops))]
    for a, frm in enumerate(locations):
        for b, to in enumerate(locations):
            d = float(p.distance_km[loc_index[a], loc_index[b]])
            m.add_edge(
                frm, to, distance=round(d * PYVRP_SCALE), duration=math.ceil(d * PYVRP_SCALE)
            )
    res = m.solve(stop=MaxRuntime(time_limit_s), seed=0, display=False)
    # A route lists its depot visits too; a client activity's idx is the 0-based client index.
    return [
        [inst.customer_ids[a.idx] for a in route if a.is_client()] for route in res.best.routes()
    ]


def run_one(inst: Instance, best: BestKnown, solver: str, time_limit_s: float) -> Result:
    t0 = time.perf_counter()
    if solver == "pyvrp":
        routes = solve_pyvrp(inst, time_limit_s)
        own_ok = True
    else:
        plan = solve_named(inst.problem, solver, time_limit_s)
        routes = [[inst.customer_ids[s] for s in r.stops] for r in plan.routes]
        own_ok = not check_plan(inst.problem, plan) and not plan.dropped
    seconds = time.perf_counter() - t0
    check = check_solomon(inst, routes)
    return Result(
        instance=inst.name,
        instance_class=best.instance_class,
        solver=solver,
        distance=check.distance,
        vehicles=check.vehicles,
        bks_distance=best.hier_distance,
        bks_vehicles=best.hier_vehicles,
        feasible=own_ok and not check.violations,
        seconds=seconds,
    )


def summary(results: list[Result], solvers: list[str]) -> str:
    """Per class and overall: mean and max gap, vehicles used vs best-known, infeasible count."""
    lines = [
        "Gap = distance / hierarchical best-known distance (SINTEF/LKH-3, double precision) - 1.",
        "Vehicles: total used / total in the hierarchical best-known solutions.",
        "",
        f"{'class':<8}{'solver':<16}{'n':>4}{'mean gap %':>12}{'max gap %':>11}"
        f"{'vehicles':>14}{'infeasible':>12}{'mean s':>8}",
    ]
    for cls in (*CLASSES, "all"):
        for solver in solvers:
            rows = [r for r in results if r.solver == solver and cls in ("all", r.instance_class)]
            if not rows:
                continue
            gaps = [r.gap_pct for r in rows]
            veh = f"{sum(r.vehicles for r in rows)}/{sum(r.bks_vehicles for r in rows)}"
            lines.append(
                f"{cls:<8}{solver:<16}{len(rows):>4}{sum(gaps) / len(gaps):>12.2f}"
                f"{max(gaps):>11.2f}{veh:>14}{sum(not r.feasible for r in rows):>12}"
                f"{sum(r.seconds for r in rows) / len(rows):>8.1f}"
            )
        lines.append("")
    if {"ortools", "ortools-plain"} <= set(solvers):
        lines.append(_tuned_vs_plain(results))
    return "\n".join(lines)


def _tuned_vs_plain(results: list[Result]) -> str:
    """Per class, the tuned preset's mean gap minus the plain one's (the goal: < 0 everywhere)."""
    parts = []
    for cls in CLASSES:
        mean = {}
        for solver in ("ortools", "ortools-plain"):
            gaps = [r.gap_pct for r in results if r.solver == solver and r.instance_class == cls]
            if gaps:
                mean[solver] = sum(gaps) / len(gaps)
        if len(mean) == 2:
            parts.append(f"{cls} {mean['ortools'] - mean['ortools-plain']:+.2f}")
    return "tuned - plain, mean gap points per class: " + ", ".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--time-limit", type=float, default=10.0, help="seconds per instance")
    parser.add_argument(
        "--instances", default="", help="comma-separated names or prefixes (R1, C101, RC2)"
    )
    parser.add_argument("--jobs", type=int, default=1, help="only 1: timings must be honest")
    parser.add_argument(
        "--solvers",
        default="ortools,ortools-plain,pyvrp",
        help="comma-separated: ortools, ortools-plain, pyvrp, baseline",
    )
    parser.add_argument("--out", type=Path, help="write per-instance results to this CSV")
    args = parser.parse_args(argv)
    if args.jobs != 1:
        print(
            "--jobs must be 1: solvers share the machine and timings must be honest",
            file=sys.stderr,
        )
        return 2
    if not SOLOMON_DIR.is_dir():
        print(f"Solomon instances not found at {SOLOMON_DIR}", file=sys.stderr)
        return 2
    solvers = [s.strip() for s in args.solvers.split(",") if s.strip()]
    unknown = set(solvers) - {"ortools", "ortools-plain", "pyvrp", "baseline"}
    if unknown:
        print(f"unknown solvers {sorted(unknown)}", file=sys.stderr)
        return 2
    if "pyvrp" in solvers:
        try:
            import pyvrp  # noqa: F401
        except ImportError:
            print("pyvrp not installed (optional 'bench' extra): skipping it", file=sys.stderr)
            solvers.remove("pyvrp")
    bks = read_bks(SOLOMON_DIR / "bks.csv")
    wanted = [w.strip().upper() for w in args.instances.split(",") if w.strip()]
    files = [
        f
        for f in sorted(SOLOMON_DIR.glob("*.txt"))
        if not wanted or any(f.stem.upper().startswith(w) for w in wanted)
    ]
    if not files:
        print(f"no instance matches {args.instances!r}", file=sys.stderr)
        return 2
    print(
        f"{len(files)} instances x {len(solvers)} solvers at {args.time_limit:g} s each, "
        f"one at a time",
        flush=True,
    )
    results: list[Result] = []
    try:
        for path in files:
            inst = read_solomon(path)
            for solver in solvers:
                r = run_one(inst, bks[inst.name], solver, args.time_limit)
                results.append(r)
                print(
                    f"{r.instance:<7}{r.solver:<16}{r.distance:>10.2f}  gap {r.gap_pct:>6.2f}%  "
                    f"vehicles {r.vehicles:>2}/{r.bks_vehicles:<2}  "
                    f"{'feasible' if r.feasible else 'INFEASIBLE'}  {r.seconds:.1f}s",
                    flush=True,
                )
    except KeyboardInterrupt:
        print("\ninterrupted: summary of the instances that finished", flush=True)
    print()
    print(summary(results, solvers))
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        with args.out.open("w", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow([*Result.__dataclass_fields__, "gap_pct"])
            for r in results:
                writer.writerow([*r.__dict__.values(), f"{r.gap_pct:.4f}"])
    return 0 if all(r.feasible for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
