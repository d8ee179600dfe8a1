"""Column generation for the batch allocation model (order patterns, priced exactly).

A *pattern* is one way to serve one order: each line to a node or backordered, using at
most ``max_nodes_per_order`` nodes. The master problem picks at most one pattern per order
under the stock (node, SKU) and picking-capacity rows. Its LP relaxation is at least as
tight as the compact ``x``/``y`` model's (each order's own constraints are convexified),
and it is much smaller: a few patterns per order instead of every (line, node) pair.

Pricing is exact: given the duals, a line's reduced cost at a node is its picking cost,
minus the backorder it saves, plus its stock and capacity prices; a node subset's cost is
its parcels, its split penalties and, per line, the cheapest node of the subset (or
backorder). Only nodes whose stand-alone value is negative can belong to an improving
subset (a node whose parcel outweighs everything its lines save can be dropped without
loss), so subsets are enumerated over those nodes only, vectorised per group of orders
with the same number of lines. The enumeration is exponential in ``max_nodes_per_order``,
which is 1-3 in practice.

Pricing at zero prices gives a first valid lower bound (every order at its own best
pattern, nothing shared), and every round gives one (the master's LP value plus every
order's most negative reduced cost: the Lagrangian bound of the LP duals), so a round cap
or a time cut still leaves a proven bound.

The master LP lives in one highspy instance for the whole run (:class:`_MasterLp`): new
patterns are appended as columns and primal simplex resumes from the last optimal basis,
which they leave primal feasible; the first LP starts from the better greedy plan's basis.
Measured on the 2,000 x 50 benchmark batch (seed 1, shared 2-core machine): pricing
converges in 7 rounds and 0.9-1.2 s, of which the LPs take 0.7-0.8 s (0.06 s for the first
from the greedy basis, 0.15-0.3 s for each of the next three, which add 400-1,300 columns
each, then a few hundredths), pricing itself 0.02 s a round. SciPy's ``linprog`` (HiGHS's
interior point method, cold every round) took 10 rounds and 2-7 s, cold dual simplex about
2 s a round; warm dual simplex, partial pricing (at most 400 or 800 new columns a round)
and HiGHS's other primal pricing and edge-weight options were not faster. All of them are
deterministic.

Tried and dropped on that batch (seed 1, shared machine, with the interior point method):
adding each order's 2 or 5 cheapest one-node patterns at zero prices lowers the early LPs
(22,966 against 23,851 after two rounds) but slows every LP more than it saves; ten
subgradient steps before the first LP (0.7 s) raise the bound only from 18,218 to 18,596
and do not shorten pricing; dropping the coupling rows that the generated columns cannot
violate (about half of them) does not speed the interior point method up, whose presolve
removes them anyway.
"""

from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

import highspy
import numpy as np
import scipy.sparse as sp
from highspy import _core as highs_core

if TYPE_CHECKING:
    from optimizer.allocation import AllocationProblem

# Reduced costs above this are treated as non-negative (HiGHS's default tolerances are 1e-7).
_RC_TOL_EUR = 1e-6
# Elements of the largest temporary array built while pricing one chunk of orders.
_PRICING_CHUNK_ELEMENTS = 4_000_000


@dataclass
class PatternMaster:
    """The generated patterns as columns of ``cost @ lam`` under ``A @ lam <= rhs``.

    Rows are first the coupling rows (tight stock, busy capacity), then one
    at-most-one-pattern row per order. Costs are relative to backordering every line
    (``offset_eur``), so the empty pattern is implicit.
    """

    cost_eur: list[float]
    col_order: list[int]
    col_lines: list[np.ndarray]
    col_nodes: list[np.ndarray]
    a_row: list[int]
    a_coef: list[float]
    a_ptr: list[int]
    rhs: np.ndarray
    offset_eur: float
    n_coupling: int

    @property
    def n_columns(self) -> int:
        return len(self.cost_eur)

    def matrix(self, first: int = 0) -> sp.csc_matrix:
        """Columns ``first..`` (all by default): the coupling rows from the stored
        triplets, then the per-order rows."""
        n = self.n_columns - first
        start = self.a_ptr[first]
        coupling = sp.csc_matrix(
            (
                self.a_coef[start:],
                self.a_row[start:],
                np.asarray(self.a_ptr[first:]) - start,
            ),
            shape=(self.n_coupling, n),
            dtype=float,
        )
        orders = sp.csc_matrix(
            (np.ones(n), (self.col_order[first:], np.arange(n))),
            shape=(len(self.rhs) - self.n_coupling, n),
        )
        return sp.vstack([coupling, orders], format="csc")


