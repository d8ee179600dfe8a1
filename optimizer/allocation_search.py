"""Rounding a master LP solution into a feasible plan, then a local search.

Each order is served by a *pattern* (each line at a node or backordered, at most
``max_nodes_per_order`` nodes). Choosing one order's best pattern against the stock and
capacity the other orders leave is a small exact enumeration: node subsets of the order's
useful nodes, each line at its cheapest node of the subset. Rounding and search use it:

- rounding: orders whose LP pattern is integral keep it; the fractional ones, heaviest
  first, take their heaviest LP pattern that fits, else their best pattern in what is left;
- *move chains* over every line (:func:`_move_by_chains`): a line goes to a node whose
  picking slot is freed by a chain of up to three single-line moves through full nodes (a
  shortest path over the nodes), and a backordered line also to a node short of its stock
  by moving a line of its SKU away; passes repeat while one improves;
- local search over the orders rounding did not keep: *re-insertion* (release the order,
  take its best pattern again) and *ejection* (the order takes its unconstrained best
  pattern by evicting one order that holds a unit or a picking slot it lacks, and the
  evicted order re-inserts), each accepted only when the batch cost falls; then the chains
  once more.

Why: the production MIP needs seconds on large batches, and a budget cut short before it
finds a plan used to return the greedy plan. Measured on the 2,000 x 50 benchmark batch
(bench/allocation.py, seed 1, shared 2-core machine): at convergence the LP has about 100
fractional orders of 2,000 and rounding alone ends 2.8% above the optimum; re-insertion and
ejection alone (the search before the chains existed) reached 2.35%, with 139 backordered
lines against the optimum's 129: the stock left at the full warehouses is fragmented and
their picking slots are taken, which one ejection cannot undo. With the chains it ends
0.76% above (131 backordered lines, 10 more split orders than the optimum) in 0.3-0.4 s;
from the LP of pricing round 4 or 5, 1.1% or 0.9% (the chains alone reach 1.2% and 0.9% in
0.2 s); greedy is 50% above. A min-cost flow over the single-line, one-unit orders with
every other order fixed (exact for that neighbourhood, 10 ms) gained only 11 EUR on the
rounded plan, and moving served lines through stock shortages too gained 5 EUR more for
seconds of search, so neither is here. It is no substitute for the MIP, which reaches
0.02% from the same columns within seconds more, but it is its hint and the answer when
the budget leaves it no time. Deterministic; only a deadline cuts it short.
"""

from __future__ import annotations

import itertools
import time
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from optimizer.allocation import AllocationProblem
    from optimizer.allocation_colgen import PatternMaster

# Improvements smaller than this are rounding noise, not moves worth taking.
_TOL_EUR = 1e-7
# Orders an ejection move tries to evict, at most.
_MAX_EVICTION_TRIES = 8
# Lines moved to free one picking slot, at most (the depth of the nodes' shortest paths).
_CHAIN_HOPS = 3


def _nodes_used(nodes: np.ndarray) -> set[int]:
    """The nodes a pattern ships from (a backordered line, ``-1``, uses none)."""
    return {node for node in nodes.tolist() if node >= 0}


