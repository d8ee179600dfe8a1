"""The ``omnifulfil`` command line: validate, run and compare scenarios.

User errors (a bad scenario, an unknown field, a missing file) print one message naming
the field and the fix and exit with status 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from optimizer.errors import ProblemError
from sim.api import simulate
from sim.cli_csat import csat_app
from sim.cli_route import route
from sim.errors import ScenarioError
from sim.results import Results, run_dir
from sim.scenario import Scenario, load_scenario

app = typer.Typer(
    help="omnifulfil: simulate and compare omnichannel fulfilment scenarios.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(csat_app, name="csat")
app.command("route")(route)
# Piped output (CI logs, files) gets a wide table instead of 80 squeezed columns.
console = Console(width=None if sys.stdout.isatty() else 200)
err_console = Console(stderr=True)

# (kpi key, label, format) of the headline table; absent keys are skipped.
HEADLINE = [
    ("orders", "Online orders", "{:,.0f}"),
    ("fill_rate_pct", "Fill rate (confirmed) %", "{:.1f}"),
    ("on_time_pct", "On time vs promise %", "{:.1f}"),
    ("on_time_pct_home_delivery", "  home delivery %", "{:.1f}"),
    ("on_time_pct_click_and_collect", "  click & collect ready %", "{:.1f}"),
    ("lead_time_h_mean", "Lead time mean h", "{:.1f}"),
    ("lead_time_h_p50", "Lead time p50 h", "{:.1f}"),
    ("lead_time_h_p90", "Lead time p90 h", "{:.1f}"),
    ("lead_time_h_p95", "Lead time p95 h", "{:.1f}"),
    ("cancelled_pct", "Cancelled after confirmation %", "{:.2f}"),
    ("oversold_orders", "Oversold orders", "{:,.0f}"),
    ("failed_attempts", "Failed delivery attempts", "{:,.0f}"),
    ("split_orders_pct", "Split orders %", "{:.1f}"),
    ("open_at_horizon", "Open at horizon", "{:,.0f}"),
    ("cost_per_order_eur", "Cost per order €", "{:.2f}"),
    ("cost_per_order_eur_home_delivery", "  home delivery €", "{:.2f}"),
    ("cost_per_order_eur_click_and_collect", "  click & collect €", "{:.2f}"),
    ("cost_per_order_pick_eur", "  picking €", "{:.2f}"),
    ("cost_per_order_delivery_eur", "  last mile €", "{:.2f}"),
    ("cost_per_order_transfer_eur", "  shuttle €", "{:.2f}"),
    ("km_total", "Courier km", "{:,.0f}"),
    ("co2_kg_total", "CO2 kg", "{:,.0f}"),
    ("courier_utilisation_pct", "Courier utilisation %", "{:.1f}"),
    ("desk_wait_min_mean", "Collection desk wait min", "{:.1f}"),
    ("walk_in_fill_rate_pct", "Walk-in fill rate %", "{:.1f}"),
    ("csat_pct", "CSAT (4-5 stars) %", "{:.1f}"),
    ("mean_score", "Mean review score", "{:.2f}"),
    ("dissatisfied_pct", "Dissatisfied (1-2 stars) %", "{:.1f}"),
    ("nps_like", "NPS-like (5 minus 1-3 stars)", "{:.1f}"),
    ("churned_customers", "Customers lost (expected)", "{:,.1f}"),
    ("revenue_at_risk_eur", "Revenue at risk €", "{:,.0f}"),
]

MAX_DELTA_SCENARIOS = 4

SetOption = Annotated[
    list[str] | None,
    typer.Option("--set", help="Override a field: path.to.field=value (repeatable)."),
]


@contextlib.contextmanager
def user_errors() -> Iterator[None]:
    """Turn errors a user can cause into one message on stderr and exit status 2."""
    try:
        yield
    except (ScenarioError, ProblemError) as exc:
        err_console.print(
            f"[bold red]error:[/] {escape(str(exc))}", highlight=False, soft_wrap=True
        )
        raise typer.Exit(2) from None
    except KeyboardInterrupt:
        err_console.print("interrupted: runs already written are kept")
        raise typer.Exit(130) from None


def _load(file: Path, sets: list[str] | None, seed: int | None) -> Scenario:
    overrides = list(sets or [])
    if seed is not None:
        overrides.append(f"seed={seed}")
    return load_scenario(file, overrides)


def _fmt(value: float | None, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return fmt.format(value)


def _simulate_with_progress(scenario: Scenario, label: str, quiet: bool) -> Results:
    if quiet:
        return simulate(scenario)
    with Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("day {task.completed:.0f}/{task.total:.0f}"),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    ) as bar:
        task = bar.add_task(label, total=scenario.horizon_days)
        return simulate(scenario, progress=lambda t, _h: bar.update(task, completed=t / 1440))


def kpi_table(names: list[str], kpis: list[dict[str, float]]) -> Table:
    """Headline KPIs side by side, and for two to four scenarios the change of each against
    the first (more delta columns than that no longer fit a screen)."""
    deltas = 1 < len(names) <= MAX_DELTA_SCENARIOS
    table = Table(show_header=True, header_style="bold")
    table.add_column("KPI")
    for name in names:
        table.add_column(name, justify="right")
    for name in names[1:] if deltas else []:
        table.add_column(f"Δ {name}", justify="right")
    for key, label, fmt in HEADLINE:
        if not any(key in k for k in kpis):
            continue
        row = [label] + [_fmt(k.get(key), fmt) for k in kpis]
        base = kpis[0].get(key)
        for k in kpis[1:] if deltas else []:
            v = k.get(key)
            delta = None if v is None or base is None else v - base
            row.append(_fmt(delta, "{:+" + fmt[2:]) if delta is not None else "–")
        table.add_row(*row)
    return table


@app.command()
def validate(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    sets: SetOption = None,
) -> None:
    """Check a scenario file and print what it describes."""
    with user_errors():
        sc = _load(file, sets, None)
    n_vehicles = sum(e.count for e in sc.fleet)
    console.print(
        f"[green]ok[/] {file}: '{sc.name}', {len(sc.network.warehouses)} warehouses, "
        f"{len(sc.network.stores)} stores, {n_vehicles} vehicles, "
        f"{sc.demand.online_orders_per_day:,.0f} online orders/day, {sc.horizon_days:g} days, "
        f"allocation={sc.policies.allocation}, visibility={sc.visibility.mode}, "
        f"routing={sc.policies.routing}"
    )


@app.command()
def run(
    file: Annotated[Path, typer.Argument(help="Scenario YAML file.")],
    sets: SetOption = None,
    seed: Annotated[int | None, typer.Option(help="Override the scenario's seed.")] = None,
    out: Annotated[Path, typer.Option(help="Folder for run directories.")] = Path("runs"),
    quiet: Annotated[bool, typer.Option(help="No progress bar.")] = False,
) -> None:
    """Simulate one scenario, print its KPIs and write runs/<name>-<stamp>/."""
    with user_errors():
        sc = _load(file, sets, seed)
        results = _simulate_with_progress(sc, sc.name, quiet)
        directory = results.write(run_dir(out, sc.name))
    console.print(kpi_table([sc.name], [results.kpis]))
    console.print(f"written to {directory}")


@app.command()
def compare(
    files: Annotated[list[Path], typer.Argument(help="Two or more scenario files.")],
    sets: SetOption = None,
    seed: Annotated[int | None, typer.Option(help="Override every scenario's seed.")] = None,
    out: Annotated[Path | None, typer.Option(help="Also write each run here.")] = None,
    quiet: Annotated[bool, typer.Option(help="No progress bars.")] = False,
) -> None:
    """Run scenarios on the same seed (common random numbers) and show KPIs side by side."""
    names: list[str] = []
    kpis: list[dict[str, float]] = []
    with user_errors():
        scenarios = [_load(f, sets, seed) for f in files]  # validate all before running any
        for sc in scenarios:
            results = _simulate_with_progress(sc, sc.name, quiet)
            names.append(sc.name)
            kpis.append(results.kpis)
            if out is not None:
                results.write(run_dir(out, sc.name))
    console.print(kpi_table(names, kpis))


def main() -> None:
    """Console-script entry point."""
    app()
