"""The simulation: builds the world of one replication and wires its processes.

Processes: online orders arrive (checkout → picking → dispatch or shuttle → delivery or
collection → returns), stores serve walk-ins, stores lose stock unseen, nodes replenish
nightly, store records reach the web on their sync cycle, couriers leave in waves, and a
sampler records the hourly state. Nothing else lives here: each process is in the module
named for its domain.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass, field

import numpy as np
import simpy

from sim import demand as demand_mod
from sim.checkout import DailyQuota, checkout
from sim.customers import Customers
from sim.fleet import Fleet
from sim.fulfilment import Shuttles, pick
from sim.inventory import Stock, initial_stock
from sim.ledger import Ledger, Parcel
from sim.network import DAY_MIN, Network
from sim.rng import streams
from sim.scenario import Scenario
from sim.sourcing import Sourcing

# Nightly replenishment review, and the hour deliveries from suppliers land.
REVIEW_HOUR = 1.0
RECEIPT_HOUR = 5.0

ProgressCallback = Callable[[float, float], None]  # (simulated minutes, horizon minutes)


@dataclass
class World:
    """Everything one replication's processes share."""

    env: simpy.Environment
    scenario: Scenario
    replication: int
    rng: dict[str, np.random.Generator]
    catalogue: demand_mod.Catalogue
    orders: demand_mod.OrderBook
    walk_ins: dict[str, demand_mod.WalkIns]
    net: Network
    stock: Stock
    ledger: Ledger = field(default_factory=Ledger)
    parcels: dict[int, list[Parcel]] = field(default_factory=dict)
    fleet: Fleet = field(init=False)
    shuttles: Shuttles = field(init=False)
    customers: Customers = field(init=False)
    quota: DailyQuota = field(init=False)
    sourcing: Sourcing = field(init=False)
    timeseries: list[dict[str, float]] = field(default_factory=list)
    supplying_warehouse: dict[int, int] = field(init=False)

    def __post_init__(self) -> None:
        # Each store is replenished from its nearest warehouse.
        wh = self.net.warehouses
        self.supplying_warehouse = {
            int(s): int(wh[np.argmin(self.net.distance_km[s, wh])]) for s in self.net.stores
        }
        self.fleet = Fleet(self)
        self.shuttles = Shuttles(self)
        self.customers = Customers(self)
        self.quota = DailyQuota(self)
        self.sourcing = Sourcing(self)

    def fulfil(self, parcel: Parcel) -> Generator[simpy.Event, object, None]:
        return pick(self, parcel)


def build_world(scenario: Scenario, replication: int = 0) -> World:
    """Draw the replication's demand and opening stock and set up the network."""
    rng = streams(scenario.seed, replication)
    catalogue = demand_mod.make_catalogue(scenario, rng["basket"])
    orders = demand_mod.generate_orders(
        scenario, catalogue, rng["demand"], rng["basket"], rng["behaviour"]
    )
    walk_ins = demand_mod.generate_walk_ins(scenario, catalogue, rng["walk_in"])
    env = simpy.Environment()
    return World(
        env=env,
        scenario=scenario,
        replication=replication,
        rng=rng,
        catalogue=catalogue,
        orders=orders,
        walk_ins=walk_ins,
        net=Network(scenario, env),
        stock=initial_stock(scenario, catalogue.popularity, rng["inventory"]),
    )


def _online_orders(world: World) -> Generator[simpy.Event, object, None]:
    env = world.env
    for i, t in enumerate(world.orders.created_min):
        if t > env.now:
            yield env.timeout(t - env.now)
        checkout(world, i)


def _walk_ins(world: World, store: int) -> Generator[simpy.Event, object, None]:
    env, net, stock = world.env, world.net, world.stock
    shoppers = world.walk_ins[net.ids[store]]
    protect = world.scenario.visibility.mode == "unified"
    for k, t in enumerate(shoppers.arrival_min):
        if t > env.now:
            yield env.timeout(t - env.now)
        if net.in_outage(store, env.now):
            world.ledger.count("walk_ins_turned_away")
            continue
        skus, qty = shoppers.baskets.lines(k)
        world.ledger.walk_in_lines += len(skus)
        world.ledger.walk_in_lines_lost += stock.walk_in(store, skus, qty, protect)


