"""Checkout: what happens when an online order arrives.

The web shop asks the allocation policy which node(s) fulfil the order, on the stock it
*sees* (visibility mode); if no node seems to have an item the sale is lost. Otherwise
the order is confirmed, stock is reserved, the customer is shown a promise that follows
the allocation (same-day or later for home delivery; a ready time for click & collect:
hours from store stock, a later shuttle from the warehouse) and parcels go to picking.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from optimizer.allocation import (
    BACKORDER,
    AllocationPlan,
    AllocationProblem,
    allocate_nearest_with_stock,
    allocate_warehouse_only,
)
from sim.demand import CC, HOME
from sim.ledger import OrderRecord, Parcel
from sim.network import DAY_MIN

if TYPE_CHECKING:
    from sim.model import World

# How checkout (and re-allocation after a short pick) decides at once. Under ``optimized``
# the immediate decision is provisional: the batch in :mod:`sim.sourcing` re-sources it.
POLICIES = {
    "warehouse_only": allocate_warehouse_only,
    "nearest_with_stock": allocate_nearest_with_stock,
    "optimized": allocate_nearest_with_stock,
}


class DailyQuota:
    """What each node can still take on today, as the allocator plans it: picking lines
    (pickers × pick rate × opening hours) and, for home orders, parcels its couriers can
    carry (vehicles × capacity × dispatch waves inside their shift). Orders count against
    the day they are placed; the quota resets at midnight."""

    def __init__(self, world: World) -> None:
        sc, net = world.scenario, world.net
        nodes = sc.network.nodes
        self.lines_per_day = np.array(
            [n.pickers * n.pick_rate_lines_per_hour * (n.close_hour - n.open_hour) for n in nodes]
        )
        waves = np.asarray(sc.policies.dispatch_wave_hours)
        self.parcels_per_day = np.zeros(len(nodes))
        for entry in sc.fleet:
            in_shift = (waves >= entry.shift_start_hour) & (waves < entry.shift_end_hour)
            self.parcels_per_day[net.index[entry.depot]] += (
                entry.count * entry.capacity_parcels * int(in_shift.sum())
            )
        self.day = -1
        self.lines = np.zeros(len(nodes))
        self.parcels = np.zeros(len(nodes))

    def _roll(self, t: float) -> None:
        day = int(t // DAY_MIN)
        if day != self.day:
            self.day = day
            self.lines[:] = 0
            self.parcels[:] = 0

    def lines_left(self, t: float) -> np.ndarray:
        self._roll(t)
        return np.maximum(self.lines_per_day - self.lines, 0)

    def parcels_left(self, t: float) -> np.ndarray:
        self._roll(t)
        return np.maximum(self.parcels_per_day - self.parcels, 0)

    def take(self, t: float, node: int, lines: int, home: bool) -> None:
        self._roll(t)
        self.lines[node] += lines
        self.parcels[node] += home


def allocation_problem(
    world: World, order: OrderRecord, skus: np.ndarray, qty: np.ndarray, exclude: int = -1
) -> AllocationProblem:
    """A one-order allocation problem over every node (but ``exclude``), from the world's
    current state: stock as the web sees it, quotas, outages, channel rules."""
    sc, net, book = world.scenario, world.net, world.orders
    i = order.id
    local_skus, line_sku = np.unique(skus, return_inverse=True)
    nodes = np.arange(len(net.ids))
    available = world.stock.visible(sc.visibility.mode, nodes, local_skus)
    safety = np.where(net.is_store, sc.inventory.store_safety_stock_units, 0)[:, None]
    eligible = net.can_pick & net.up(world.env.now) & (nodes != exclude)
    dist = net.distance_to(book.lat[i], book.lon[i])
    if order.channel == HOME:
        ship = dist * sc.costs.delivery_estimate_per_km_eur
        ships = (
            sc.policies.ship_from_store
            & (world.quota.parcels_left(world.env.now) >= 1)
            & (dist <= sc.policies.ship_from_store_radius_km)
        )
        eligible &= ~net.is_store | ships
    else:
        ship = np.where(
            net.is_store,
            0.0,
            sc.costs.transfer_per_item_eur * int(qty.sum()) + sc.costs.cc_ship_to_store_penalty_eur,
        )
        eligible &= ~net.is_store | (nodes == order.pickup_store)
    return AllocationProblem(
        line_order=np.zeros(len(skus), dtype=np.int64),
        line_sku=line_sku.astype(np.int64),
        line_qty=qty,
        available=available,
        safety_stock=np.broadcast_to(safety, available.shape),
        is_warehouse=~net.is_store,
        pick_cost_per_line_eur=net.pick_cost_per_line_eur,
        # Warehouses take what comes (a backlog shows the overload); stores stop at their quota.
        capacity_lines=np.where(net.is_store, world.quota.lines_left(world.env.now), np.inf),
        eligible=eligible[None, :],
        ship_cost_eur=ship[None, :],
        late_cost_eur=np.zeros((1, len(nodes))),
        max_nodes_per_order=sc.policies.max_nodes_per_order,
    )


def allocate(
    world: World, order: OrderRecord, skus: np.ndarray, qty: np.ndarray, exclude: int = -1
) -> AllocationPlan:
    problem = allocation_problem(world, order, skus, qty, exclude)
    return POLICIES[world.scenario.policies.allocation](problem)


def alternative_store(world: World, order: OrderRecord, skus: np.ndarray, qty: np.ndarray) -> int:
    """The nearest other store within the radius whose stock (as seen) covers the basket,
    if the customer accepts it (likelier the closer it is); otherwise -1."""
    sc, net, book = world.scenario, world.net, world.orders
    i = order.id
    dist = net.distance_to(book.lat[i], book.lon[i])
    seen = world.stock.visible(sc.visibility.mode, net.stores, skus)
    covers = (seen - sc.inventory.store_safety_stock_units >= qty[None, :]).all(axis=1)
    near = dist[net.stores] <= sc.policies.alternative_store_radius_km
    ok = covers & near & (net.stores != order.pickup_store) & net.up(world.env.now)[net.stores]
    if not ok.any():
        return -1
    k = int(np.argmin(np.where(ok, dist[net.stores], np.inf)))
    accept = np.exp(-dist[net.stores][k] / sc.customers.alternative_store_accept_km)
    return int(net.stores[k]) if book.u_accept_alternative[i] < accept else -1


def promise_home(world: World, created_min: float) -> float:
    """Delivery by the end of today (before the cut-off) or of a later day."""
    p = world.scenario.promise
    day = np.floor(created_min / DAY_MIN)
    hour = (created_min - day * DAY_MIN) / 60
    same_day = p.same_day_cutoff_hour is not None and hour < p.same_day_cutoff_hour
    days_out = 0 if same_day else max(p.standard_days, 1)
    return float((day + days_out) * DAY_MIN + p.delivery_end_hour * 60)


def promise_store_pick(world: World, store: int, created_min: float) -> float:
    """Ready within ``store_ready_hours`` of opening time at the store."""
    hours = world.scenario.promise.store_ready_hours * 60
    start = world.net.next_open(store, created_min)
    ready = start + hours
    close = np.floor(start / DAY_MIN) * DAY_MIN + world.net.close_hour[store] * 60
    return float(ready if ready <= close else world.net.next_open(store, close) + hours)


def promise_ship_to_store(world: World, warehouse: int, store: int, created_min: float) -> float:
    """Ready after the first shuttle that leaves at least ``ship_to_store_prep_hours`` later."""
    prep_min = world.scenario.promise.ship_to_store_prep_hours * 60
    depart = world.shuttles.next_departure(created_min + prep_min)
    arrive = depart + world.shuttles.leg_min(warehouse, store)
    return world.net.next_open(store, arrive) + 60.0


def checkout(world: World, i: int) -> None:
    """Handle online order i of the order book at its creation time."""
    book, sc, net = world.orders, world.scenario, world.net
    skus, qty = book.baskets.lines(i)
    channel = int(book.channel[i])
    order = OrderRecord(
        id=i,
        channel=channel,
        created_min=float(book.created_min[i]),
        value_eur=float(book.value_eur[i]),
        n_lines=len(skus),
        n_units=int(qty.sum()),
    )
    world.ledger.orders.append(order)
    if channel == CC:
        order.pickup_store = net.nearest_store(book.lat[i], book.lon[i])
        if order.pickup_store < 0:
            order.cancel_reason = "no store for click & collect"
            order.finish("lost_sale")
            return
    plan = allocate(world, order, skus, qty)
    if (
        channel == CC
        and sc.policies.offer_alternative_store
        and ((plan.line_node == BACKORDER).any() or (~net.is_store[plan.line_node]).any())
    ):
        store = alternative_store(world, order, skus, qty)
        if store >= 0:
            order.pickup_store = store
            order.alternative_store = True
            plan = allocate(world, order, skus, qty)
    if (plan.line_node == BACKORDER).any():
        order.cancel_reason = "out of stock as seen by the web shop"
        order.finish("lost_sale")
        return
    order.charge("handling_eur", sc.costs.handling_per_order_eur)
    if channel == HOME:
        order.promised_min = promise_home(world, order.created_min)
    else:
        nodes = sorted(set(plan.line_node.tolist()))
        order.promised_min = max(
            promise_ship_to_store(world, n, order.pickup_store, order.created_min)
            if not net.is_store[n]
            else promise_store_pick(world, order.pickup_store, order.created_min)
            for n in nodes
        )
    if sc.policies.allocation == "optimized":
        world.sourcing.hold(order, plan.line_node, skus, qty)
    else:
        launch(world, order, plan.line_node, skus, qty)


def launch(
    world: World, order: OrderRecord, line_node: np.ndarray, skus: np.ndarray, qty: np.ndarray
) -> None:
    """One parcel per node the lines go to: reserve its stock and send it to picking."""
    net, book = world.net, world.orders
    nodes = sorted(set(line_node.tolist()))
    order.nodes = tuple(sorted({*order.nodes, *nodes}))
    order.stage = "picking"
    order.parcels_open += len(nodes)
    if order.channel == HOME:
        dest = (float(book.lat[order.id]), float(book.lon[order.id]))
    else:
        order.ship_to_store |= any(not net.is_store[n] for n in nodes)
        dest = (float(net.lat[order.pickup_store]), float(net.lon[order.pickup_store]))
    for node in nodes:
        mask = line_node == node
        parcel = Parcel(order, node, skus[mask], qty[mask], dest)
        world.stock.reserve(node, parcel.skus, parcel.qty)
        world.quota.take(world.env.now, node, len(parcel.skus), order.channel == HOME)
        world.parcels.setdefault(order.id, []).append(parcel)
        world.env.process(world.fulfil(parcel))


def reallocate(world: World, parcel: Parcel) -> bool:
    """After a short pick, send the parcel's lines to other nodes if the web sees them
    there; the promise stands. False when nowhere has them."""
    plan = allocate(world, parcel.order, parcel.skus, parcel.qty, exclude=parcel.node)
    if (plan.line_node == BACKORDER).any():
        return False
    order = parcel.order
    order.reallocated = True
    order.nodes = tuple(n for n in order.nodes if n != parcel.node)
    launch(world, order, plan.line_node, parcel.skus, parcel.qty)
    return True
