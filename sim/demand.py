"""Demand: the catalogue, online orders and in-store walk-ins, generated before the run.

Everything here is drawn up front from its own streams, so it depends on the scenario's
demand side and the seed only, never on policy: two policies see the same orders, the
same baskets, and the same customer behaviour (who is not at home, who never collects,
who returns). Online orders come from a non-homogeneous Poisson process (hour-of-day and
weekday profiles, demand disruptions) or are replayed from a CSV of real orders.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from sim.errors import ScenarioError
from sim.scenario import Scenario

HOME, CC = 0, 1
CHANNEL_NAMES = {HOME: "home_delivery", CC: "click_and_collect"}
_KM_PER_DEG_LAT = 111.32


@dataclass(frozen=True)
class Catalogue:
    """SKU popularity (probabilities summing to 1, rank order) and unit prices."""

    popularity: np.ndarray
    price_eur: np.ndarray

    @property
    def n_skus(self) -> int:
        return len(self.popularity)


@dataclass(frozen=True)
class Baskets:
    """Lines of many baskets in CSR form: basket i owns lines ``ptr[i]:ptr[i+1]``."""

    ptr: np.ndarray
    sku: np.ndarray
    qty: np.ndarray

    def lines(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        a, b = self.ptr[i], self.ptr[i + 1]
        return self.sku[a:b], self.qty[a:b]


@dataclass(frozen=True)
class OrderBook:
    """All online orders of a replication, sorted by creation time, with the behaviour
    draws of their customers (uniforms and delays, one set per order)."""

    created_min: np.ndarray
    channel: np.ndarray
    lat: np.ndarray
    lon: np.ndarray
    zone: np.ndarray
    baskets: Baskets
    value_eur: np.ndarray
    u_not_home: np.ndarray  # (n, max_attempts)
    u_lost: np.ndarray
    u_no_show: np.ndarray
    collection_delay_min: np.ndarray
    u_return: np.ndarray
    return_delay_min: np.ndarray
    desk_service_exp: np.ndarray  # unit-mean exponential, scaled by the desk's service time
    u_accept_alternative: np.ndarray

    def __len__(self) -> int:
        return len(self.created_min)


@dataclass(frozen=True)
class WalkIns:
    """In-store shoppers of one store: arrival times and baskets."""

    arrival_min: np.ndarray
    baskets: Baskets


def make_catalogue(scenario: Scenario, rng: np.random.Generator) -> Catalogue:
    cat = scenario.catalogue
    ranks = np.arange(1, cat.n_skus + 1, dtype=float)
    weights = ranks ** (-cat.zipf_exponent)
    price = rng.lognormal(np.log(cat.price_eur_median), cat.price_sigma, cat.n_skus)
    return Catalogue(weights / weights.sum(), np.round(price, 2))


def hourly_rate(scenario: Scenario, per_day: float, target: str | None = None) -> np.ndarray:
    """Expected arrivals in each hour of the horizon, with demand disruptions applied."""
    d = scenario.demand
    n_hours = int(np.ceil(scenario.horizon_days * 24))
    hours = np.arange(n_hours)
    hour_w = np.asarray(d.hour_profile) / np.sum(d.hour_profile)
    week_w = np.asarray(d.weekday_profile) / np.mean(d.weekday_profile)
    weekday = (scenario.start.weekday() + hours // 24) % 7
    rate = per_day * hour_w[hours % 24] * week_w[weekday]
    mid_min = hours * 60.0 + 30.0
    for dis in scenario.disruptions:
        if dis.kind == "demand_multiplier" and dis.target in (None, target):
            a = (dis.start - scenario.start).total_seconds() / 60
            b = (dis.end - scenario.start).total_seconds() / 60
            rate = np.where((mid_min >= a) & (mid_min < b), rate * dis.value, rate)
    return rate


def poisson_times(rate_per_hour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Arrival minutes of a Poisson process with piecewise-constant hourly rate."""
    counts = rng.poisson(rate_per_hour)
    hour_of = np.repeat(np.arange(len(counts)), counts)
    return np.sort(hour_of * 60.0 + rng.uniform(0.0, 60.0, len(hour_of)))