class _State:
    """A plan under construction: residual stock and capacity and each order's value."""

    def __init__(self, problem: AllocationProblem) -> None:
        self.problem = problem
        lo = problem.line_order
        self.sku, self.qty = problem.line_sku, problem.line_qty.astype(float)
        self.free0 = np.maximum(problem.available - problem.safety_stock, 0).astype(float)
        # Plans are integral, so a fractional or infinite capacity acts as its floor.
        self.cap0 = np.floor(problem.capacity_lines.astype(float))
        self.free, self.cap = self.free0.copy(), self.cap0.copy()
        self.pick = problem.pick_cost_per_line_eur.astype(float)
        self.parcel = (problem.ship_cost_eur + problem.late_cost_eur).astype(float)
        self.backorder = float(problem.backorder_cost_eur)
        self.split = float(problem.split_penalty_eur)
        by_order = np.argsort(lo, kind="stable")
        start = np.concatenate([[0], np.cumsum(np.bincount(lo, minlength=problem.n_orders))])
        self.lines = [by_order[start[o] : start[o + 1]] for o in range(problem.n_orders)]
        self.lines_list = [lines.tolist() for lines in self.lines]
        self.sku_list, self.qty_list = self.sku.tolist(), self.qty.tolist()
        # A node whose picking alone costs more than a backorder never serves a line.
        usable = (self.pick <= self.backorder) & (self.cap0 >= 1)
        self.usable = problem.eligible.astype(bool) & usable[None, :]  # (orders, nodes)
        self.nodes = [np.flatnonzero(self.usable[o]) for o in range(problem.n_orders)]
        self.line_node = np.full(problem.n_lines, -1, dtype=np.int64)
        self.value = np.zeros(problem.n_orders)  # order cost minus its all-backorder cost
        self._combos: dict[tuple[int, int], np.ndarray] = {}

    def combinations(self, width: int, k: int) -> np.ndarray:
        if (width, k) not in self._combos:
            self._combos[width, k] = np.array(
                list(itertools.combinations(range(width), k)), dtype=np.int64
            ).reshape(-1, k)
        return self._combos[width, k]

    def take(self, order: int, nodes: np.ndarray, value: float) -> None:
        """Serve ``order``'s lines at ``nodes`` (``-1`` = backorder), a pattern worth ``value``."""
        lines = self.lines_list[order]
        self.line_node[lines] = nodes
        # Scalar updates over an order's 1-4 lines: cheaper than np.subtract.at per call.
        for line, node in zip(lines, nodes.tolist(), strict=True):
            if node >= 0:
                self.free[node, self.sku_list[line]] -= self.qty_list[line]
                self.cap[node] -= 1.0
        self.value[order] = value

    def release(self, order: int) -> tuple[np.ndarray, float]:
        """Backorder ``order`` again; its former nodes and value, to restore it."""
        lines = self.lines_list[order]
        nodes = self.line_node[lines]  # fancy indexing: a copy
        for line, node in zip(lines, nodes.tolist(), strict=True):
            if node >= 0:
                self.free[node, self.sku_list[line]] += self.qty_list[line]
                self.cap[node] += 1.0
        self.line_node[lines] = -1
        value = float(self.value[order])
        self.value[order] = 0.0
        return nodes, value

    def pattern_value(self, order: int, nodes: np.ndarray) -> float:
        """The value of serving ``order``'s lines at ``nodes`` (``-1`` = backorder)."""
        used = _nodes_used(nodes)
        served = nodes >= 0
        return float(
            (self.pick[nodes[served]] - self.backorder).sum()
            + self.parcel[order, list(used)].sum()
            + self.split * max(len(used) - 1, 0)
        )

    def fits(self, order: int, nodes: np.ndarray, free: np.ndarray, cap: np.ndarray) -> bool:
        """Whether ``order``'s lines at ``nodes`` fit ``free`` and ``cap`` all together."""
        # Plain Python over an order's 1-4 lines: per-call numpy (unique, bincount) made this
        # check half of the rounding's time.
        need: dict[tuple[int, int], float] = {}
        count: dict[int, int] = {}
        for line, node in zip(self.lines_list[order], nodes.tolist(), strict=True):
            if node >= 0:
                key = (node, self.sku_list[line])
                need[key] = need.get(key, 0.0) + self.qty_list[line]
                count[node] = count.get(node, 0) + 1
        if any(q > free[key] + 1e-9 for key, q in need.items()):
            return False
        return all(c <= cap[node] + 1e-9 for node, c in count.items())

    def best(self, order: int, free: np.ndarray, cap: np.ndarray) -> tuple[np.ndarray, float]:
        """The order's cheapest pattern that fits ``free`` and ``cap`` (per node and line,
        then the joint check for several lines of one SKU or one node's capacity), and its
        value. Backordering every line (value 0) always fits."""
        lines, cand = self.lines[order], self.nodes[order]
        backorder_all = np.full(len(lines), -1, dtype=np.int64)
        if not len(cand) or not len(lines):
            return backorder_all, 0.0
        sku, qty = self.sku[lines], self.qty[lines]
        ok = (free[cand][:, sku] >= qty[None, :]) & (cap[cand] >= 1)[:, None]
        reduced = np.where(ok, (self.pick[cand] - self.backorder)[:, None], np.inf)  # (N, k)
        parcel = self.parcel[order, cand]
        useful = parcel + np.where(ok, reduced, 0.0).sum(axis=1) < -_TOL_EUR
        if not useful.any():
            return backorder_all, 0.0
        cand, reduced, parcel = cand[useful], reduced[useful], parcel[useful]
        values, subsets = [], []
        for k in range(1, min(self.problem.max_nodes_per_order, len(lines), len(cand)) + 1):
            combos = self.combinations(len(cand), k)
            line_best = reduced[combos].min(axis=1)  # (m, lines)
            values.append(
                parcel[combos].sum(axis=1)
                + self.split * (k - 1)
                + np.where(np.isfinite(line_best), line_best, 0.0).sum(axis=1)
            )
            subsets.extend(combos)
        value = np.concatenate(values)
        for i in np.argsort(value, kind="stable"):
            if value[i] >= -_TOL_EUR:
                break
            subset = subsets[i]
            options = reduced[subset]
            nodes = np.where(
                np.isfinite(options.min(axis=0)), cand[subset[options.argmin(axis=0)]], -1
            )
            if self.fits(order, nodes, free, cap):
                return nodes, float(value[i])
        return backorder_all, 0.0


