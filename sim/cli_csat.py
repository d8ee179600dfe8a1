"""``omnifulfil csat …``: calibrate the customer-satisfaction model on the Olist data."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Annotated

import pandas as pd
import typer
from rich.console import Console
from rich.table import Table

from sim.csat import CsatModel
from sim.csat_calibration import GOAL_MIN_ORDERS, CalibrationDataError, calibrate

csat_app = typer.Typer(help="Customer satisfaction model: calibration on real review data.")


@csat_app.callback()
def _csat() -> None:
    """Customer satisfaction model: calibration on real review data."""


def _number(value: float, spec: str) -> str:
    return "" if math.isnan(value) else format(value, spec)


def diagnostics_table(frame: pd.DataFrame, title: str) -> Table:
    """Observed vs predicted by lateness bucket, as a rich table."""
    table = Table(
        title=title,
        caption="mean score and share of 1–2★ (%), observed vs predicted; goal ±0.10★ if n ≥ 200",
    )
    table.add_column("lateness d", no_wrap=True)
    for header in ("n", "obs mean", "pred mean", "diff", "obs 1–2★", "pred 1–2★"):
        table.add_column(header, justify="right")
    table.add_column("goal", no_wrap=True)
    for row in frame.itertuples(index=False):
        goal = {True: "[green]met", False: "[red]missed", None: f"n < {GOAL_MIN_ORDERS}"}
        table.add_row(
            row.bucket,
            str(row.n),
            _number(row.observed_mean, ".3f"),
            _number(row.predicted_mean, ".3f"),
            _number(row.diff_mean, "+.3f"),
            _number(row.observed_dissatisfied_pct, ".1f"),
            _number(row.predicted_dissatisfied_pct, ".1f"),
            goal[row.meets_goal],
        )
    return table


@csat_app.command("calibrate")
def calibrate_command(
    data: Annotated[
        Path, typer.Option("--data", help="Folder holding the Olist orders_reviews.csv.gz.")
    ],
    out: Annotated[Path, typer.Option("--out", help="Parameter file (JSON) to write.")],
) -> None:
    """Fit lateness, lead-time and cancellation effects; print diagnostics; write the file."""
    console = Console()
    errors = Console(stderr=True, soft_wrap=True)
    try:
        result = calibrate(data)
    except CalibrationDataError as error:
        errors.print(f"error: {error}", markup=False, highlight=False)
        raise typer.Exit(code=2) from None
    console.print(diagnostics_table(result.calibration, "Calibration split (fitted)"))
    console.print(diagnostics_table(result.validation, "Validation split (held out)"))
    try:
        out.write_text(CsatModel(result.params).to_json(), encoding="utf-8")
    except OSError as error:
        errors.print(f"error: cannot write {out}: {error}", markup=False, highlight=False)
        raise typer.Exit(code=2) from None
    console.print(
        f"wrote {out} ({result.params.calibration.n_orders} orders fitted, "
        f"{result.iterations} iterations)",
        markup=False,
        highlight=False,
    )