def draw_baskets(
    n: int, lines_mean: float, units_mean: float, catalogue: Catalogue, rng: np.random.Generator
) -> Baskets:
    """n baskets: 1 + Poisson lines of distinct SKUs drawn by popularity, 1 + Poisson units."""
    n_lines = 1 + rng.poisson(lines_mean - 1.0, n)
    n_lines = np.minimum(n_lines, catalogue.n_skus)
    ptr = np.concatenate([[0], np.cumsum(n_lines)])
    cdf = np.cumsum(catalogue.popularity)
    sku = np.searchsorted(cdf, rng.uniform(0, cdf[-1], ptr[-1]), side="right")
    sku = np.minimum(sku, catalogue.n_skus - 1)
    # A basket holds distinct SKUs: a repeated draw moves to the next-ranked SKU not taken.
    for i in np.flatnonzero(n_lines > 1):
        lines = sku[ptr[i] : ptr[i + 1]]
        if len(np.unique(lines)) < len(lines):
            taken: set[int] = set()
            for j in range(len(lines)):
                s = int(lines[j])
                while s in taken:
                    s = (s + 1) % catalogue.n_skus
                taken.add(s)
                lines[j] = s
    qty = 1 + rng.poisson(units_mean - 1.0, ptr[-1])
    return Baskets(ptr, sku.astype(np.int64), qty.astype(np.int64))