def round_master_lp(
    problem: AllocationProblem,
    master: PatternMaster,
    lp_values: np.ndarray,
    deadline: float | None,
) -> np.ndarray:
    """A feasible plan (a node or ``-1`` per line) from a master LP solution: orders whose
    LP pattern is integral keep it (together they fit, since the LP solution does); the
    others, largest LP weight first, take their heaviest LP pattern that still fits, else
    their best pattern in what is left; then move chains, re-insertion and ejection moves
    over those orders, and move chains again, each until none improves or the
    ``time.perf_counter()`` ``deadline`` passes."""
    state = _State(problem)
    weight = np.zeros(problem.n_orders)
    support: dict[int, list[int]] = {}  # each order's LP columns, heaviest first
    col_order = np.asarray(master.col_order, dtype=np.int64)
    for j in np.argsort(-lp_values, kind="stable"):
        if lp_values[j] <= 1e-9:
            break
        o = int(col_order[j])
        support.setdefault(o, []).append(int(j))
        weight[o] = max(weight[o], lp_values[j])
    fixed = weight >= 1.0 - 1e-6
    for o in np.flatnonzero(fixed):
        nodes, value = _column_pattern(state, master, support[int(o)][0])
        # The LP's own tolerances could let an integral column overdraw a row by a hair.
        if state.fits(int(o), nodes, state.free, state.cap):
            state.take(int(o), nodes, value)
        else:
            fixed[o] = False
    rest = np.flatnonzero(~fixed)
    rest = rest[np.argsort(-weight[rest], kind="stable")]
    for o in rest:
        o = int(o)
        # The order's LP columns first: checking one is far cheaper than the enumeration.
        placed = False
        for j in support.get(o, []):
            nodes, value = _column_pattern(state, master, j)
            if state.fits(o, nodes, state.free, state.cap):
                state.take(o, nodes, value)
                placed = True
                break
        if placed:
            continue
        # Past the deadline the order stays backordered (the enumeration is the slow part):
        # the plan is complete and feasible either way.
        if deadline is None or time.perf_counter() <= deadline:
            state.take(o, *state.best(o, state.free, state.cap))
    # Chains first: from the LP of pricing round 4-5 (what a 1 s budget reaches on the
    # 2,000 x 50 benchmark) they gain 400-500 EUR in 0.2 s, re-insertion and ejection
    # 150-180 EUR in 0.15 s, and little after the chains.
    _chains(state, deadline)
    ideal: dict[int, tuple[np.ndarray, float]] = {}  # unconstrained best, when first needed
    improved = True
    while improved:
        improved = False
        for o in rest:
            if deadline is not None and time.perf_counter() > deadline:
                return state.line_node
            o = int(o)
            if o not in ideal:
                ideal[o] = state.best(o, state.free0, state.cap0)
            if state.value[o] > ideal[o][1] + _TOL_EUR:
                improved |= _reinsert(state, o) or _eject(state, o, ideal[o])
    _chains(state, deadline)
    return state.line_node


