"""Rounding a master LP solution into a feasible plan, then a local search.

Each order is served by a *pattern* (each line at a node or backordered, at most
``max_nodes_per_order`` nodes). Choosing one order's best pattern against the stock and
capacity the other orders leave is a small exact enumeration: node subsets of the order's
useful nodes, each line at its cheapest node of the subset. Rounding and search use it:

- rounding: orders whose LP pattern is integral keep it; the fractional ones, heaviest
  first, take their heaviest LP pattern that fits, else their best pattern in what is left;
- local search over those orders: *re-insertion* (release the order, take its best pattern
  again) and *ejection* (the order takes its unconstrained best pattern by evicting one
  order that holds a unit or a picking slot it lacks, and the evicted order re-inserts),
  each accepted only when the batch cost falls.

Why: the production MIP needs seconds on large batches, and a budget cut short before it
finds a plan used to return the greedy plan. Measured on the 2,000 x 50 benchmark batch
(bench/allocation.py, seed 1, shared 2-core machine): at convergence the LP has about 130
fractional orders of 2,000, rounding alone ends about 4% above the optimum, and with the
search 2.4% (0.65 s); after three pricing rounds 4.0%; greedy is 50% above. Most of what is
left is backordered lines (11 more than the optimum in one run): freeing a full
warehouse's picking slot needs longer exchange chains than one ejection, and trying 32 or
128 holders per ejection instead of 8 gains only 0.15%. It is no substitute for the MIP,
which reaches 0.01% from the same columns within seconds more, but it is its hint and the
answer when the budget leaves it no time. Deterministic; only a deadline cuts it short.
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
        # A node whose picking alone costs more than a backorder never serves a line.
        usable = (self.pick <= self.backorder) & (self.cap0 >= 1)
        self.nodes = [np.flatnonzero(problem.eligible[o] & usable) for o in range(problem.n_orders)]
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
        lines = self.lines[order]
        self.line_node[lines] = nodes
        served = nodes >= 0
        np.subtract.at(self.free, (nodes[served], self.sku[lines[served]]), self.qty[lines[served]])
        np.subtract.at(self.cap, nodes[served], 1.0)
        self.value[order] = value

    def release(self, order: int) -> tuple[np.ndarray, float]:
        """Backorder ``order`` again; its former nodes and value, to restore it."""
        lines = self.lines[order]
        nodes = self.line_node[lines].copy()
        served = nodes >= 0
        np.add.at(self.free, (nodes[served], self.sku[lines[served]]), self.qty[lines[served]])
        np.add.at(self.cap, nodes[served], 1.0)
        self.line_node[lines] = -1
        value = float(self.value[order])
        self.value[order] = 0.0
        return nodes, value

    def fits(self, order: int, nodes: np.ndarray, free: np.ndarray, cap: np.ndarray) -> bool:
        """Whether ``order``'s lines at ``nodes`` fit ``free`` and ``cap`` all together."""
        lines = self.lines[order]
        served = nodes >= 0
        n, s, q = nodes[served], self.sku[lines[served]], self.qty[lines[served]]
        key = n * free.shape[1] + s
        keys, where = np.unique(key, return_inverse=True)
        need = np.bincount(where, weights=q)
        if (need > free.ravel()[keys] + 1e-9).any():
            return False
        used, count = np.unique(n, return_counts=True)
        return bool((count <= cap[used] + 1e-9).all())

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
    their best pattern in what is left; then re-insertion and ejection moves over those
    orders until none improves or the ``time.perf_counter()`` ``deadline`` passes."""
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