def _zone_points(
    scenario: Scenario, n: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    zones = scenario.demand.zones
    w = np.array([z.weight for z in zones])
    zone = rng.choice(len(zones), size=n, p=w / w.sum())
    c_lat = np.array([z.lat for z in zones])[zone]
    c_lon = np.array([z.lon for z in zones])[zone]
    r_km = np.array([z.radius_km for z in zones])[zone] * np.sqrt(rng.uniform(0, 1, n))
    theta = rng.uniform(0, 2 * np.pi, n)
    lat = c_lat + r_km * np.cos(theta) / _KM_PER_DEG_LAT
    lon = c_lon + r_km * np.sin(theta) / (_KM_PER_DEG_LAT * np.cos(np.radians(c_lat)))
    return lat, lon, zone


def _behaviour(scenario: Scenario, n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    c = scenario.customers
    return {
        "u_not_home": rng.uniform(size=(n, c.max_attempts)),
        "u_lost": rng.uniform(size=n),
        "u_no_show": rng.uniform(size=n),
        "collection_delay_min": rng.exponential(c.collection_delay_hours_mean * 60.0, n),
        "u_return": rng.uniform(size=n),
        "return_delay_min": rng.exponential(c.return_delay_days_mean * 1440.0, n),
        "desk_service_exp": rng.exponential(1.0, n),
        "u_accept_alternative": rng.uniform(size=n),
    }


def generate_orders(
    scenario: Scenario,
    catalogue: Catalogue,
    demand_rng: np.random.Generator,
    basket_rng: np.random.Generator,
    behaviour_rng: np.random.Generator,
) -> OrderBook:
    """The replication's online orders: replayed from CSV if the scenario names one."""
    if scenario.demand.replay_csv is not None:
        created, channel, lat, lon, baskets = read_replay_csv(scenario, catalogue)
        zone = np.full(len(created), -1)
    else:
        d = scenario.demand
        created = poisson_times(hourly_rate(scenario, d.online_orders_per_day), demand_rng)
        n = len(created)
        channel = np.where(demand_rng.uniform(size=n) < d.click_and_collect_share, CC, HOME)
        lat, lon, zone = _zone_points(scenario, n, demand_rng)
        baskets = draw_baskets(
            n, d.lines_per_order_mean, d.units_per_line_mean, catalogue, basket_rng
        )
    n = len(created)
    value = (
        np.add.reduceat(catalogue.price_eur[baskets.sku] * baskets.qty, baskets.ptr[:-1])
        if n
        else np.zeros(0)
    )
    return OrderBook(
        created_min=created,
        channel=channel.astype(np.int8),
        lat=lat,
        lon=lon,
        zone=zone,
        baskets=baskets,
        value_eur=np.round(value, 2),
        **_behaviour(scenario, n, behaviour_rng),
    )


def generate_walk_ins(
    scenario: Scenario, catalogue: Catalogue, rng: np.random.Generator
) -> dict[str, WalkIns]:
    """In-store shoppers per store, arriving only while the store is open."""
    out: dict[str, WalkIns] = {}
    n_hours = int(np.ceil(scenario.horizon_days * 24))
    hour_of_day = np.arange(n_hours) % 24 + 0.5
    for store in scenario.network.stores:
        open_mask = (hour_of_day >= store.open_hour) & (hour_of_day < store.close_hour)
        open_hours = store.close_hour - store.open_hour
        # Walk-ins follow the store's own day: flat over opening hours, weekday-weighted.
        flat = np.where(open_mask, store.walk_ins_per_day / open_hours, 0.0)
        week = np.asarray(scenario.demand.weekday_profile)
        weekday = (scenario.start.weekday() + np.arange(n_hours) // 24) % 7
        rate = flat * (week / week.mean())[weekday]
        times = poisson_times(rate, rng)
        baskets = draw_baskets(len(times), scenario.demand.walk_in_lines_mean, 1.0, catalogue, rng)
        out[store.id] = WalkIns(times, baskets)
    return out


def read_replay_csv(
    scenario: Scenario, catalogue: Catalogue
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, Baskets]:
    """Orders from a CSV with columns timestamp, lat, lon, channel, skus.

    ``channel`` is ``home_delivery`` or ``click_and_collect``; ``skus`` lists catalogue
    indices separated by ``;``, each optionally ``sku:qty``. Rows outside the horizon are
    ignored.
    """
    path = Path(str(scenario.demand.replay_csv))
    where = f"demand.replay_csv ({path})"
    try:
        frame = pd.read_csv(path, dtype={"skus": str, "channel": str})
    except (OSError, pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as e:
        raise ScenarioError(f"{where}: cannot read it as CSV: {e}") from None
    missing = {"timestamp", "lat", "lon", "channel", "skus"} - set(frame.columns)
    if missing:
        raise ScenarioError(f"{where}: missing columns {sorted(missing)}; add them to the header")
    ts = pd.to_datetime(frame["timestamp"], errors="coerce")
    if ts.isna().any():
        row = int(np.flatnonzero(ts.isna().to_numpy())[0]) + 2
        raise ScenarioError(f"{where}: line {row}: timestamp is not a date-time (use ISO 8601)")
    minutes = ((ts - pd.Timestamp(scenario.start)).dt.total_seconds() / 60).to_numpy()
    keep = (minutes >= 0) & (minutes < scenario.horizon_min)
    frame, minutes = frame[keep], minutes[keep]
    channel_map = {"home_delivery": HOME, "click_and_collect": CC}
    bad = ~frame["channel"].isin(channel_map)
    if bad.any():
        raise ScenarioError(
            f"{where}: channel {frame['channel'][bad].iloc[0]!r} unknown; "
            "use home_delivery or click_and_collect"
        )
    skus: list[int] = []
    qtys: list[int] = []
    ptr = [0]
    for row_no, text in zip(frame.index, frame["skus"].fillna(""), strict=True):
        for item in filter(None, (s.strip() for s in text.split(";"))):
            sku_s, _, qty_s = item.partition(":")
            try:
                sku, qty = int(sku_s), int(qty_s or 1)
            except ValueError:
                raise ScenarioError(
                    f"{where}: line {row_no + 2}: skus entry {item!r} is not sku or sku:qty"
                ) from None
            if not 0 <= sku < catalogue.n_skus or qty <= 0:
                raise ScenarioError(
                    f"{where}: line {row_no + 2}: SKU {sku} (qty {qty}) is outside the "
                    f"catalogue 0..{catalogue.n_skus - 1} or qty ≤ 0"
                )
            skus.append(sku)
            qtys.append(qty)
        if len(skus) == ptr[-1]:
            raise ScenarioError(f"{where}: line {row_no + 2}: the order has no SKUs")
        ptr.append(len(skus))
    order = np.argsort(minutes, kind="stable")
    baskets = Baskets(np.asarray(ptr), np.asarray(skus, dtype=np.int64), np.asarray(qtys))
    if len(order) and not (order == np.arange(len(order))).all():
        raise ScenarioError(f"{where}: rows must be sorted by timestamp")
    return (
        minutes,
        frame["channel"].map(channel_map).to_numpy(),
        frame["lat"].to_numpy(float),
        frame["lon"].to_numpy(float),
        baskets,
    )
