"""The public API shared by the CLI, the dashboard and the tests: one way to run a model."""

from __future__ import annotations

import pandas as pd

from sim.kpis import compute_kpis
from sim.ledger import check_conservation
from sim.model import ProgressCallback, build_world, run_world
from sim.results import Results
from sim.scenario import Scenario


def simulate(
    scenario: Scenario, replication: int = 0, progress: ProgressCallback | None = None
) -> Results:
    """Run one replication of a scenario and return its frames and KPIs."""
    world = run_world(build_world(scenario, replication), progress)
    start = pd.Timestamp(scenario.start)
    orders = world.ledger.orders_frame(world.net.ids, start)
    routes = world.ledger.routes_frame()
    problems = check_conservation(orders, routes)
    assert not problems, problems
    timeseries = pd.DataFrame(world.timeseries)
    timeseries["t"] = start + pd.to_timedelta(timeseries["t_min"], unit="min")
    kpis = compute_kpis(
        scenario, orders, routes, world.ledger.walk_in_lines, world.ledger.walk_in_lines_lost
    )
    return Results(scenario, replication, orders, routes, timeseries, kpis)
