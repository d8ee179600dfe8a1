"""A run's results: frames, KPIs and the resolved scenario, and their files in ``runs/``.

A run directory holds ``orders.parquet``, ``routes.parquet``, ``timeseries.parquet``,
``kpis.json`` and ``scenario.yaml`` (the scenario as it was run, defaults filled in).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pandas as pd

from sim.errors import ScenarioError
from sim.scenario import Scenario, scenario_from_dict, scenario_to_yaml


@dataclass(frozen=True)
class Results:
    scenario: Scenario
    replication: int
    orders: pd.DataFrame
    routes: pd.DataFrame
    timeseries: pd.DataFrame
    kpis: dict[str, float]

    def write(self, directory: Path) -> Path:
        """Write the run to ``directory`` (created); returns it."""
        directory.mkdir(parents=True, exist_ok=True)
        self.orders.to_parquet(directory / "orders.parquet", index=False)
        self.routes.to_parquet(directory / "routes.parquet", index=False)
        self.timeseries.to_parquet(directory / "timeseries.parquet", index=False)
        clean = {
            k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in self.kpis.items()
        }
        meta = {"scenario": self.scenario.name, "replication": self.replication, "kpis": clean}
        (directory / "kpis.json").write_text(json.dumps(meta, indent=2), encoding="utf-8")
        (directory / "scenario.yaml").write_text(scenario_to_yaml(self.scenario), encoding="utf-8")
        return directory


def run_dir(out: Path, name: str, when: datetime | None = None) -> Path:
    """``out/<name>-<YYYYmmdd-HHMMSS>``, with a suffix if that exists already."""
    stamp = (when or datetime.now()).strftime("%Y%m%d-%H%M%S")
    path = out / f"{name}-{stamp}"
    k = 1
    while path.exists():
        path = out / f"{name}-{stamp}-{k}"
        k += 1
    return path


def read_results(directory: Path) -> Results:
    """Load a run written by :meth:`Results.write`."""
    import yaml

    needed = [
        "orders.parquet",
        "routes.parquet",
        "timeseries.parquet",
        "kpis.json",
        "scenario.yaml",
    ]
    missing = [f for f in needed if not (directory / f).is_file()]
    if missing:
        raise ScenarioError(f"{directory}: not a run directory (missing {', '.join(missing)})")
    meta = json.loads((directory / "kpis.json").read_text(encoding="utf-8"))
    scenario = scenario_from_dict(
        yaml.safe_load((directory / "scenario.yaml").read_text(encoding="utf-8")),
        source=str(directory / "scenario.yaml"),
    )
    kpis = {k: (float("nan") if v is None else v) for k, v in meta["kpis"].items()}
    return Results(
        scenario=scenario,
        replication=int(meta["replication"]),
        orders=pd.read_parquet(directory / "orders.parquet"),
        routes=pd.read_parquet(directory / "routes.parquet"),
        timeseries=pd.read_parquet(directory / "timeseries.parquet"),
        kpis=kpis,
    )
