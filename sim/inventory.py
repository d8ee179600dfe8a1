"""Stock at every node: true units, the inventory system's records, and what the web sees.

Three quantities per (node, SKU) are kept apart on purpose:
- ``true``: units physically on the shelf; walk-ins and pickers take from it, shrinkage
  (theft, damage) removes from it unseen.
- ``record``: what the node's inventory system believes; store records start wrong for a
  share of SKUs and drift with shrinkage, so a store pick can fail.
- the web's view: what the web shop believes it may still sell. Live (records minus its
  open reservations) where it is integrated; elsewhere its own copy, refreshed by a feed
  (records minus reservations at the feed, minus what the web sold since): ``unified``
  reads every node live; ``delayed`` reads warehouses live and stores through a feed
  every ``sync_interval_min``; ``siloed`` sees no store and reads the warehouses through
  a feed every ``warehouse_feed_interval_min``. Between feeds it misses walk-in sales,
  store replenishment leaving the warehouse, shrinkage and receipts: it oversells.

Stores are replenished from the nearest warehouse (or straight from suppliers), so the
warehouses' stock also drains toward the stores.

Replenishment reviews the inventory position (record + on order) with (s,S), (R,Q) or
periodic order-up-to policies whose levels are days of the node's expected demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from sim.scenario import Replenishment, Scenario

INITIAL_COVER_SPREAD = 0.6  # opening cover is uniform within ±60% of the scenario's days


@dataclass
class StockFlows:
    """Units moved, for the conservation check: initial + in − out = final."""

    initial: int = 0
    received: int = 0
    transfer_out: int = 0
    transfer_in: int = 0
    restocked: int = 0
    sold_walk_in: int = 0
    picked: int = 0
    shrinkage: int = 0


@dataclass
class Stock:
    """Stock arrays of shape (n_nodes, n_skus); node order is warehouses, then stores."""

    true: np.ndarray
    record: np.ndarray
    reserved: np.ndarray
    web_view: np.ndarray  # the web's own copy where it reads a node through a feed
    on_order: np.ndarray
    expected_daily: np.ndarray
    is_store: np.ndarray
    flows: StockFlows = field(default_factory=StockFlows)

    def visible(self, mode: str, nodes: np.ndarray, skus: np.ndarray) -> np.ndarray:
        """Units the web believes it may still sell, shape (len(nodes), len(skus))."""
        idx = np.ix_(nodes, skus)
        store = self.is_store[nodes][:, None]
        if mode == "unified":
            seen = self.record[idx] - self.reserved[idx]
        elif mode == "delayed":
            seen = np.where(store, self.web_view[idx], self.record[idx] - self.reserved[idx])
        else:
            seen = np.where(store, 0, self.web_view[idx])
        return np.maximum(seen, 0)

    def reserve(self, node: int, skus: np.ndarray, qty: np.ndarray) -> None:
        np.add.at(self.reserved[node], skus, qty)
        np.subtract.at(self.web_view[node], skus, qty)

    def release(self, node: int, skus: np.ndarray, qty: np.ndarray) -> None:
        """A reservation ends unsold (the order went elsewhere or was cancelled)."""
        np.subtract.at(self.reserved[node], skus, qty)
        np.add.at(self.web_view[node], skus, qty)
        assert (self.reserved[node, skus] >= 0).all(), "a reservation was released twice"

    def pick(self, node: int, skus: np.ndarray, qty: np.ndarray) -> bool:
        """Take a parcel's lines off the shelf, all or nothing; the reservation ends either
        way. False when the shelf is short (the order was oversold)."""
        # The web counted these units as sold when it reserved them: its view stays.
        np.subtract.at(self.reserved[node], skus, qty)
        assert (self.reserved[node, skus] >= 0).all(), "a reservation ended twice"
        if (self.true[node, skus] < qty).any():
            # The picker finds the gap: the record is corrected to what is there.
            self.record[node, skus] = np.minimum(self.record[node, skus], self.true[node, skus])
            return False
        self.true[node, skus] -= qty
        self.record[node, skus] = np.maximum(self.record[node, skus] - qty, 0)
        self.flows.picked += int(qty.sum())
        return True

    def walk_in(self, node: int, skus: np.ndarray, qty: np.ndarray, protect_reserved: bool) -> int:
        """A shopper takes what the shelf has of each line; returns the lines not found.
        With ``protect_reserved`` the web's reservations are held back from shoppers."""
        shelf = self.true[node, skus]
        if protect_reserved:
            shelf = shelf - self.reserved[node, skus]
        ok = shelf >= qty
        sold_skus, sold_qty = skus[ok], qty[ok]
        self.true[node, sold_skus] -= sold_qty
        self.record[node, sold_skus] = np.maximum(self.record[node, sold_skus] - sold_qty, 0)
        self.flows.sold_walk_in += int(sold_qty.sum())
        return int((~ok).sum())

    def restock(self, node: int, skus: np.ndarray, qty: np.ndarray) -> None:
        """Units come back to a shelf (a no-show, a return, a failed delivery)."""
        np.add.at(self.true[node], skus, qty)
        np.add.at(self.record[node], skus, qty)
        self.flows.restocked += int(qty.sum())

    def shrink(self, node: int, rng: np.random.Generator, mean_units: float) -> None:
        """Units vanish unseen, likelier from SKUs with more on the shelf."""
        n = int(rng.poisson(mean_units))
        total = int(self.true[node].sum())
        if n == 0 or total == 0:
            return
        gone = rng.choice(self.true.shape[1], size=min(n, total), p=self.true[node] / total)
        np.subtract.at(self.true[node], gone, 1)
        np.maximum(self.true[node], 0, out=self.true[node])
        self.flows.shrinkage += min(n, total)

    def sync(self) -> None:
        """A feed: the web's copy becomes the records minus the open reservations."""
        self.web_view[:] = self.record - self.reserved

    def review(self, node: int, policy: Replenishment, day: int) -> np.ndarray:
        """Units to order now for each SKU of one node."""
        demand = self.expected_daily[node]
        position = self.record[node] + self.on_order[node]
        if policy.policy == "sS":
            s, big_s = np.ceil(demand * policy.reorder_point_days), demand * policy.order_up_to_days
            qty = np.where(position <= s, np.ceil(big_s) - position, 0)
        elif policy.policy == "RQ":
            r = np.ceil(demand * policy.reorder_point_days)
            q = np.maximum(np.ceil(demand * policy.order_qty_days), 1)
            # Order as many Q as lift the position above R.
            qty = np.where(position <= r, q * np.ceil((r - position + 1) / q), 0)
        else:
            due = day % policy.review_period_days == 0
            qty = np.ceil(demand * policy.order_up_to_days) - position if due else 0 * position
        qty = np.maximum(qty, 0).astype(np.int64)
        return np.where(qty >= policy.min_order_units, qty, 0)

    def order(self, node: int, qty: np.ndarray) -> None:
        self.on_order[node] += qty

    def receive(self, node: int, qty: np.ndarray, transfer: bool = False) -> None:
        """A replenishment lands (from a supplier, or from a warehouse if ``transfer``)."""
        self.on_order[node] -= qty
        self.true[node] += qty
        self.record[node] += qty
        if transfer:
            self.flows.transfer_in += int(qty.sum())
        else:
            self.flows.received += int(qty.sum())

    def ship_transfer(self, warehouse: int, qty: np.ndarray) -> np.ndarray:
        """Units leave a warehouse for a store: at most what is neither gone nor reserved
        for the web's orders. Returns the units shipped."""
        free = np.maximum(np.minimum(self.true[warehouse], self.record[warehouse])
                          - self.reserved[warehouse], 0)  # fmt: skip
        shipped = np.minimum(qty, free)
        self.true[warehouse] -= shipped
        self.record[warehouse] -= shipped
        self.flows.transfer_out += int(shipped.sum())
        return shipped


