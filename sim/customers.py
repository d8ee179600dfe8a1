"""Customers after checkout: collecting at the store (desk queue or locker), not showing
up, and returning what they bought.

Each customer's choices (whether they come, when, whether they return the goods) were
drawn with the order (see :mod:`sim.demand`), so they are the same under every policy.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import TYPE_CHECKING

import simpy

from sim.demand import CC
from sim.ledger import OrderRecord, Parcel

if TYPE_CHECKING:
    from sim.model import World

# Shoppers who find the store closed come in the first two hours after it opens.
_LATE_ARRIVAL_SPREAD_MIN = 120.0


def desk_visit(
    env: simpy.Environment, desk: simpy.Resource, service_min: float
) -> Generator[simpy.Event, object, float]:
    """Queue at a collection desk and be served; returns the time spent waiting."""
    arrived = env.now
    with desk.request() as req:
        yield req
        waited = env.now - arrived
        yield env.timeout(service_min)
    return waited


class Customers:
    def __init__(self, world: World) -> None:
        self.world = world

    def collect(self, order: OrderRecord, store: int) -> Generator[simpy.Event, object, None]:
        """A click & collect order is ready at ``store``: the customer comes (or not)."""
        parcels = [p for p in self.world.parcels[order.id] if p.status != "cancelled"]
        yield from self._collect(order, store, parcels, self._close_cc)

    def collect_redirected(
        self, parcel: Parcel, store: int
    ) -> Generator[simpy.Event, object, None]:
        """A parcel that could not be delivered waits at a store for its customer."""
        yield from self._collect(
            parcel.order, store, [parcel], lambda _o, outcome: self._close_parcel(parcel, outcome)
        )

    def _close_cc(self, order: OrderRecord, outcome: str) -> None:
        order.finish(outcome)
        if outcome == "collected":
            self.maybe_return(order)

    def _close_parcel(self, parcel: Parcel, outcome: str) -> None:
        from sim.fulfilment import parcel_done

        parcel_done(self.world, parcel, outcome)

    def _collect(
        self,
        order: OrderRecord,
        store: int,
        parcels: list[Parcel],
        close: Callable[[OrderRecord, str], None],
    ) -> Generator[simpy.Event, object, None]:
        world = self.world
        env, net, c, book = world.env, world.net, world.scenario.customers, world.orders
        i = order.id
        locker = net.lockers_free[store] > 0
        if locker:
            net.lockers_free[store] -= 1
            order.locker = True
        if book.u_no_show[i] < c.no_show_prob:
            yield env.timeout(c.no_show_return_days * 1440.0)
            if locker:
                net.lockers_free[store] += 1
            for p in parcels:
                world.stock.restock(store, p.skus, p.qty)
            close(order, "no_show")
            return
        delay = float(book.collection_delay_min[i])
        arrive = env.now + delay
        if not locker:  # lockers are open around the clock; the desk keeps store hours
            opening = net.next_open(store, arrive)
            if opening > arrive:
                arrive = opening + delay % _LATE_ARRIVAL_SPREAD_MIN
        yield env.timeout(arrive - env.now)
        if locker:
            net.lockers_free[store] += 1
        elif store in net.desks:
            service = float(book.desk_service_exp[i]) * net.desk_service_min[store]
            waited = yield from desk_visit(env, net.desks[store], service)
            order.desk_wait_min = waited
            order.charge("desk_eur", world.scenario.costs.desk_handover_eur)
        order.collected_min = env.now
        close(order, "collected")

    def maybe_return(self, order: OrderRecord) -> None:
        world = self.world
        if world.orders.u_return[order.id] < world.scenario.customers.return_rate:
            world.env.process(self._return(order))

    def _return(self, order: OrderRecord) -> Generator[simpy.Event, object, None]:
        world = self.world
        sc, net, book = world.scenario, world.net, world.orders
        yield world.env.timeout(float(book.return_delay_min[order.id]))
        in_store = order.channel == CC or sc.customers.store_accepts_online_returns
        if in_store and len(net.stores):
            shelf = (
                order.pickup_store
                if order.channel == CC
                else net.nearest_store(book.lat[order.id], book.lon[order.id])
            )
            order.return_channel = "store"
            order.charge("return_eur", sc.costs.return_in_store_eur)
        else:
            # Mailed back: the goods go back to the node that sent them.
            shelf = -1
            order.return_channel = "mail"
            order.return_refused = bool(len(net.stores)) and order.channel != CC
            order.charge("return_eur", sc.costs.return_by_mail_eur)
        for p in world.parcels[order.id]:
            if p.status != "cancelled":
                world.stock.restock(p.node if shelf < 0 else shelf, p.skus, p.qty)
        order.returned_min = world.env.now
        order.finish("returned")