def _column_pattern(state: _State, master: PatternMaster, column: int) -> tuple[np.ndarray, float]:
    """A master column as a node per line of its order (``-1`` = backorder) and its value."""
    lines = state.lines[master.col_order[column]]
    nodes = np.full(len(lines), -1, dtype=np.int64)
    nodes[np.searchsorted(lines, master.col_lines[column])] = master.col_nodes[column]
    return nodes, float(master.cost_eur[column])


def _reinsert(state: _State, order: int) -> bool:
    old_nodes, old_value = state.release(order)
    nodes, value = state.best(order, state.free, state.cap)
    if value < old_value - _TOL_EUR:
        state.take(order, nodes, value)
        return True
    state.take(order, old_nodes, old_value)
    return False


def _eject(state: _State, order: int, ideal: tuple[np.ndarray, float]) -> bool:
    """Give ``order`` its unconstrained best pattern by evicting one order that holds what
    it lacks; the evicted order re-inserts. Kept only if the two orders' cost falls."""
    target, target_value = ideal
    old_nodes, old_value = state.release(order)
    lines = state.lines[order]
    served = target >= 0
    short = [
        (int(n), int(s))
        for n, s, q in zip(
            target[served], state.sku[lines[served]], state.qty[lines[served]], strict=True
        )
        if state.free[n, s] < q
    ]
    short_nodes = {int(n) for n in target[served] if state.cap[n] < 1}
    holders = state.problem.line_order[
        (state.line_node >= 0)
        & (
            np.isin(
                state.line_node * state.free.shape[1] + state.sku,
                [n * state.free.shape[1] + s for n, s in short],
            )
            | np.isin(state.line_node, list(short_nodes))
        )
    ]
    # A few holders (lowest order index first) keep one move cheap.
    for other in np.unique(holders)[:_MAX_EVICTION_TRIES]:
        other = int(other)
        other_nodes, other_value = state.release(other)
        if state.fits(order, target, state.free, state.cap):
            state.take(order, target, target_value)
            nodes, value = state.best(other, state.free, state.cap)
            if target_value + value < old_value + other_value - _TOL_EUR:
                state.take(other, nodes, value)
                return True
            state.release(order)
        state.take(other, other_nodes, other_value)
    state.take(order, old_nodes, old_value)
    return False


