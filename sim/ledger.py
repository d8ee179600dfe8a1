"""The ledger: one record per order, per parcel and per courier route, and the checks
that every order is accounted for and that money balances.

An order ends in exactly one terminal status (``TERMINAL``) or is reported ``open`` with
the stage it was in at the horizon. Costs are booked on orders by component; route costs
are shared out over the parcels a route carried, so the two ledgers add up.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from sim.demand import CHANNEL_NAMES

TERMINAL = (
    "delivered",
    "collected",
    "returned",
    "cancelled",
    "failed",
    "no_show",
    "lost",
    "lost_sale",
)
COST_COMPONENTS = (
    "pick_eur",
    "handling_eur",
    "transfer_eur",
    "delivery_eur",
    "failed_attempt_eur",
    "lost_goods_eur",
    "desk_eur",
    "return_eur",
)


@dataclass(slots=True)
class OrderRecord:
    """One online order's life. ``stage`` says where an open order is."""

    id: int
    channel: int
    created_min: float
    value_eur: float
    n_lines: int
    n_units: int
    pickup_store: int = -1  # node index where a click & collect order is collected
    nodes: tuple[int, ...] = ()
    promised_min: float = np.nan
    ready_min: float = np.nan
    delivered_min: float = np.nan
    collected_min: float = np.nan
    returned_min: float = np.nan
    status: str = "open"
    stage: str = "created"
    cancel_reason: str = ""
    attempts: int = 0
    failed_attempts: int = 0
    oversold: bool = False
    ship_to_store: bool = False
    alternative_store: bool = False
    reallocated: bool = False
    redirected: bool = False
    locker: bool = False
    desk_wait_min: float = np.nan
    return_channel: str = ""
    return_refused: bool = False
    parcels_open: int = 0
    costs: dict[str, float] = field(default_factory=lambda: dict.fromkeys(COST_COMPONENTS, 0.0))

    def charge(self, component: str, amount_eur: float) -> None:
        self.costs[component] += amount_eur

    def finish(self, status: str) -> None:
        """Record a terminal status; an order can end only once."""
        assert status in TERMINAL, status
        assert self.status == "open" or (
            self.status in ("delivered", "collected") and status == "returned"
        ), f"order {self.id} already ended as {self.status}, cannot become {status}"
        self.status = status
        self.stage = status


@dataclass(slots=True)
class Parcel:
    """The lines of one order that one node fulfils (an order split over two nodes makes
    two parcels)."""

    order: OrderRecord
    node: int
    skus: np.ndarray
    qty: np.ndarray
    dest_loc: tuple[float, float]
    attempts: int = 0
    status: str = "picking"

    @property
    def units(self) -> int:
        return int(self.qty.sum())


@dataclass(slots=True)
class RouteRecord:
    route_id: int
    depot: str
    vehicle_id: str
    vehicle_type: str
    wave_min: float
    start_min: float
    end_min: float
    n_stops: int
    planned_distance_km: float
    distance_km: float
    duration_min: float
    cost_eur: float
    shift_cost_eur: float
    co2_kg: float
    solver: str


@dataclass
class Ledger:
    orders: list[OrderRecord] = field(default_factory=list)
    routes: list[RouteRecord] = field(default_factory=list)
    walk_in_lines: int = 0
    walk_in_lines_lost: int = 0
    events: dict[str, int] = field(default_factory=dict)

    def count(self, event: str, n: int = 1) -> None:
        self.events[event] = self.events.get(event, 0) + n

    def orders_frame(self, node_ids: list[str], start: pd.Timestamp) -> pd.DataFrame:
        rows = []
        for o in self.orders:
            row = {
                "order_id": o.id,
                "channel": CHANNEL_NAMES[o.channel],
                "created_min": o.created_min,
                "value_eur": o.value_eur,
                "n_lines": o.n_lines,
                "n_units": o.n_units,
                "nodes": ",".join(node_ids[n] for n in o.nodes),
                "pickup_store": node_ids[o.pickup_store] if o.pickup_store >= 0 else "",
                "promised_min": o.promised_min,
                "ready_min": o.ready_min,
                "delivered_min": o.delivered_min,
                "collected_min": o.collected_min,
                "returned_min": o.returned_min,
                "status": o.status,
                "stage": o.stage,
                "cancel_reason": o.cancel_reason,
                "attempts": o.attempts,
                "failed_attempts": o.failed_attempts,
                "oversold": o.oversold,
                "split": len(o.nodes) > 1,
                "ship_to_store": o.ship_to_store,
                "alternative_store": o.alternative_store,
                "reallocated": o.reallocated,
                "redirected": o.redirected,
                "locker": o.locker,
                "desk_wait_min": o.desk_wait_min,
                "return_channel": o.return_channel,
                "return_refused": o.return_refused,
            }
            row.update(o.costs)
            rows.append(row)
        frame = pd.DataFrame(rows, columns=_ORDER_COLUMNS)
        frame["total_cost_eur"] = frame[list(COST_COMPONENTS)].sum(axis=1)
        for col in ("created", "promised", "ready", "delivered", "collected", "returned"):
            frame[f"{col}_at"] = start + pd.to_timedelta(frame[f"{col}_min"], unit="min")
        return frame

    def routes_frame(self) -> pd.DataFrame:
        cols = list(RouteRecord.__dataclass_fields__)
        return pd.DataFrame([[getattr(r, c) for c in cols] for r in self.routes], columns=cols)


_ORDER_COLUMNS = [
    "order_id", "channel", "created_min", "value_eur", "n_lines", "n_units", "nodes",
    "pickup_store", "promised_min", "ready_min", "delivered_min", "collected_min",
    "returned_min", "status", "stage", "cancel_reason", "attempts", "failed_attempts",
    "oversold", "split", "ship_to_store", "alternative_store", "reallocated", "redirected",
    "locker", "desk_wait_min", "return_channel", "return_refused", *COST_COMPONENTS,
]  # fmt: skip


def check_conservation(orders: pd.DataFrame, routes: pd.DataFrame) -> list[str]:
    """Violations of the ledger's promises (empty when all hold)."""
    problems = []
    bad = ~orders["status"].isin([*TERMINAL, "open"])
    if bad.any():
        problems.append(f"{int(bad.sum())} orders have an unknown status")
    if orders["order_id"].duplicated().any():
        problems.append("an order appears twice")
    delivered_cost = float(orders["delivery_eur"].sum())
    route_cost = float(routes["cost_eur"].sum()) if len(routes) else 0.0
    if not np.isclose(delivered_cost, route_cost, rtol=1e-9, atol=1e-6):
        problems.append(
            f"route cost {route_cost:.2f} ≠ delivery cost booked on orders {delivered_cost:.2f}"
        )
    return problems