def expected_daily_demand(scenario: Scenario, popularity: np.ndarray) -> np.ndarray:
    """Units per day each node expects to sell of each SKU (sets stock and policy levels).

    Warehouses share all online units (and, when they replenish the stores, the stores'
    units too); stores see their walk-ins plus an equal share of click & collect."""
    d = scenario.demand
    units_per_order = d.lines_per_order_mean * d.units_per_line_mean
    n_wh = len(scenario.network.warehouses)
    n_st = len(scenario.network.stores)
    cc_per_store = d.online_orders_per_day * d.click_and_collect_share / max(n_st, 1)
    store_units = [
        s.walk_ins_per_day * d.walk_in_lines_mean + cc_per_store * units_per_order
        for s in scenario.network.stores
    ]
    wh_units = d.online_orders_per_day * units_per_order
    if scenario.inventory.stores_replenished_from == "warehouse":
        wh_units += sum(store_units)
    rows = [np.full_like(popularity, wh_units / n_wh)] * n_wh
    rows += [np.full_like(popularity, units) for units in store_units]
    return np.vstack(rows) * popularity[None, :] if rows else np.zeros((0, len(popularity)))


def initial_stock(scenario: Scenario, popularity: np.ndarray, rng: np.random.Generator) -> Stock:
    """Opening stock (days of cover) and store records with the scenario's error rate."""
    inv = scenario.inventory
    expected = expected_daily_demand(scenario, popularity)
    n_wh = len(scenario.network.warehouses)
    n_nodes = expected.shape[0]
    is_store = np.arange(n_nodes) >= n_wh
    days = np.where(is_store, inv.store_initial_days, inv.warehouse_initial_days)[:, None]
    # Cover varies by SKU around the mean, as in a chain that has been trading for a while:
    # some SKUs are due for replenishment on the first night, others weeks later.
    spread = rng.uniform(1 - INITIAL_COVER_SPREAD, 1 + INITIAL_COVER_SPREAD, expected.shape)
    true = np.ceil(expected * days * spread).astype(np.int64)
    true[is_store] = np.maximum(true[is_store], inv.store_min_units)
    record = true.copy()
    stores = np.flatnonzero(is_store)
    if len(stores) and inv.record_error_share > 0 and inv.record_error_mean_units > 0:
        shape = (len(stores), true.shape[1])
        wrong = rng.uniform(size=shape) < inv.record_error_share
        size = 1 + rng.poisson(max(inv.record_error_mean_units - 1.0, 0.0), shape)
        sign = np.where(rng.uniform(size=shape) < 0.5, -1, 1)
        record[stores] = np.maximum(true[stores] + np.where(wrong, sign * size, 0), 0)
    zeros = np.zeros_like(true)
    return Stock(
        true=true,
        record=record,
        reserved=zeros.copy(),
        web_view=record.copy(),
        on_order=zeros.copy(),
        expected_daily=expected,
        is_store=is_store,
        flows=StockFlows(initial=int(true.sum())),
    )
