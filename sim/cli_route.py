"""The ``omnifulfil route`` command: solve one Solomon or VRPLIB instance file and show the plan.

Reads the file with ``optimizer.instances``, solves it with OR-Tools (tuned or plain) or the
baseline heuristic, checks the plan with the independent checker, and prints the routes
(customer numbers as in the file) as a rich table or as JSON. A bad file or option is one
message on stderr and exit code 2, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from optimizer.errors import ProblemError
from optimizer.feasibility import check_plan
from optimizer.instances import read_instance
from optimizer.routing import SOLVERS, solve_named


def route(
    file: Annotated[Path, typer.Argument(help="Solomon .txt or VRPLIB .vrp instance file")],
    time_limit: Annotated[float, typer.Option(help="OR-Tools search budget, seconds")] = 10,
    json_out: Annotated[bool, typer.Option("--json", help="print JSON instead of a table")] = False,
    solver: Annotated[str, typer.Option(help="ortools, ortools-plain or baseline")] = "ortools",
) -> None:
    """Solve a VRP instance file and print routes, vehicles, distance and the feasibility check."""
    err = Console(stderr=True)
    if solver not in SOLVERS:
        err.print(f"error: --solver {solver!r} is not one of {', '.join(SOLVERS)}")
        raise typer.Exit(2)
    try:
        inst = read_instance(file)
        plan = solve_named(inst.problem, solver, time_limit)
    except ProblemError as exc:
        err.print(f"error: {exc}", markup=False, highlight=False)
        raise typer.Exit(2) from None
    violations = check_plan(inst.problem, plan)
    ids = inst.customer_ids
    routes = [
        {
            "vehicle": r.vehicle_id,
            "customers": [ids[s] for s in r.stops],
            "distance": round(r.distance_km, 4),
            "load": float(sum(inst.problem.demand[s] for s in r.stops)),
        }
        for r in plan.routes
    ]
    result = {
        "instance": inst.name,
        "solver": plan.solver,
        "vehicles": len(plan.routes),
        "distance": round(plan.distance_km, 4),
        "dropped": [ids[s] for s in plan.dropped],
        "feasible": not violations,
        "violations": violations,
        "solve_time_s": round(plan.solve_time_s, 3),
        "routes": routes,
    }
    if json_out:
        typer.echo(json.dumps(result, indent=2))
        return
    out = Console()
    table = Table(title=f"{inst.name}: {plan.solver}")
    table.add_column("vehicle")
    table.add_column("customers")
    table.add_column("load", justify="right")
    table.add_column("distance", justify="right")
    for r in routes:
        table.add_row(
            str(r["vehicle"]),
            " ".join(str(c) for c in r["customers"]),
            f"{r['load']:g}",
            f"{r['distance']:.2f}",
        )
    out.print(table)
    out.print(
        f"vehicles {result['vehicles']}  total distance {plan.distance_km:.2f}  "
        f"dropped {len(plan.dropped)}  time {plan.solve_time_s:.1f} s"
    )
    if violations:
        out.print(f"[red]INFEASIBLE[/red]: {len(violations)} violations")
        for v in violations:
            out.print(f"  {v}", markup=False)
    else:
        out.print("[green]feasible[/green] (independent check)")
