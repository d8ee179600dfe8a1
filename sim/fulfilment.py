"""Fulfilment inside the nodes: picking, oversold orders, trunk shuttles to the stores,
and the bookkeeping that closes an order once all its parcels have an outcome.

A parcel waits for its node to be open, for a free picker, and for its pick time (lines
at the node's pick rate). At pick time the shelf tells the truth: if it is short, the
order was oversold and is cancelled (its other parcels are released or restocked).
A picked parcel goes to its depot's dispatch queue (home delivery), straight to the
collection shelf (click & collect from store stock), or to the warehouse's shuttle queue
(ship-to-store).
"""

from __future__ import annotations

from collections.abc import Generator
from typing import TYPE_CHECKING

import numpy as np
import simpy

from sim.checkout import reallocate
from sim.demand import HOME
from sim.ledger import OrderRecord, Parcel
from sim.network import DAY_MIN

if TYPE_CHECKING:
    from sim.model import World

# Worst outcome first: an order whose parcels end differently takes the worst.
# A cancelled parcel (short at picking) only decides when all the order's parcels were.
_PRECEDENCE = ("lost", "failed", "no_show", "collected", "delivered", "cancelled")


def pick(world: World, parcel: Parcel) -> Generator[simpy.Event, object, None]:
    """Pick one parcel at its node, then send it on."""
    env, net = world.env, world.net
    node = parcel.node
    opening = net.next_open(node, env.now)
    if opening > env.now:
        yield env.timeout(opening - env.now)
    with net.pickers[node].request() as req:
        yield req
        if parcel.status == "cancelled":
            return
        # A picker who reaches closing time stops; the pick resumes at the next opening.
        opening = net.next_open(node, env.now)
        if opening > env.now:
            yield env.timeout(opening - env.now)
        yield env.timeout(len(parcel.skus) * net.pick_min_per_line[node])
    if parcel.status == "cancelled":
        return
    order = parcel.order
    order.charge("pick_eur", float(net.pick_cost_per_line_eur[node]) * len(parcel.skus))
    if not world.stock.pick(node, parcel.skus, parcel.qty):
        world.ledger.count("pick_failures")
        order.oversold = True
        short_pick(world, parcel)
        return
    parcel.status = "picked"
    if order.channel == HOME:
        order.stage = "awaiting_dispatch"
        world.fleet.enqueue(parcel)
    elif node == order.pickup_store:
        arrived_at_store(world, parcel)
    else:
        order.stage = "awaiting_shuttle"
        world.shuttles.enqueue(parcel)


def short_pick(world: World, parcel: Parcel) -> None:
    """The shelf was short: this parcel's lines are cancelled (the order was oversold);
    the order goes on with its other parcels, and is cancelled if none is left."""
    parcel.status = "cancelled"
    order = parcel.order
    if world.scenario.policies.reallocate_oversold:
        reallocate(world, parcel)  # new parcels, if any, keep the order open
    if order.channel == HOME:
        parcel_done(world, parcel, "cancelled")
        return
    order.parcels_open -= 1
    if all(p.status == "cancelled" for p in world.parcels[order.id]):
        order.cancel_reason = "oversold: the shelf was short at picking"
        order.finish("cancelled")
    elif order.parcels_open == 0:
        _ready_for_collection(world, order)


def arrived_at_store(world: World, parcel: Parcel) -> None:
    """A click & collect parcel is on the collection shelf; the order is ready once all
    its parcels are."""
    parcel.status = "at_store"
    order = parcel.order
    order.parcels_open -= 1
    if order.parcels_open == 0:
        _ready_for_collection(world, order)


def _ready_for_collection(world: World, order: OrderRecord) -> None:
    order.ready_min = world.env.now
    order.stage = "ready_for_collection"
    world.env.process(world.customers.collect(order, order.pickup_store))


def parcel_done(world: World, parcel: Parcel, outcome: str) -> None:
    """A home-delivery parcel has its outcome; close the order when it is the last."""
    parcel.status = outcome
    order = parcel.order
    order.parcels_open -= 1
    if outcome in ("delivered", "collected"):
        col = "delivered_min" if outcome == "delivered" else "collected_min"
        setattr(order, col, np.fmax(getattr(order, col), world.env.now))
    if order.parcels_open == 0:
        outcomes = {p.status for p in world.parcels[order.id]}
        outcome = next(s for s in _PRECEDENCE if s in outcomes)
        if outcome == "cancelled":
            order.cancel_reason = "oversold: the shelf was short at picking"
        order.finish(outcome)
        if order.status in ("delivered", "collected"):
            world.customers.maybe_return(order)


class Shuttles:
    """Trunk shuttles: at each departure hour every warehouse sends what waits for the
    stores, up to the shuttle's capacity in items (the rest waits for the next one)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.cfg = world.scenario.network.shuttle
        self.queue: dict[int, list[Parcel]] = {int(w): [] for w in world.net.warehouses}
        self.departures_min = np.asarray(self.cfg.departure_hours) * 60.0

    def leg_min(self, warehouse: int, store: int) -> float:
        return float(self.world.net.distance_km[warehouse, store] / self.cfg.speed_kmh * 60.0)

    def next_departure(self, t: float) -> float:
        day = np.floor(t / DAY_MIN)
        for d in (day, day + 1):
            later = d * DAY_MIN + self.departures_min
            later = later[later >= t]
            if len(later):
                return float(later[0])
        raise AssertionError("departure hours are within a day")

    def enqueue(self, parcel: Parcel) -> None:
        self.queue[parcel.node].append(parcel)

    def run(self) -> Generator[simpy.Event, object, None]:
        env = self.world.env
        while True:
            yield env.timeout(self.next_departure(env.now + 1e-9) - env.now)
            for warehouse, waiting in self.queue.items():
                room, load = self.cfg.capacity_items, []
                while waiting and waiting[0].units <= room:
                    parcel = waiting.pop(0)
                    room -= parcel.units
                    load.append(parcel)
                for parcel in load:
                    env.process(self._deliver(warehouse, parcel))

    def _deliver(self, warehouse: int, parcel: Parcel) -> Generator[simpy.Event, object, None]:
        world = self.world
        store = parcel.order.pickup_store
        parcel.order.charge(
            "transfer_eur", world.scenario.costs.transfer_per_item_eur * parcel.units
        )
        parcel.order.stage = "on_shuttle"
        arrive = world.env.now + self.leg_min(warehouse, store) + self.cfg.unload_min
        ready = world.net.next_open(store, arrive)
        yield world.env.timeout(ready - world.env.now)
        if parcel.status != "cancelled":
            arrived_at_store(world, parcel)