def _line_moves(state: _State, lines: np.ndarray) -> np.ndarray:
    """Cost change of moving each of ``lines`` (served or backordered) alone to each node,
    ``inf`` where the line's stock is short there, the node is not usable for its order or
    the order would exceed its node limit; (lines, nodes). Capacity is not checked: the
    chains below price it."""
    problem = state.problem
    n_nodes = problem.n_nodes
    order = problem.line_order[lines]
    node = state.line_node[lines]
    served = node >= 0
    # Lines per (order, node) of the orders concerned, for the parcel and split changes.
    orders, where = np.unique(order, return_inverse=True)
    uses = np.zeros((len(orders), n_nodes))
    for_orders = np.isin(problem.line_order, orders) & (state.line_node >= 0)
    np.add.at(
        uses,
        (np.searchsorted(orders, problem.line_order[for_orders]), state.line_node[for_orders]),
        1.0,
    )
    uses = uses[where]  # (lines, nodes)
    n_used = (uses > 0).sum(axis=1)
    here = np.where(served, node, 0)
    alone = served & (uses[np.arange(len(lines)), here] == 1)
    new_node = uses == 0  # the move opens a parcel at the target
    count = (n_used - alone)[:, None] + new_node
    parcel = state.parcel[order]
    delta = (
        state.pick[None, :]
        - np.where(served, state.pick[here], state.backorder)[:, None]
        + np.where(new_node, parcel, 0.0)
        - np.where(alone, parcel[np.arange(len(lines)), here], 0.0)[:, None]
        + state.split * (np.maximum(count - 1, 0) - np.maximum(n_used - 1, 0)[:, None])
    )
    ok = (
        state.usable[order]
        & (state.qty[lines][:, None] <= state.free[:, state.sku[lines]].T)
        & (count <= problem.max_nodes_per_order)
    )
    ok[np.flatnonzero(served), node[served]] = False
    return np.where(ok, delta, np.inf)


def _move_line(
    state: _State, line: int, node: int, undo: list[tuple[int, np.ndarray, float]]
) -> bool:
    """Move ``line`` to ``node`` (``-1`` = backorder) if its order's new pattern fits and
    keeps to the node limit, recording the order's former pattern in ``undo``. (A chain's
    moves were priced on the plan before the pass, which earlier chains may have changed.)"""
    order = int(state.problem.line_order[line])
    old_nodes, old_value = state.release(order)
    nodes = old_nodes.copy()
    nodes[state.lines_list[order].index(line)] = node
    if len(_nodes_used(nodes)) > state.problem.max_nodes_per_order or not state.fits(
        order, nodes, state.free, state.cap
    ):
        state.take(order, old_nodes, old_value)
        return False
    state.take(order, nodes, state.pattern_value(order, nodes))
    undo.append((order, old_nodes, old_value))
    return True


def _chains(state: _State, deadline: float | None) -> None:
    """Passes of :func:`_move_by_chains` while one improves and the deadline allows."""
    while (deadline is None or time.perf_counter() <= deadline) and _move_by_chains(
        state, deadline
    ):
        pass