def _nightly(world: World) -> Generator[simpy.Event, object, None]:
    """Shrinkage and replenishment review once a day."""
    env, sc, net, stock = world.env, world.scenario, world.net, world.stock
    day = 0
    while True:
        yield env.timeout(day * DAY_MIN + REVIEW_HOUR * 60 - env.now)
        for store in net.stores:
            stock.shrink(
                int(store), world.rng["inventory"], sc.inventory.shrinkage_units_per_store_day
            )
        for node in range(len(net.ids)):
            policy = (
                sc.inventory.store_replenishment
                if net.is_store[node]
                else sc.inventory.warehouse_replenishment
            )
            qty = stock.review(node, policy, day)
            transfer = (
                bool(net.is_store[node]) and sc.inventory.stores_replenished_from == "warehouse"
            )
            if transfer:
                qty = stock.ship_transfer(world.supplying_warehouse[node], qty)
            if qty.any():
                stock.order(node, qty)
                world.ledger.count("replenishment_orders")
                env.process(_receive(world, node, qty, policy.lead_time_days, transfer))
        day += 1


def _receive(
    world: World, node: int, qty: np.ndarray, lead_time_days: float, transfer: bool
) -> Generator[simpy.Event, object, None]:
    env = world.env
    arrive = env.now + lead_time_days * DAY_MIN
    # Suppliers deliver in the early morning of the day the lead time ends.
    arrive = np.floor(arrive / DAY_MIN) * DAY_MIN + RECEIPT_HOUR * 60
    yield env.timeout(max(arrive - env.now, 0.0))
    world.stock.receive(node, qty, transfer)


def _feed(world: World, interval_min: float) -> Generator[simpy.Event, object, None]:
    """The stock feed to the web shop, where it is not integrated live."""
    while True:
        world.stock.sync()
        yield world.env.timeout(interval_min)


def _sampler(world: World) -> Generator[simpy.Event, object, None]:
    """Hourly state: backlog, queues, couriers out, stock."""
    env, net, stock = world.env, world.net, world.stock
    n_couriers = max(len(world.fleet.couriers), 1)
    while True:
        open_orders = sum(1 for o in world.ledger.orders if o.status == "open")
        world.timeseries.append(
            {
                "t_min": env.now,
                "open_orders": open_orders,
                "awaiting_dispatch": sum(len(q) for q in world.fleet.queue.values()),
                "awaiting_shuttle": sum(len(q) for q in world.shuttles.queue.values()),
                "pick_queue": sum(len(r.queue) for r in net.pickers),
                "desk_queue": sum(len(d.queue) for d in net.desks.values()),
                "couriers_out": world.fleet.busy_count,
                "courier_busy_share": world.fleet.busy_count / n_couriers,
                "stock_warehouse_units": int(stock.true[net.warehouses].sum()),
                "stock_store_units": int(stock.true[net.stores].sum()),
            }
        )
        yield env.timeout(60.0)


def run_world(world: World, progress: ProgressCallback | None = None) -> World:
    """Start every process and advance the clock to the horizon, a day at a time."""
    env, sc = world.env, world.scenario
    env.process(_online_orders(world))
    for store in world.net.stores:
        env.process(_walk_ins(world, int(store)))
    env.process(_nightly(world))
    if sc.visibility.mode == "delayed":
        env.process(_feed(world, sc.visibility.sync_interval_min))
    elif sc.visibility.mode == "siloed":
        env.process(_feed(world, sc.visibility.warehouse_feed_interval_min))
    if sc.policies.allocation == "optimized":
        env.process(world.sourcing.run())
    env.process(world.fleet.run())
    env.process(world.shuttles.run())
    env.process(_sampler(world))
    horizon = sc.horizon_min
    t = 0.0
    while t < horizon:
        t = min(t + DAY_MIN, horizon)
        env.run(until=t)
        if progress is not None:
            progress(t, horizon)
    return world
