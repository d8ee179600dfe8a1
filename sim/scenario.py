"""Scenario files: the pydantic models that validate them, their defaults, and loading.

A scenario is a YAML file. ``extends: other.yaml`` starts from another file (paths are
relative to the extending file; mappings merge key by key, lists replace), and
``--set path.to.field=value`` overrides apply last. Every error a user can make is
reported as one :class:`~sim.errors.ScenarioError` naming the field path and the fix.

Defaults are documented where they are declared; figures from published sources say so.
"""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sim.errors import ScenarioError

Hour = float  # hour of day, 0-24


class Strict(BaseModel):
    """Base for every scenario section: unknown fields are errors, objects are immutable."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class NodeBase(Strict):
    id: str = Field(min_length=1)
    name: str = ""
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    open_hour: Hour = Field(ge=0, le=24)
    close_hour: Hour = Field(ge=0, le=24)
    pickers: int = Field(ge=0, description="pickers on duty while the node is open")
    pick_rate_lines_per_hour: float = Field(gt=0, description="lines one picker picks per hour")

    @model_validator(mode="after")
    def _hours(self) -> NodeBase:
        if self.close_hour <= self.open_hour:
            raise ValueError("close_hour must be later than open_hour (hours of one day, 0-24)")
        return self


class Warehouse(NodeBase):
    open_hour: Hour = Field(6.0, ge=0, le=24)
    close_hour: Hour = Field(22.0, ge=0, le=24)
    pickers: int = Field(12, ge=0)
    # Warehouse pick-to-tote with a WMS: ~60-120 lines/h per picker (industry norms).
    pick_rate_lines_per_hour: float = Field(80.0, gt=0)


class Store(NodeBase):
    open_hour: Hour = Field(9.0, ge=0, le=24)
    close_hour: Hour = Field(21.0, ge=0, le=24)
    pickers: int = Field(1, ge=0)
    # Store picking walks the sales floor: several times slower than a warehouse.
    pick_rate_lines_per_hour: float = Field(18.0, gt=0)
    desk_staff: int = Field(1, ge=0, description="staff serving the click & collect desk")
    desk_service_min: float = Field(3.0, gt=0, description="mean hand-over time at the desk")
    lockers: int = Field(0, ge=0, description="parcel locker compartments (24/7 collection)")
    walk_ins_per_day: float = Field(250.0, ge=0, description="in-store shoppers per day")


class Shuttle(Strict):
    """Trunk shuttles from each warehouse to the stores (ship-to-store)."""

    departure_hours: list[Hour] = Field(default_factory=lambda: [6.0, 14.0])
    capacity_items: int = Field(4000, gt=0, description="items per departure, all stores")
    speed_kmh: float = Field(35.0, gt=0)
    unload_min: float = Field(30.0, ge=0, description="from arrival at a store to ready")

    @field_validator("departure_hours")
    @classmethod
    def _hours(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 <= h < 24 for h in v):
            raise ValueError("give at least one departure hour, each in 0-24")
        return sorted(v)


class Network(Strict):
    warehouses: list[Warehouse] = Field(min_length=1)
    stores: list[Store] = Field(default_factory=list)
    shuttle: Shuttle = Field(default_factory=Shuttle)

    @model_validator(mode="after")
    def _unique_ids(self) -> Network:
        ids = [n.id for n in self.nodes]
        dupes = sorted({i for i in ids if ids.count(i) > 1})
        if dupes:
            raise ValueError(f"node ids must be unique across warehouses and stores: {dupes}")
        return self

    @property
    def nodes(self) -> list[NodeBase]:
        return [*self.warehouses, *self.stores]


class Catalogue(Strict):
    n_skus: int = Field(2000, gt=0)
    zipf_exponent: float = Field(1.0, ge=0, description="popularity of rank k ∝ k^-exponent")
    price_eur_median: float = Field(35.0, gt=0)
    price_sigma: float = Field(0.8, ge=0, description="lognormal spread of prices")
    margin_pct: float = Field(0.35, ge=0, le=1)


class Replenishment(Strict):
    """A replenishment policy, its levels in days of the node's expected demand of each SKU.

    ``sS``: review daily, if position ≤ s order up to S. ``RQ``: review daily, if position
    ≤ R order Q. ``order_up_to``: every ``review_period_days`` order up to S.
    """

    policy: Literal["sS", "RQ", "order_up_to"] = "sS"
    reorder_point_days: float = Field(4.0, ge=0, description="s (sS) or R (RQ)")
    order_up_to_days: float = Field(12.0, gt=0, description="S (sS, order_up_to)")
    order_qty_days: float = Field(7.0, gt=0, description="Q (RQ)")
    review_period_days: int = Field(7, ge=1, description="order_up_to only")
    lead_time_days: float = Field(2.0, ge=0)
    min_order_units: int = Field(1, ge=1, description="smallest order quantity")


class Inventory(Strict):
    warehouse_initial_days: float = Field(14.0, ge=0)
    store_initial_days: float = Field(10.0, ge=0)
    warehouse_replenishment: Replenishment = Field(default_factory=Replenishment)
    store_replenishment: Replenishment = Field(
        default_factory=lambda: Replenishment(
            reorder_point_days=3, order_up_to_days=10, lead_time_days=1
        )
    )
    store_min_units: int = Field(2, ge=0, description="every SKU is stocked at least this deep")
    # DeHoratius & Raman (2008, Management Science): 65% of store SKU records were inaccurate.
    record_error_share: float = Field(0.6, ge=0, le=1, description="share of wrong store records")
    record_error_mean_units: float = Field(2.0, ge=0, description="mean absolute record error")
    shrinkage_units_per_store_day: float = Field(
        3.0, ge=0, description="units lost unseen (theft, damage) per store per day"
    )
    stores_replenished_from: Literal["warehouse", "supplier"] = Field(
        "warehouse", description="the nearest warehouse ships store replenishment, or suppliers"
    )
    store_safety_stock_units: int = Field(
        1, ge=0, description="units per SKU the web may not sell (kept for walk-ins)"
    )


class Visibility(Strict):
    """What the web shop sees of stock: ``unified`` (all nodes, live), ``siloed`` (no store;
    warehouses through a feed every ``warehouse_feed_interval_min``), ``delayed`` (warehouses
    live, stores through a feed every ``sync_interval_min``)."""

    mode: Literal["unified", "siloed", "delayed"] = "siloed"
    sync_interval_min: float = Field(240.0, gt=0)
    warehouse_feed_interval_min: float = Field(
        1440.0, gt=0, description="siloed: the web shop's stock file is refreshed this often"
    )


class Zone(Strict):
    name: str
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)
    radius_km: float = Field(gt=0)
    weight: float = Field(gt=0)


# Typical e-commerce day: quiet nights, a lunchtime bump and an evening peak.
DEFAULT_HOUR_PROFILE = [
    0.4, 0.2, 0.1, 0.1, 0.1, 0.2, 0.5, 1.0, 1.6, 2.0, 2.2, 2.3,
    2.4, 2.3, 2.2, 2.2, 2.3, 2.5, 2.8, 3.2, 3.4, 3.0, 2.0, 1.0,
]  # fmt: skip
# Israeli week: Friday short, Saturday (Shabbat) quiet, Sunday a working day.
DEFAULT_WEEKDAY_PROFILE = [1.1, 1.1, 1.05, 1.1, 0.8, 0.55, 1.3]  # Mon..Sun


class Demand(Strict):
    online_orders_per_day: float = Field(3000.0, ge=0)
    hour_profile: list[float] = Field(default_factory=lambda: list(DEFAULT_HOUR_PROFILE))
    weekday_profile: list[float] = Field(default_factory=lambda: list(DEFAULT_WEEKDAY_PROFILE))
    click_and_collect_share: float = Field(0.3, ge=0, le=1)
    lines_per_order_mean: float = Field(1.7, ge=1)
    units_per_line_mean: float = Field(1.15, ge=1)
    walk_in_lines_mean: float = Field(1.5, ge=1)
    zones: list[Zone] = Field(min_length=1)
    replay_csv: Path | None = Field(
        None, description="CSV of real orders: timestamp, lat, lon, channel, skus"
    )

    @field_validator("hour_profile")
    @classmethod
    def _hours(cls, v: list[float]) -> list[float]:
        if len(v) != 24 or any(x < 0 for x in v) or sum(v) <= 0:
            raise ValueError("give 24 non-negative weights, one per hour, not all zero")
        return v

    @field_validator("weekday_profile")
    @classmethod
    def _weekdays(cls, v: list[float]) -> list[float]:
        if len(v) != 7 or any(x < 0 for x in v) or sum(v) <= 0:
            raise ValueError("give 7 non-negative weights, Monday to Sunday, not all zero")
        return v


class Promise(Strict):
    same_day_cutoff_hour: Hour | None = Field(
        11.0, ge=0, le=24, description="home orders before it are promised today; None = never"
    )
    standard_days: int = Field(1, ge=0, description="days after the order day otherwise")
    delivery_end_hour: Hour = Field(21.0, gt=0, le=24, description="deliveries until this hour")
    store_ready_hours: float = Field(3.0, ge=0, description="C&C from store stock: ready within")
    ship_to_store_prep_hours: float = Field(
        4.0, ge=0, description="C&C via shuttle: picking must start this long before departure"
    )


class FleetEntry(Strict):
    depot: str = Field(description="id of the warehouse or store the vehicles start from")
    vehicle_type: str = "van"
    count: int = Field(ge=0)
    capacity_parcels: int = Field(90, gt=0)
    speed_kmh: float = Field(28.0, gt=0, description="free-flow urban speed")
    cost_per_km_eur: float = Field(0.30, ge=0)
    cost_per_hour_eur: float = Field(24.0, ge=0)
    cost_per_shift_eur: float = Field(35.0, ge=0)
    shift_start_hour: Hour = Field(8.0, ge=0, le=24)
    shift_end_hour: Hour = Field(20.0, ge=0, le=24)
    service_min: float = Field(4.0, ge=0, description="time at each stop")
    co2_g_per_km: float = Field(200.0, ge=0, description="diesel van ~200 g/km; e-van ~40")

    @model_validator(mode="after")
    def _shift(self) -> FleetEntry:
        if self.shift_end_hour <= self.shift_start_hour:
            raise ValueError("shift_end_hour must be later than shift_start_hour")
        return self


# Tel Aviv traffic: morning and evening rush slow travel to ~60-70% of free flow.
DEFAULT_SPEED_PROFILE = [
    1.2, 1.2, 1.2, 1.2, 1.2, 1.1, 0.9, 0.65, 0.6, 0.7, 0.85, 0.9,
    0.9, 0.85, 0.8, 0.7, 0.6, 0.6, 0.7, 0.85, 1.0, 1.1, 1.2, 1.2,
]  # fmt: skip


class Travel(Strict):
    circuity: float = Field(1.35, ge=1, description="road km per straight-line km")
    speed_profile: list[float] = Field(default_factory=lambda: list(DEFAULT_SPEED_PROFILE))
    noise_cv: float = Field(0.15, ge=0, description="coefficient of variation of leg times")

    @field_validator("speed_profile")
    @classmethod
    def _profile(cls, v: list[float]) -> list[float]:
        if len(v) != 24 or any(x <= 0 for x in v):
            raise ValueError("give 24 positive speed factors, one per hour of day")
        return v


class Customers(Strict):
    collection_delay_hours_mean: float = Field(20.0, ge=0, description="ready → arrival")
    no_show_prob: float = Field(0.04, ge=0, le=1)
    no_show_return_days: float = Field(7.0, gt=0, description="uncollected after → back to stock")
    not_at_home_prob: float = Field(0.07, ge=0, le=1)
    failed_delivery_action: Literal["reattempt", "redirect_to_store"] = "reattempt"
    max_attempts: int = Field(2, ge=1)
    lost_parcel_prob: float = Field(0.002, ge=0, le=1)
    return_rate: float = Field(0.08, ge=0, le=1)
    return_delay_days_mean: float = Field(5.0, gt=0)
    store_accepts_online_returns: bool = True
    # Assumption: P(accept an alternative store d km away) = exp(-d / this).
    alternative_store_accept_km: float = Field(3.0, gt=0)
    # PwC (2020): 32% leave a brand they love after one bad experience; Ovum: 82%.
    p_churn_given_dissatisfied: float = Field(0.32, ge=0, le=1)
    customer_lifetime_value_eur: float = Field(400.0, ge=0)
    csat_overrides: dict[str, Any] = Field(
        default_factory=dict, description="overrides of the shipped satisfaction parameters"
    )


class Costs(Strict):
    pick_per_line_warehouse_eur: float = Field(0.45, ge=0)
    pick_per_line_store_eur: float = Field(1.80, ge=0)
    handling_per_order_eur: float = Field(0.90, ge=0, description="packing, label, materials")
    transfer_per_item_eur: float = Field(0.35, ge=0, description="shuttle warehouse → store")
    failed_attempt_eur: float = Field(2.50, ge=0, description="admin and re-sort of a failure")
    return_in_store_eur: float = Field(2.00, ge=0)
    return_by_mail_eur: float = Field(7.50, ge=0)
    desk_handover_eur: float = Field(0.60, ge=0, description="staff time per collection")
    cc_ship_to_store_penalty_eur: float = Field(
        3.0, ge=0, description="value the allocator puts on a later C&C ready time"
    )
    late_per_hour_eur: float = Field(
        1.0, ge=0, description="allocator's price of an hour later than the promise"
    )
    delivery_estimate_per_km_eur: float = Field(
        0.25, ge=0, description="allocator's per-km estimate of last-mile cost"
    )


class Policies(Strict):
    allocation: Literal["warehouse_only", "nearest_with_stock", "optimized"] = "warehouse_only"
    allocation_batch_min: float = Field(
        15.0, gt=0, description="optimized: orders are re-sourced together this often"
    )
    ship_from_store: bool = Field(False, description="stores with couriers ship home orders")
    ship_from_store_radius_km: float = Field(
        5.0, gt=0, description="a store ships only to customers within this road distance"
    )
    reallocate_oversold: bool = Field(
        True, description="a short pick sends its lines to another node that has them"
    )
    offer_alternative_store: bool = Field(
        False, description="C&C: offer a nearby store that has the items before shipping"
    )
    alternative_store_radius_km: float = Field(5.0, gt=0)
    routing: Literal["baseline", "ortools"] = "baseline"
    routing_solution_limit: int = Field(
        100,
        gt=0,
        description="OR-Tools search budget per wave, in accepted solutions (reproducible)",
    )
    dispatch_wave_hours: list[Hour] = Field(default_factory=lambda: [8.0, 11.0, 14.0, 17.0])
    max_nodes_per_order: int = Field(2, ge=1, description="1 = never split an order")

    @field_validator("dispatch_wave_hours")
    @classmethod
    def _waves(cls, v: list[float]) -> list[float]:
        if not v or any(not 0 <= h < 24 for h in v):
            raise ValueError("give at least one wave hour, each in 0-24")
        return sorted(v)


class Disruption(Strict):
    kind: Literal["courier_absence", "node_outage", "demand_multiplier", "traffic_multiplier"]
    start: datetime
    end: datetime
    target: str | None = Field(None, description="depot or node id; None = everywhere")
    value: float = Field(
        1.0, ge=0, description="absent share (courier_absence) or multiplier (the others)"
    )

    @model_validator(mode="after")
    def _window(self) -> Disruption:
        if self.end <= self.start:
            raise ValueError("end must be later than start")
        if self.kind == "courier_absence" and self.value > 1:
            raise ValueError("value of a courier_absence is a share of the fleet, 0-1")
        if self.kind in ("node_outage",) and self.target is None:
            raise ValueError("a node_outage needs a target node id")
        return self


class Scenario(Strict):
    """A whole scenario: network, demand, fleet, customers, costs, policies, disruptions."""

    name: str = "scenario"
    description: str = ""
    start: datetime = datetime(2026, 11, 1)
    horizon_days: float = Field(7.0, gt=0, le=366)
    warmup_days: float = Field(0.0, ge=0)
    seed: int = Field(42, ge=0)
    network: Network
    catalogue: Catalogue = Field(default_factory=Catalogue)
    inventory: Inventory = Field(default_factory=Inventory)
    visibility: Visibility = Field(default_factory=Visibility)
    demand: Demand
    promise: Promise = Field(default_factory=Promise)
    fleet: list[FleetEntry] = Field(min_length=1)
    travel: Travel = Field(default_factory=Travel)
    customers: Customers = Field(default_factory=Customers)
    costs: Costs = Field(default_factory=Costs)
    policies: Policies = Field(default_factory=Policies)
    disruptions: list[Disruption] = Field(default_factory=list)

    @field_validator("start")
    @classmethod
    def _midnight(cls, v: datetime) -> datetime:
        if (v.hour, v.minute, v.second, v.microsecond) != (0, 0, 0, 0):
            raise ValueError(
                "start must be at midnight (e.g. 2026-11-01T00:00): days count from it"
            )
        return v.replace(tzinfo=None)

    @model_validator(mode="after")
    def _references(self) -> Scenario:
        if self.warmup_days >= self.horizon_days:
            raise ValueError("warmup_days must be shorter than horizon_days")
        node_ids = {n.id for n in self.network.nodes}
        for i, entry in enumerate(self.fleet):
            if entry.depot not in node_ids:
                raise ValueError(
                    f"fleet.{i}.depot '{entry.depot}' is not a warehouse or store id "
                    f"(known: {sorted(node_ids)})"
                )
        for i, d in enumerate(self.disruptions):
            if d.target is not None and d.target not in node_ids:
                raise ValueError(
                    f"disruptions.{i}.target '{d.target}' is not a node id "
                    f"(known: {sorted(node_ids)})"
                )
        if sum(e.count for e in self.fleet) == 0 and self.demand.click_and_collect_share < 1:
            raise ValueError(
                "fleet has no vehicles but home deliveries are expected: give a fleet entry a "
                "count > 0, or set demand.click_and_collect_share to 1"
            )
        return self

    @property
    def horizon_min(self) -> float:
        return self.horizon_days * 1440.0

    @property
    def warmup_min(self) -> float:
        return self.warmup_days * 1440.0


# --------------------------------------------------------------------------- loading

_FIXES = {
    "missing": "add this field",
    "extra_forbidden": "remove it or check its spelling against the documented fields",
    "greater_than_equal": "use a larger value",
    "greater_than": "use a larger value",
    "less_than_equal": "use a smaller value",
    "less_than": "use a smaller value",
    "literal_error": "use one of the allowed values",
    "too_short": "give more entries",
}


def _format_validation(source: str, err: ValidationError) -> str:
    lines = []
    for e in err.errors():
        path = ".".join(str(p) for p in e["loc"]) or "(top level)"
        msg = e["msg"].removeprefix("Value error, ")
        fix = _FIXES.get(e["type"])
        lines.append(f"{source}: {path}: {msg}" + (f" ({fix})" if fix else ""))
    return "\n".join(lines)


def _read_yaml(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ScenarioError(f"{path}: file not found (check the path)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ScenarioError(f"{path}: cannot read the file ({exc})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ScenarioError(f"{path}: not valid YAML{where}: {problem}") from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ScenarioError(f"{path}: a scenario must be a YAML mapping of fields, not a list")
    return data


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """Mappings merge key by key; any other value (lists included) replaces."""
    out = copy.deepcopy(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def _resolve_extends(path: Path, seen: tuple[Path, ...] = ()) -> dict[str, Any]:
    path = path.resolve()
    if path in seen:
        chain = " → ".join(p.name for p in (*seen, path))
        raise ScenarioError(f"{path}: extends forms a cycle ({chain}); remove one of them")
    data = _read_yaml(path)
    parent = data.pop("extends", None)
    if parent is None:
        base: dict[str, Any] = {}
    elif isinstance(parent, str):
        base = _resolve_extends(path.parent / parent, (*seen, path))
    else:
        raise ScenarioError(f"{path}: extends must be a file name, e.g. extends: baseline.yaml")
    merged = deep_merge(base, data)
    replay = merged.get("demand", {}).get("replay_csv") if "demand" in data else None
    if isinstance(replay, str) and "replay_csv" in data.get("demand", {}):
        merged["demand"]["replay_csv"] = str((path.parent / replay).resolve())
    return merged


def apply_override(data: dict[str, Any], assignment: str) -> dict[str, Any]:
    """Apply one ``path.to.field=value`` override; the value is read as YAML (numbers, bools,
    lists). List entries are addressed by index: ``network.stores.0.pickers=3``."""
    if "=" not in assignment:
        raise ScenarioError(f"--set {assignment}: write it as path.to.field=value")
    key, raw = assignment.split("=", 1)
    parts = [p for p in key.strip().split(".") if p]
    if not parts:
        raise ScenarioError(f"--set {assignment}: the field path is empty")
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError:
        value = raw
    out = copy.deepcopy(data)
    node: Any = out
    for i, part in enumerate(parts[:-1]):
        where = ".".join(parts[: i + 1])
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ScenarioError(f"--set {key}: {where} is not an index of that list")
            node = node[int(part)]
        elif isinstance(node, dict):
            node = node.setdefault(part, {})
        else:
            raise ScenarioError(f"--set {key}: {where} is a value, not a section")
    last = parts[-1]
    if isinstance(node, list):
        if not last.isdigit() or int(last) >= len(node):
            raise ScenarioError(f"--set {key}: {last} is not an index of that list")
        node[int(last)] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ScenarioError(f"--set {key}: its parent is a value, not a section")
    return out


def scenario_from_dict(data: dict[str, Any], source: str = "scenario") -> Scenario:
    """Validate a mapping into a :class:`Scenario`, or raise :class:`ScenarioError`."""
    try:
        return Scenario.model_validate(data)
    except ValidationError as err:
        raise ScenarioError(_format_validation(source, err)) from None


def load_scenario(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Scenario:
    """Read a scenario file (following ``extends``), apply ``--set`` overrides, validate."""
    path = Path(path)
    data = _resolve_extends(path)
    for assignment in overrides:
        data = apply_override(data, assignment)
    scenario = scenario_from_dict(data, source=str(path))
    replay = scenario.demand.replay_csv
    if replay is not None and not Path(replay).is_file():
        raise ScenarioError(f"{path}: demand.replay_csv: file {replay} not found (check the path)")
    return scenario


def scenario_to_yaml(scenario: Scenario) -> str:
    """The fully resolved scenario (defaults filled in) as YAML, for a run's record."""
    return yaml.safe_dump(scenario.model_dump(mode="json"), sort_keys=False, allow_unicode=True)