def _move_by_chains(state: _State, deadline: float | None) -> bool:
    """One pass of line moves through chains; whether the plan improved.

    A line (backordered or served) can go to a node that has its stock when a picking slot
    there is freed: a served line leaves for another node, which may need a slot of its
    own, and so on (up to ``_CHAIN_HOPS`` moves). A backordered line can also go to a node
    short of its stock when a line of the same SKU leaves it. The cheapest way to free a
    slot at every node is a shortest path over the nodes, whose arc a -> b is the cheapest
    single line at a that can move to b, so one pass prices every line's chains at once.
    The chains are then applied for real, cheapest estimate first, order by order, and each
    is undone unless the batch cost falls: the estimates are off when one order has several
    moving lines or an earlier chain of the pass took what a later one counted on.
    """
    problem = state.problem
    n_nodes = problem.n_nodes
    lines = np.flatnonzero(state.usable[problem.line_order].any(axis=1))
    if not len(lines):
        return False
    moves = _line_moves(state, lines)  # (lines, nodes)
    is_mover = state.line_node[lines] >= 0
    movers, move = lines[is_mover], moves[is_mover]
    origin = state.line_node[movers]
    # Cheapest mover per (from, to) node pair: the arcs.
    row, to = np.nonzero(np.isfinite(move))
    cost = move[row, to]
    key = origin[row] * n_nodes + to
    first = np.lexsort((cost, key))
    key, pos = np.unique(key[first], return_index=True)
    arc = np.full(n_nodes * n_nodes, np.inf)
    arc_line = np.full(n_nodes * n_nodes, -1, dtype=np.int64)
    arc[key] = cost[first][pos]
    arc_line[key] = movers[row[first][pos]]
    # Negative arcs (moves that pay on their own) would make cycles pay: count them as 0.
    arc = np.maximum(arc, 0.0).reshape(n_nodes, n_nodes)
    full = state.cap < 1
    slot = np.where(full, np.inf, 0.0)  # cost of freeing one picking slot at each node
    hop = np.full(n_nodes, -1, dtype=np.int64)
    for _ in range(_CHAIN_HOPS):
        via = arc + slot[None, :]
        best = np.argmin(via, axis=1)
        value = via[np.arange(n_nodes), best]
        better = full & (value < slot - _TOL_EUR)
        slot = np.where(better, value, slot)
        hop = np.where(better, best, hop)

    # (estimate, line, target node, displaced line or -1, the displaced line's target)
    candidates: list[tuple[float, int, int, int, int]] = []
    with_slot = moves + slot[None, :]
    for i, n in zip(*np.nonzero(with_slot < -_TOL_EUR), strict=True):
        candidates.append((float(with_slot[i, n]), int(lines[i]), int(n), -1, -1))
    # Backordered lines at nodes short of their stock: a line of the same SKU leaves the
    # node (by its cheapest exit, slot included) and the waiting line takes its slot.
    waiting = ~is_mover
    short = waiting[:, None] & ~np.isfinite(moves) & state.usable[problem.line_order[lines]]
    if short.any():
        exit_cost = move + slot[None, :]
        exit_node = np.argmin(exit_cost, axis=1)
        exit_cost = exit_cost[np.arange(len(movers)), exit_node]
        by_stock: dict[tuple[int, int], list[int]] = {}
        for k in np.flatnonzero(np.isfinite(exit_cost)).tolist():
            by_stock.setdefault((int(origin[k]), state.sku_list[movers[k]]), []).append(k)
        for i, n in zip(*np.nonzero(short), strict=True):
            line, n = int(lines[i]), int(n)
            need = state.qty_list[line] - state.free[n, state.sku_list[line]]
            ks = [
                k
                for k in by_stock.get((n, state.sku_list[line]), [])
                if state.qty_list[movers[k]] >= need
            ]
            if not ks:
                continue
            k = min(ks, key=lambda k: exit_cost[k])
            order = int(problem.line_order[line])
            nodes = state.line_node[state.lines[order]]
            nodes[state.lines_list[order].index(line)] = n
            if len(_nodes_used(nodes)) > problem.max_nodes_per_order:
                continue
            estimate = state.pattern_value(order, nodes) - state.value[order] + exit_cost[k]
            if estimate < -_TOL_EUR:
                candidates.append((float(estimate), line, n, int(movers[k]), int(exit_node[k])))
    candidates.sort()
    start_node = state.line_node.copy()
    improved = False
    for _, line, node, displaced, exit_to in candidates:
        if deadline is not None and time.perf_counter() > deadline:
            break
        if state.line_node[line] != start_node[line]:
            continue  # an earlier chain of this pass moved it
        # The chain as (line, target) moves; applied last first, as each frees the slot
        # the one before it needs.
        chain: list[tuple[int, int]] = [(line, node)]
        at = node
        if displaced >= 0:
            chain.append((displaced, exit_to))
            at = exit_to
        while len(chain) <= _CHAIN_HOPS + 1 and state.cap[at] < 1 and hop[at] >= 0:
            mover = int(arc_line[at * n_nodes + hop[at]])
            chain.append((mover, int(hop[at])))
            at = int(hop[at])
        orders = {int(problem.line_order[m]) for m, _ in chain}
        before = sum(float(state.value[o]) for o in orders)
        undo: list[tuple[int, np.ndarray, float]] = []
        done = all(_move_line(state, m, target, undo) for m, target in reversed(chain))
        if done and sum(float(state.value[o]) for o in orders) < before - _TOL_EUR:
            improved = True
            continue
        for order, nodes, value in reversed(undo):
            state.release(order)
            state.take(order, nodes, value)
    return improved
