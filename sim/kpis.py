"""Headline figures of a run, computed from its frames (orders created after warm-up).

Pure functions: frames and the scenario in, a flat ``dict[str, float]`` out, so the CLI,
the dashboard, experiments and tests all read the same numbers.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from sim.ledger import COST_COMPONENTS
from sim.scenario import Scenario

CONFIRMED = ("delivered", "collected", "returned", "cancelled", "failed", "no_show", "lost", "open")


def _pct(part: float, whole: float) -> float:
    return float(100.0 * part / whole) if whole else float("nan")


def lead_time_hours(orders: pd.DataFrame) -> pd.Series:
    """Order to customer: delivery for home orders, ready-for-collection for C&C."""
    end = np.where(
        orders["channel"] == "home_delivery", orders["delivered_min"], orders["ready_min"]
    )
    return pd.Series((end - orders["created_min"]) / 60.0, index=orders.index)


def on_time(orders: pd.DataFrame, horizon_min: float) -> pd.Series:
    """Met the promise shown at checkout: 1 or 0 for orders whose promise fell due before
    the horizon (an order still not there when its promise passed counts as late), NaN for
    the others and for cancelled orders."""
    end = np.where(
        orders["channel"] == "home_delivery", orders["delivered_min"], orders["ready_min"]
    )
    promised = orders["promised_min"].to_numpy()
    met = np.where(np.isnan(end), 0.0, (end <= promised + 1e-9).astype(float))
    due = (promised <= horizon_min) | ~np.isnan(end)
    judged = due & (orders["status"] != "cancelled").to_numpy()
    return pd.Series(np.where(judged, met, np.nan), index=orders.index)


def add_experience(orders: pd.DataFrame) -> pd.DataFrame:
    """The customer-experience columns the satisfaction model reads (see :mod:`sim.csat`).

    Home orders are judged on delivery (or collection, when redirected to a store) against
    the promised deadline. Click & collect orders are judged on the ready time: early
    readiness counts as ``lateness_days`` < 0, late readiness as ``cc_ready_late_h``. Lost
    parcels count as cancelled (the customer gets a refund, not the goods). No-shows,
    lost sales and open orders have no experience to score (NaN).
    """
    out = orders.copy()
    home = out["channel"] == "home_delivery"
    end = np.where(home, out["delivered_min"].fillna(out["collected_min"]), out["ready_min"])
    late_min = end - out["promised_min"]
    scored = out["status"].isin(["delivered", "collected", "returned"]).to_numpy()
    late_min = np.where(scored, late_min, np.nan)
    out["lateness_days"] = np.where(home, late_min, np.minimum(late_min, 0.0)) / 1440.0
    out["cc_ready_late_h"] = np.where(home, 0.0, np.nan_to_num(np.maximum(late_min, 0.0)) / 60)
    out["lead_time_days"] = np.where(scored, end - out["created_min"], np.nan) / 1440.0
    out["cancelled"] = out["status"].isin(["cancelled", "lost"])
    out["desk_wait_min"] = out["desk_wait_min"].fillna(0.0)
    return out


def compute_kpis(
    scenario: Scenario,
    orders: pd.DataFrame,
    routes: pd.DataFrame,
    walk_in_lines: int = 0,
    walk_in_lines_lost: int = 0,
) -> dict[str, float]:
    o = orders[orders["created_min"] >= scenario.warmup_min]
    confirmed = o[o["status"].isin(CONFIRMED)]
    k: dict[str, float] = {"orders": len(o), "orders_confirmed": len(confirmed)}
    for channel, n in o["channel"].value_counts().sort_index().items():
        k[f"orders_{channel}"] = int(n)
    for status, n in o["status"].value_counts().sort_index().items():
        k[f"status_{status}"] = int(n)
    k["fill_rate_pct"] = _pct(len(confirmed), len(o))
    k["cancelled_pct"] = _pct((confirmed["status"] == "cancelled").sum(), len(confirmed))
    k["oversold_orders"] = int(confirmed["oversold"].sum())
    k["failed_attempts"] = int(confirmed["failed_attempts"].sum())
    k["open_at_horizon"] = int((confirmed["status"] == "open").sum())
    k["split_orders_pct"] = _pct(confirmed["split"].sum(), len(confirmed))
    lead = lead_time_hours(confirmed).dropna()
    for name, value in (
        ("mean", lead.mean()),
        ("p50", lead.quantile(0.5)),
        ("p90", lead.quantile(0.9)),
        ("p95", lead.quantile(0.95)),
    ):
        k[f"lead_time_h_{name}"] = float(value) if len(lead) else float("nan")
    met = on_time(confirmed, scenario.horizon_min).dropna()
    k["on_time_pct"] = _pct(met.sum(), len(met))
    for channel in ("home_delivery", "click_and_collect"):
        m = on_time(confirmed[confirmed["channel"] == channel], scenario.horizon_min).dropna()
        k[f"on_time_pct_{channel}"] = _pct(m.sum(), len(m))
    desk = confirmed["desk_wait_min"].dropna()
    k["desk_wait_min_mean"] = float(desk.mean()) if len(desk) else float("nan")
    total = confirmed[list(COST_COMPONENTS)].sum()
    n = max(len(confirmed), 1)
    k["cost_eur_total"] = float(total.sum())
    k["cost_per_order_eur"] = float(total.sum() / n)
    for comp, value in total.items():
        k[f"cost_per_order_{comp}"] = float(value / n)
    for channel in ("home_delivery", "click_and_collect"):
        c = confirmed[confirmed["channel"] == channel]
        k[f"cost_per_order_eur_{channel}"] = (
            float(c[list(COST_COMPONENTS)].sum().sum() / len(c)) if len(c) else float("nan")
        )
    r = routes[routes["start_min"] >= scenario.warmup_min] if len(routes) else routes
    k["routes"] = len(r)
    k["km_total"] = float(r["distance_km"].sum()) if len(r) else 0.0
    k["co2_kg_total"] = float(r["co2_kg"].sum()) if len(r) else 0.0
    if len(r):
        for vtype, g in r.groupby("vehicle_type"):
            k[f"km_{vtype}"] = float(g["distance_km"].sum())
            k[f"co2_kg_{vtype}"] = float(g["co2_kg"].sum())
    k["stops_per_route"] = float(r["n_stops"].mean()) if len(r) else float("nan")
    shift_min = sum(
        e.count * (e.shift_end_hour - e.shift_start_hour) * 60 for e in scenario.fleet
    ) * (scenario.horizon_days - scenario.warmup_days)
    k["courier_utilisation_pct"] = _pct(r["duration_min"].sum() if len(r) else 0.0, shift_min)
    k["walk_in_fill_rate_pct"] = _pct(walk_in_lines - walk_in_lines_lost, walk_in_lines)
    return k
