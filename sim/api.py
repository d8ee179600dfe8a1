"""The public API shared by the CLI, the dashboard and the tests: one way to run a model."""

from __future__ import annotations

import pandas as pd

from sim.csat import CsatModel, csat_kpis, score_orders
from sim.errors import ScenarioError
from sim.kpis import add_experience, compute_kpis
from sim.ledger import check_conservation
from sim.model import ProgressCallback, build_world, run_world
from sim.results import Results
from sim.scenario import Scenario


def simulate(
    scenario: Scenario, replication: int = 0, progress: ProgressCallback | None = None
) -> Results:
    """Run one replication of a scenario and return its frames and KPIs."""
    csat_model = satisfaction_model(scenario)
    world = run_world(build_world(scenario, replication), progress)
    start = pd.Timestamp(scenario.start)
    c = scenario.customers
    orders = score_orders(
        add_experience(world.ledger.orders_frame(world.net.ids, start)),
        csat_model,
        c.p_churn_given_dissatisfied,
        c.customer_lifetime_value_eur,
    )
    routes = world.ledger.routes_frame()
    problems = check_conservation(orders, routes)
    assert not problems, problems
    timeseries = pd.DataFrame(world.timeseries)
    timeseries["t"] = start + pd.to_timedelta(timeseries["t_min"], unit="min")
    kpis = compute_kpis(
        scenario, orders, routes, world.ledger.walk_in_lines, world.ledger.walk_in_lines_lost
    )
    after_warmup = orders[orders["created_min"] >= scenario.warmup_min]
    kpis |= csat_kpis(after_warmup, c.customer_lifetime_value_eur)
    return Results(scenario, replication, orders, routes, timeseries, kpis)


def satisfaction_model(scenario: Scenario) -> CsatModel:
    """The shipped satisfaction model with the scenario's overrides."""
    try:
        return CsatModel.load_default().with_overrides(scenario.customers.csat_overrides)
    except ValueError as exc:
        raise ScenarioError(f"customers.csat_overrides: {exc}") from None
