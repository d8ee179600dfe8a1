"""Batch order sourcing: the ``optimized`` allocation policy.

At checkout the web shop confirms an order on a provisional plan (the nearest node with
stock, as seen), shows the promise that plan supports and reserves its stock, but picks
nothing yet. Every ``allocation_batch_min`` minutes the waiting orders are sourced
together by the exact allocator (:func:`optimizer.allocation.allocate_optimized`, with no
time limit so that runs are reproducible) against the stock the web sees then, with a
price on every hour a node would be later than the promise; their parcels then go to
picking. An order the batch cannot serve any more (its stock went to walk-ins since
checkout) was oversold and is cancelled.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import simpy

from optimizer.allocation import BACKORDER, AllocationProblem, allocate_optimized
from sim.checkout import allocation_problem, launch, promise_ship_to_store, promise_store_pick
from sim.demand import CC
from sim.ledger import OrderRecord

if TYPE_CHECKING:
    from sim.model import World


@dataclass
class Held:
    """An order confirmed at checkout and waiting for the next batch."""

    order: OrderRecord
    line_node: np.ndarray  # the provisional plan, whose stock is reserved
    skus: np.ndarray
    qty: np.ndarray


class Sourcing:
    def __init__(self, world: World) -> None:
        self.world = world
        self.waiting: list[Held] = []

    def hold(
        self, order: OrderRecord, line_node: np.ndarray, skus: np.ndarray, qty: np.ndarray
    ) -> None:
        for node in np.unique(line_node):
            mask = line_node == node
            self.world.stock.reserve(int(node), skus[mask], qty[mask])
        order.stage = "awaiting_sourcing"
        self.waiting.append(Held(order, line_node, skus, qty))

    def run(self) -> Generator[simpy.Event, object, None]:
        while True:
            yield self.world.env.timeout(self.world.scenario.policies.allocation_batch_min)
            self.source()

    def source(self) -> None:
        batch, self.waiting = self.waiting, []
        if not batch:
            return
        world = self.world
        for held in batch:
            for node in np.unique(held.line_node):
                mask = held.line_node == node
                world.stock.release(int(node), held.skus[mask], held.qty[mask])
        plan = allocate_optimized(batch_problem(world, batch), time_limit_s=None)
        world.ledger.count("allocation_batches")
        start = 0
        for held in batch:
            line_node = plan.line_node[start : start + len(held.skus)]
            start += len(held.skus)
            if (line_node == BACKORDER).any():
                held.order.oversold = True
                held.order.cancel_reason = "oversold: stock gone by the time the batch ran"
                held.order.finish("cancelled")
                continue
            launch(world, held.order, line_node, held.skus, held.qty)


def batch_problem(world: World, batch: list[Held]) -> AllocationProblem:
    """The waiting orders as one problem: each order's row is what checkout would build for
    it now, plus the price of being later than its promise at each node."""
    sc, net, stock = world.scenario, world.net, world.stock
    skus = np.unique(np.concatenate([h.skus for h in batch]))
    nodes = np.arange(len(net.ids))
    rows = [allocation_problem(world, h.order, h.skus, h.qty) for h in batch]
    late = np.zeros((len(batch), len(nodes)))
    now = world.env.now
    for k, h in enumerate(batch):
        if h.order.channel == CC:
            store = h.order.pickup_store
            ready = np.array(
                [
                    promise_store_pick(world, store, now)
                    if net.is_store[n]
                    else promise_ship_to_store(world, n, store, now)
                    for n in nodes
                ]
            )
            late[k] = np.maximum(ready - h.order.promised_min, 0) / 60 * sc.costs.late_per_hour_eur
    available = stock.visible(sc.visibility.mode, nodes, skus)
    safety = np.where(net.is_store, sc.inventory.store_safety_stock_units, 0)[:, None]
    return AllocationProblem(
        line_order=np.repeat(np.arange(len(batch)), [len(h.skus) for h in batch]),
        line_sku=np.searchsorted(skus, np.concatenate([h.skus for h in batch])),
        line_qty=np.concatenate([h.qty for h in batch]),
        available=available,
        safety_stock=np.broadcast_to(safety, available.shape),
        is_warehouse=~net.is_store,
        pick_cost_per_line_eur=net.pick_cost_per_line_eur,
        capacity_lines=rows[0].capacity_lines,
        eligible=np.vstack([r.eligible for r in rows]),
        ship_cost_eur=np.vstack([r.ship_cost_eur for r in rows]),
        late_cost_eur=late,
        max_nodes_per_order=sc.policies.max_nodes_per_order,
    )