@dataclass(frozen=True)
class ColumnGenerationResult:
    master: PatternMaster
    lp_value_eur: float  # value of the last master LP (an upper bound on the LP optimum)
    bound_eur: float  # proven lower bound on the batch optimum
    rounds: int
    converged: bool  # no pattern with negative reduced cost is left
    lp_values: np.ndarray  # the last master LP's solution, zero for columns added after it
    pricer: _Pricer  # adds further plans' patterns to the master


class _Pricer:
    """The problem's data in the shapes pricing needs, and the pattern bookkeeping."""

    def __init__(self, problem: AllocationProblem) -> None:
        self.problem = problem
        self.backorder_eur = float(problem.backorder_cost_eur)
        lo, sku = problem.line_order, problem.line_sku
        qty = problem.line_qty.astype(float)
        n_nodes, n_skus = problem.available.shape
        free = np.maximum(problem.available - problem.safety_stock, 0).astype(float)
        # Patterns are integral, so a fractional or infinite capacity acts as its floor.
        cap = np.floor(problem.capacity_lines.astype(float))
        self.pick_eur = problem.pick_cost_per_line_eur.astype(float)
        self.parcel_eur = (problem.ship_cost_eur + problem.late_cost_eur).astype(float)
        self.servable = (
            problem.eligible[lo].astype(bool)
            & (qty[:, None] <= free[:, sku].T)
            & (cap >= 1)[None, :]
        )
        self.qty, self.sku, self.n_skus = qty, sku, n_skus
        # Coupling rows only where the servable lines could exceed the limit: elsewhere no
        # pattern choice can violate it.
        line, node = np.nonzero(self.servable)
        stock_key = node * n_skus + sku[line]
        demand = np.bincount(stock_key, weights=qty[line], minlength=n_nodes * n_skus)
        tight = np.flatnonzero(demand > free.ravel())
        load = np.bincount(node, minlength=n_nodes)
        busy = np.flatnonzero(load > cap)
        self.stock_row = np.full(n_nodes * n_skus, -1, dtype=np.int64)
        self.stock_row[tight] = np.arange(len(tight))
        self.cap_row = np.full(n_nodes, -1, dtype=np.int64)
        self.cap_row[busy] = len(tight) + np.arange(len(busy))
        self.tight, self.busy = tight, busy
        n_coupling = len(tight) + len(busy)
        self.master = PatternMaster(
            cost_eur=[],
            col_order=[],
            col_lines=[],
            col_nodes=[],
            a_row=[],
            a_coef=[],
            a_ptr=[0],
            rhs=np.concatenate([free.ravel()[tight], cap[busy], np.ones(problem.n_orders)]),
            offset_eur=self.backorder_eur * problem.n_lines,
            n_coupling=n_coupling,
        )
        self._column_of: dict[tuple[int, tuple[int, ...], tuple[int, ...]], int] = {}
        by_order = np.argsort(lo, kind="stable")
        per_order = np.bincount(lo, minlength=problem.n_orders)
        start = np.concatenate([[0], np.cumsum(per_order)])
        self.order_lines = [by_order[start[o] : start[o + 1]] for o in range(problem.n_orders)]
        # Orders grouped by line count, so pricing works on dense (orders, lines, nodes) arrays.
        self.groups: list[tuple[np.ndarray, np.ndarray]] = []
        for n_lines in np.unique(per_order[per_order > 0]):
            orders = np.flatnonzero(per_order == n_lines)
            lines = np.stack([by_order[start[orders] + j] for j in range(n_lines)], axis=1)
            self.groups.append((orders, lines))
        self._combos: dict[tuple[int, int], np.ndarray] = {}

    def add_patterns(self, patterns: list[tuple[int, np.ndarray, np.ndarray]]) -> np.ndarray:
        """Columns of the patterns ``(order, lines, nodes)``, each ``lines[i] -> nodes[i]``
        (``-1`` = backorder), adding those not yet known; ``-1`` for an empty pattern (every
        line backordered), which is implicit. Costs and rows of the new columns are built in
        one vectorised pass: per-pattern numpy calls made adding a 2,000-order plan take
        half a second."""
        m = self.master
        columns = np.full(len(patterns), -1, dtype=np.int64)
        new: list[tuple[int, np.ndarray, np.ndarray]] = []
        for i, (order, lines, nodes) in enumerate(patterns):
            served = nodes >= 0
            lines, nodes = lines[served], nodes[served]
            if not len(lines):
                continue
            # Plain tuples: a pattern has 1-4 lines, and np.stack per pattern was a third
            # of the bookkeeping's time.
            key = (order, tuple(lines.tolist()), tuple(nodes.tolist()))
            column = self._column_of.get(key)
            if column is None:
                column = self._column_of[key] = m.n_columns + len(new)
                new.append((order, lines, nodes))
            columns[i] = column
        if not new:
            return columns
        n_nodes = self.parcel_eur.shape[1]
        size = np.array([len(lines) for _, lines, _ in new])
        pattern = np.repeat(np.arange(len(new)), size)
        order = np.array([o for o, _, _ in new])
        lines = np.concatenate([lines for _, lines, _ in new])
        nodes = np.concatenate([nodes for _, _, nodes in new])
        used = np.unique(pattern * n_nodes + nodes)
        used_pattern, used_node = used // n_nodes, used % n_nodes
        n_used = np.bincount(used_pattern, minlength=len(new))
        cost = (
            np.bincount(pattern, weights=self.pick_eur[nodes], minlength=len(new))
            - self.backorder_eur * size
            + np.bincount(
                used_pattern,
                weights=self.parcel_eur[order[used_pattern], used_node],
                minlength=len(new),
            )
            + self.problem.split_penalty_eur * (n_used - 1)
        )
        stock = self.stock_row[nodes * self.n_skus + self.sku[lines]]
        cap = self.cap_row[nodes]
        row = np.concatenate([stock[stock >= 0], cap[cap >= 0]])
        owner = np.concatenate([pattern[stock >= 0], pattern[cap >= 0]])
        coef = np.concatenate([self.qty[lines][stock >= 0], np.ones(int((cap >= 0).sum()))])
        # One entry per (pattern, row), sorted by pattern then row: the CSC layout.
        n_rows = max(m.n_coupling, 1)
        entry, where = np.unique(owner * n_rows + row, return_inverse=True)
        m.cost_eur.extend(cost.tolist())
        m.col_order.extend(order.tolist())
        m.col_lines.extend(lines for _, lines, _ in new)
        m.col_nodes.extend(nodes for _, _, nodes in new)
        m.a_row.extend((entry % n_rows).tolist())
        m.a_coef.extend(np.bincount(where, weights=coef, minlength=len(entry)).tolist())
        per_pattern = np.bincount(entry // n_rows, minlength=len(new))
        m.a_ptr.extend((m.a_ptr[-1] + np.cumsum(per_pattern)).tolist())
        return columns

    def add_plan(self, line_node: np.ndarray) -> np.ndarray:
        """Add every order's pattern in a plan (so the master can reproduce the plan) and
        return their columns."""
        columns = self.add_patterns(
            [
                (order, lines, line_node[lines])
                for order, lines in enumerate(self.order_lines)
                if len(lines)
            ]
        )
        return columns[columns >= 0]

    def _combinations(self, n_nodes: int, k: int) -> np.ndarray:
        if (n_nodes, k) not in self._combos:
            self._combos[n_nodes, k] = np.array(
                list(itertools.combinations(range(n_nodes), k)), dtype=np.int64
            ).reshape(-1, k)
        return self._combos[n_nodes, k]

    def price(
        self,
        stock_dual: np.ndarray,
        cap_dual: np.ndarray,
        order_dual: np.ndarray,
    ) -> tuple[list[tuple[int, np.ndarray, np.ndarray]], float]:
        """Each order's cheapest pattern if its reduced cost is negative, and the sum of the
        orders' most negative reduced costs (zero where none is negative).

        Duals are those of ``<=`` rows in a minimisation, so all are ``<= 0``.
        """
        line_base_eur = self.pick_eur - self.backorder_eur - cap_dual  # per node
        split_eur = float(self.problem.split_penalty_eur)
        new: list[tuple[int, np.ndarray, np.ndarray]] = []
        rc_sum_eur = 0.0
        for orders, lines in self.groups:
            n_lines = lines.shape[1]
            servable = self.servable[lines]  # (orders, lines, nodes)
            reduced = line_base_eur[None, None, :] - self.qty[lines][:, :, None] * np.moveaxis(
                stock_dual[:, self.sku[lines]], 0, -1
            )
            reduced = np.where(servable, reduced, np.inf)
            saving = np.minimum(reduced, 0.0)
            parcel = np.where(servable.any(axis=1), self.parcel_eur[orders], np.inf)
            useful = saving.sum(axis=1) + parcel < -_RC_TOL_EUR
            width = int(useful.sum(axis=1).max())
            best_eur = np.zeros(len(orders))
            best_nodes = np.full((len(orders), n_lines), -1, dtype=np.int64)
            if width:
                # Each order's useful nodes first, padded to a common width with +inf parcels.
                node_of = np.argsort(~useful, axis=1, kind="stable")[:, :width]
                valid = np.take_along_axis(useful, node_of, axis=1)
                parcel_u = np.where(valid, np.take_along_axis(parcel, node_of, axis=1), np.inf)
                reduced_u = np.take_along_axis(reduced, node_of[:, None, :], axis=2)
                saving_u = np.minimum(reduced_u, 0.0)
                for k in range(1, min(self.problem.max_nodes_per_order, n_lines, width) + 1):
                    combos = self._combinations(width, k)
                    chunk = max(1, _PRICING_CHUNK_ELEMENTS // (n_lines * len(combos) * k))
                    for a in range(0, len(orders), chunk):
                        b = min(len(orders), a + chunk)
                        value = parcel_u[a:b][:, combos].sum(axis=-1) + split_eur * (k - 1)
                        value += saving_u[a:b][:, :, combos].min(axis=-1).sum(axis=1)
                        pick = np.argmin(value, axis=1)
                        value = value[np.arange(b - a), pick]
                        better = np.flatnonzero(value < best_eur[a:b] - 1e-12)
                        if not len(better):
                            continue
                        idx = a + better
                        subset = np.repeat(combos[pick[better]][:, None, :], n_lines, axis=1)
                        options = np.take_along_axis(reduced_u[idx], subset, axis=2)
                        local = np.take_along_axis(
                            subset, options.argmin(axis=2)[:, :, None], axis=2
                        )[:, :, 0]
                        nodes = np.take_along_axis(node_of[idx], local, axis=1)
                        best_nodes[idx] = np.where(options.min(axis=2) < 0, nodes, -1)
                        best_eur[idx] = value[better]
            reduced_cost = best_eur - order_dual[orders]
            rc_sum_eur += float(np.minimum(reduced_cost, 0.0).sum())
            for i in np.flatnonzero(reduced_cost < -_RC_TOL_EUR):
                new.append((int(orders[i]), lines[i], best_nodes[i]))
        return new, rc_sum_eur


def new_highs() -> highs_core._Highs:
    """A silent HiGHS instance with a fixed seed. It is highspy's core class: the Python
    wrapper ``highspy.Highs`` enables callbacks on construction, which prints HiGHS's
    banner to stdout once per process even with ``output_flag`` off."""
    highs = highs_core._Highs()
    highs.setOptionValue("output_flag", False)
    highs.setOptionValue("random_seed", 0)
    return highs


def add_master_rows(highs: highs_core._Highs, master: PatternMaster) -> None:
    """The master's rows, ``A @ lam <= rhs``, into an empty HiGHS model."""
    n_rows = len(master.rhs)
    empty = np.zeros(0, dtype=np.int32)
    highs.addRows(
        n_rows, np.full(n_rows, -highspy.kHighsInf), master.rhs, 0, empty, empty, np.zeros(0)
    )


def add_master_columns(
    highs: highs_core._Highs, master: PatternMaster, first: int, upper: float
) -> None:
    """The master's columns ``first..`` into HiGHS, each in ``[0, upper]``."""
    n = master.n_columns - first
    matrix = master.matrix(first)
    highs.addCols(
        n,
        np.asarray(master.cost_eur[first:]),
        np.zeros(n),
        np.full(n, upper),
        matrix.nnz,
        matrix.indptr[:-1].astype(np.int32),
        matrix.indices.astype(np.int32),
        matrix.data,
    )


class _MasterLp:
    """The master LP in one HiGHS instance that keeps its basis between rounds.

    New patterns enter as columns at zero, so the last optimal basis stays primal feasible
    and primal simplex resumes from it: a round costs the few pivots its new columns need,
    not a cold solve of the whole master.
    """

    def __init__(self, master: PatternMaster) -> None:
        self.master = master
        self.highs = new_highs()
        # Presolve would discard the basis; primal simplex keeps its feasibility as columns
        # are added (dual simplex would restart from a dual infeasible basis).
        self.highs.setOptionValue("presolve", "off")
        self.highs.setOptionValue("simplex_strategy", 4)
        add_master_rows(self.highs, master)
        self.n_columns = 0

    def add_new_columns(self) -> None:
        """Pass the master's columns added since the last call to HiGHS."""
        if self.master.n_columns > self.n_columns:
            add_master_columns(self.highs, self.master, self.n_columns, highspy.kHighsInf)
            self.n_columns = self.master.n_columns

    def start_from(self, columns: np.ndarray) -> None:
        """Start the simplex from a feasible plan's basis: its ``columns`` (at most one per
        order) basic in place of their orders' row slacks. The basis is triangular, so
        always valid, and primal feasible as the plan is; measured on the 2,000 x 50
        benchmark batch, the first LP takes a quarter of the pivots of a slack start."""
        master = self.master
        basic, lower, upper = (
            highspy.HighsBasisStatus.kBasic,
            highspy.HighsBasisStatus.kLower,
            highspy.HighsBasisStatus.kUpper,
        )
        col_status = [lower] * self.n_columns
        row_status = [basic] * len(master.rhs)
        for j in columns.tolist():
            col_status[j] = basic
            row_status[master.n_coupling + master.col_order[j]] = upper
        basis = highspy.HighsBasis()
        basis.col_status = col_status
        basis.row_status = row_status
        basis.valid = True
        self.highs.setBasis(basis)

    def solve(self, time_limit_s: float | None) -> tuple[np.ndarray, np.ndarray, float] | None:
        """(column values, row duals, objective without the offset), None unless optimal
        within ``time_limit_s`` (HiGHS checks it between pivots: a large batch's first LPs
        take seconds, and a round that ran on past the pricing deadline overran budgets)."""
        # HiGHS's clock runs over the instance's whole life, so the limit is relative to it.
        self.highs.setOptionValue(
            "time_limit",
            highspy.kHighsInf
            if time_limit_s is None
            else self.highs.getRunTime() + max(time_limit_s, 1e-3),
        )
        self.highs.run()
        if self.highs.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            return None
        solution = self.highs.getSolution()
        return (
            np.asarray(solution.col_value),
            np.asarray(solution.row_dual),
            float(self.highs.getInfo().objective_function_value),
        )


def generate_patterns(
    problem: AllocationProblem,
    start_plans: list[np.ndarray],
    *,
    max_rounds: int,
    deadline: float | None,
) -> ColumnGenerationResult:
    """Column generation from the patterns of ``start_plans`` (the first one's basis starts
    the simplex) and the cheapest pattern of each order at zero prices, for at most
    ``max_rounds`` master LPs or until the ``time.perf_counter()`` ``deadline`` passes
    (checked before each round, the first included: a budget spent before pricing still
    returns the zero-price bound; an LP the deadline cuts is not a round, and the last
    complete one's values and bound stand)."""
    pricer = _Pricer(problem)
    master = pricer.master
    start_columns = [pricer.add_plan(line_node) for line_node in start_plans]
    n_nodes = problem.n_nodes
    zero_stock = np.zeros((n_nodes, pricer.n_skus))
    first, rc_sum_eur = pricer.price(zero_stock, np.zeros(n_nodes), np.zeros(problem.n_orders))
    pricer.add_patterns(first)

    # At zero prices the Lagrangian bound is every order at its own best pattern, with no
    # stock or capacity shared: weak, but valid before any LP is solved.
    lp_value_eur, bound_eur = float("inf"), master.offset_eur + rc_sum_eur
    lp_values = np.zeros(0)
    lp = _MasterLp(master)
    rounds, converged = 0, False
    while master.n_columns and rounds < max_rounds:
        if deadline is not None and time.perf_counter() > deadline:
            break
        lp.add_new_columns()
        if not rounds and start_columns:
            lp.start_from(start_columns[0])
        solved = lp.solve(None if deadline is None else deadline - time.perf_counter())
        if solved is None:
            break
        rounds += 1
        lp_values, duals, objective_eur = solved
        stock_dual = np.zeros(n_nodes * pricer.n_skus)
        stock_dual[pricer.tight] = duals[: len(pricer.tight)]
        cap_dual = np.zeros(n_nodes)
        cap_dual[pricer.busy] = duals[len(pricer.tight) : master.n_coupling]
        new, rc_sum_eur = pricer.price(
            stock_dual.reshape(n_nodes, pricer.n_skus), cap_dual, duals[master.n_coupling :]
        )
        lp_value_eur = objective_eur + master.offset_eur
        bound_eur = max(bound_eur, lp_value_eur + rc_sum_eur)
        if not new:
            converged = True
            break
        pricer.add_patterns(new)
    if not master.n_columns:
        # No line is worth serving at any node: backordering everything is optimal.
        lp_value_eur = bound_eur = master.offset_eur
        converged = True
    return ColumnGenerationResult(
        master,
        lp_value_eur,
        bound_eur,
        rounds,
        converged,
        np.concatenate([lp_values, np.zeros(master.n_columns - len(lp_values))]),
        pricer,
    )
