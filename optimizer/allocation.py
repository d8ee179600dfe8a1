"""Order allocation: which node fulfils each line of each pending order.

An :class:`AllocationProblem` is a batch of orders (as lines: order, SKU, quantity) and
candidate nodes (warehouses and stores) with the stock the allocator *sees*, costs and
limits. A solver returns an :class:`AllocationPlan` that gives every line a node or marks
it backordered (``-1``). SKU indices are local to the problem: the caller maps its
catalogue onto ``0..n_skus-1``.

Greedy baselines live here so the value of optimisation is itself measurable.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from optimizer.errors import ProblemError

BACKORDER = -1


@dataclass(frozen=True)
class AllocationProblem:
    """A batch of orders to allocate to nodes.

    Per line: ``line_order``, ``line_sku``, ``line_qty`` (all length ``n_lines``).
    Per node: ``is_warehouse``, ``pick_cost_per_line_eur``, ``capacity_lines`` (lines the
    node can still pick in the period; ``inf`` for no limit).
    Per node and SKU: ``available`` (stock as seen) and ``safety_stock`` (kept back for
    walk-in shoppers). Per order and node: ``eligible``, ``ship_cost_eur`` (transport
    estimate of one parcel from the node to the customer) and ``late_cost_eur`` (expected
    lateness cost against the promise if served from the node).
    """

    line_order: np.ndarray
    line_sku: np.ndarray
    line_qty: np.ndarray
    available: np.ndarray  # (n_nodes, n_skus)
    safety_stock: np.ndarray  # (n_nodes, n_skus)
    is_warehouse: np.ndarray  # (n_nodes,) bool
    pick_cost_per_line_eur: np.ndarray  # (n_nodes,)
    capacity_lines: np.ndarray  # (n_nodes,)
    eligible: np.ndarray  # (n_orders, n_nodes) bool
    ship_cost_eur: np.ndarray  # (n_orders, n_nodes)
    late_cost_eur: np.ndarray  # (n_orders, n_nodes)
    split_penalty_eur: float = 5.0  # per extra node used by an order
    max_nodes_per_order: int = 2
    backorder_cost_eur: float = 50.0  # per backordered line

    @property
    def n_orders(self) -> int:
        return int(self.eligible.shape[0])

    @property
    def n_nodes(self) -> int:
        return int(self.eligible.shape[1])

    @property
    def n_lines(self) -> int:
        return len(self.line_order)

    def validate(self) -> None:
        """Raise :class:`ProblemError` naming the first inconsistent field."""
        n_l, n_o, n_n = self.n_lines, self.n_orders, self.n_nodes
        for name in ("line_sku", "line_qty"):
            if len(getattr(self, name)) != n_l:
                raise ProblemError(f"{name} has {len(getattr(self, name))} entries, expected {n_l}")
        if n_l and (self.line_order.min() < 0 or self.line_order.max() >= n_o):
            raise ProblemError("line_order refers to an order outside 0..n_orders-1")
        n_skus = self.available.shape[1] if self.available.ndim == 2 else -1
        if self.available.shape != (n_n, n_skus) or self.safety_stock.shape != self.available.shape:
            raise ProblemError("available and safety_stock must both be (n_nodes, n_skus) arrays")
        if n_l and (self.line_sku.min() < 0 or self.line_sku.max() >= n_skus):
            raise ProblemError("line_sku refers to an unknown SKU (outside 0..n_skus-1)")
        if (self.line_qty <= 0).any():
            raise ProblemError("line_qty must be positive for every line")
        for name in ("ship_cost_eur", "late_cost_eur"):
            if getattr(self, name).shape != (n_o, n_n):
                raise ProblemError(f"{name} must be an (n_orders, n_nodes) array")
        for name in ("is_warehouse", "pick_cost_per_line_eur", "capacity_lines"):
            if len(getattr(self, name)) != n_n:
                raise ProblemError(f"{name} must have one entry per node ({n_n})")
        if self.max_nodes_per_order < 1:
            raise ProblemError("max_nodes_per_order must be at least 1")


@dataclass(frozen=True)
class AllocationPlan:
    """A node per line (``BACKORDER`` = -1 when none can serve it) and the plan's cost."""

    line_node: np.ndarray
    objective_eur: float
    solver: str
    solve_time_s: float = 0.0
    optimal: bool = False


def plan_cost(problem: AllocationProblem, line_node: np.ndarray) -> float:
    """Objective of an assignment: picking + per-(order, node) shipping and lateness +
    split penalties + backorders. Every solver reports its plan through this function."""
    served = line_node >= 0
    cost = float(problem.pick_cost_per_line_eur[line_node[served]].sum())
    cost += problem.backorder_cost_eur * float((~served).sum())
    pairs = np.unique(np.stack([problem.line_order[served], line_node[served]]), axis=1)
    if pairs.size:
        o, n = pairs
        cost += float(problem.ship_cost_eur[o, n].sum() + problem.late_cost_eur[o, n].sum())
        nodes_per_order = np.bincount(o, minlength=problem.n_orders)
        cost += problem.split_penalty_eur * float(np.clip(nodes_per_order - 1, 0, None).sum())
    return cost


def _greedy(problem: AllocationProblem, node_mask: np.ndarray, name: str) -> AllocationPlan:
    """Orders in sequence; each takes the cheapest eligible node that has all its lines,
    otherwise its lines go one by one to the cheapest node with stock (within the split
    limit), otherwise backorder."""
    problem.validate()
    free = np.maximum(problem.available - problem.safety_stock, 0).astype(float)
    cap = problem.capacity_lines.astype(float).copy()
    line_node = np.full(problem.n_lines, BACKORDER, dtype=np.int64)
    order_cost = problem.ship_cost_eur + problem.late_cost_eur
    by_order = np.argsort(problem.line_order, kind="stable")
    bounds = np.searchsorted(problem.line_order[by_order], np.arange(problem.n_orders + 1))
    for o in range(problem.n_orders):
        lines = by_order[bounds[o] : bounds[o + 1]]
        if not len(lines):
            continue
        skus, qty = problem.line_sku[lines], problem.line_qty[lines]
        cand = np.flatnonzero(problem.eligible[o] & node_mask)
        cand = cand[
            np.argsort(order_cost[o, cand] + problem.pick_cost_per_line_eur[cand], kind="stable")
        ]
        whole = next(
            (n for n in cand if cap[n] >= len(lines) and (free[n, skus] >= qty).all()), None
        )
        if whole is not None:
            np.subtract.at(free[whole], skus, qty)
            cap[whole] -= len(lines)
            line_node[lines] = whole
            continue
        used: list[int] = []
        for line, sku, q in zip(lines, skus, qty, strict=True):
            options = [n for n in cand if cap[n] >= 1 and free[n, sku] >= q]
            options = [n for n in options if n in used] or (
                options if len(used) < problem.max_nodes_per_order else []
            )
            if options:
                n = options[0]
                free[n, sku] -= q
                cap[n] -= 1
                line_node[line] = n
                if n not in used:
                    used.append(n)
    return AllocationPlan(line_node, plan_cost(problem, line_node), name)


def allocate_warehouse_only(problem: AllocationProblem) -> AllocationPlan:
    """Baseline: warehouses only, cheapest warehouse that has the whole order first."""
    return _greedy(problem, problem.is_warehouse.astype(bool), "warehouse_only")


def allocate_nearest_with_stock(problem: AllocationProblem) -> AllocationPlan:
    """Baseline: any eligible node, cheapest (nearest) node that has the whole order first."""
    return _greedy(problem, np.ones(problem.n_nodes, dtype=bool), "nearest_with_stock")
