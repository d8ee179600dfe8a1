"""Every bundled scenario runs end to end (one day), and the CLI writes readable runs."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from sim.api import simulate
from sim.cli import app
from sim.results import read_results
from sim.scenario import load_scenario
from tests.sim.test_model import assert_ledger_invariants
from tests.sim.test_scenario import BUNDLED

SHORT = ["horizon_days=1", "warmup_days=0"]
runner = CliRunner()


@pytest.mark.parametrize("path", BUNDLED, ids=[p.stem for p in BUNDLED])
def test_bundled_scenario_runs_end_to_end(path: Path) -> None:
    results = simulate(load_scenario(path, SHORT))
    assert_ledger_invariants(results.orders, results.routes)
    k = results.kpis
    assert k["orders"] > 1000
    assert 0 < k["cost_per_order_eur"] < 50
    assert 0 <= k["csat_pct"] <= 100
    assert k["routes"] > 0


def test_run_writes_a_run_directory_that_reads_back(tmp_path: Path) -> None:
    scenario = BUNDLED[0]
    result = runner.invoke(
        app,
        [
            "run",
            str(scenario),
            "--set",
            "horizon_days=0.5",
            "--set",
            "warmup_days=0",
            "--quiet",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "Cost per order" in result.output
    (run,) = tmp_path.iterdir()
    back = read_results(run)
    assert back.scenario.horizon_days == 0.5
    again = simulate(back.scenario)
    pd.testing.assert_frame_equal(
        back.orders.drop(columns=[c for c in back.orders if c.endswith("_at")]),
        again.orders.drop(columns=[c for c in again.orders if c.endswith("_at")]),
        check_dtype=False,
    )


def test_compare_shows_scenarios_side_by_side(tmp_path: Path) -> None:
    a, b = (str(p) for p in BUNDLED[:2])
    result = runner.invoke(
        app, ["compare", a, b, "--set", "horizon_days=0.5", "--set", "warmup_days=0", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "Δ" in result.output


def test_cli_offers_every_command() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in ("validate", "run", "compare", "route", "csat"):
        assert command in result.output
