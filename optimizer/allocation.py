"""Order allocation: which node fulfils each line of each pending order.

An :class:`AllocationProblem` is a batch of orders (as lines: order, SKU, quantity) and
candidate nodes (warehouses and stores) with the stock the allocator *sees*, costs and
limits. A solver returns an :class:`AllocationPlan` that gives every line a node or marks
it backordered (``-1``). SKU indices are local to the problem: the caller maps its
catalogue onto ``0..n_skus-1``.

Greedy baselines live here so the value of optimisation is itself measurable.

The exact batch model (:func:`allocate_optimized`, :func:`solve_to_optimality`) is a MIP:

- ``x[l, n]`` binary: line ``l`` picked at node ``n``. Only pairs that are eligible, have
  the line's quantity in stock net of safety stock, have capacity, and cost less than a
  backorder exist (an exact reduction), so the matrix stays as sparse as eligibility.
- ``y[o, n]`` binary: order ``o`` ships a parcel from ``n`` (pays ship + lateness once),
  only for orders with two or more servable lines; for a lone servable line ``x`` carries
  the parcel cost itself, which shrinks the model since most orders have one line.
- ``s[o]`` continuous in ``[0, max_nodes - 1]``: extra nodes, priced at the split penalty;
  ``sum_n y[o, n] <= 1 + s[o]`` so its upper bound is the split limit.
- Rows: one node per line; ``x[l, n] <= y[o, n]`` (the disaggregated link: a much tighter
  LP than ``sum_l x <= M y``); stock per (node, SKU) and capacity per node, each only where
  the candidate lines could exceed it. Backorders are the lines left unassigned, priced
  through the objective offset, so the model is always feasible.

Solver: HiGHS through MathOpt. The LP relaxation is nearly integral (scarce stock and
capacity make a transportation-like LP), so an LP-based branch and cut closes the gap at the
root on small batches. CP-SAT was tried on the same model (2,000 orders x 50 nodes) and in
10 s found a plan about twice the greedy cost, with no useful bound. SCIP is available
through MathOpt too but was not benchmarked. The model is passed to MathOpt as a proto built
from numpy arrays, not variable by variable. HiGHS's branch and bound is sequential and
seeded, so a solve that ends by proof (or by gap) is repeatable; a solve cut by the
wall-clock limit returns whatever it had at that moment, which can depend on machine load.
The better greedy plan is the warm start and the fallback, so the answer is never worse
than either baseline. Scale: on a shared 2-core machine the root LP of a 2,000 x 50 batch
alone took several seconds, so a 1 s budget there mostly returns the greedy fallback (see
bench/allocation.py).
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass

import numpy as np
from ortools.math_opt import model_pb2
from ortools.math_opt.python import mathopt

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
    bound_eur: float = float("nan")  # proven lower bound on the optimum (exact solver only)


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
        # An order may hold several lines of one SKU: the whole-order test needs their sum.
        order_skus, sku_of_line = np.unique(skus, return_inverse=True)
        need = np.bincount(sku_of_line, weights=qty)
        whole = next(
            (n for n in cand if cap[n] >= len(lines) and (free[n, order_skus] >= need).all()),
            None,
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


@dataclass(frozen=True)
class _BatchModel:
    """The reduced batch MIP as arrays, solver-neutral.

    Columns: first the ``x`` (line, node) assignments, then the ``y`` (order, node) parcels
    of orders with two or more servable lines, then one ``s`` (extra nodes) per such order.
    Rows are ``lower <= A @ v <= upper`` with ``A`` given as sorted triplets.
    """

    x_line: np.ndarray
    x_node: np.ndarray
    y_order: np.ndarray
    y_node: np.ndarray
    s_order: np.ndarray
    cost: np.ndarray  # per column, backorder cost already subtracted from x
    upper: np.ndarray  # per column
    integer: np.ndarray  # per column
    offset_eur: float  # every line backordered
    row_lower: np.ndarray
    row_upper: np.ndarray
    a_row: np.ndarray
    a_col: np.ndarray
    a_coef: np.ndarray

    @property
    def n_columns(self) -> int:
        return len(self.cost)


def _build_model(problem: AllocationProblem) -> _BatchModel:
    """The batch MIP over the (line, node) pairs that can matter (an exact reduction)."""
    n_nodes = problem.n_nodes
    lo, sku, qty = problem.line_order, problem.line_sku, problem.line_qty.astype(float)
    free = np.maximum(problem.available - problem.safety_stock, 0).astype(float)
    # x is integral, so a fractional or infinite capacity acts as its floor.
    cap = np.floor(problem.capacity_lines.astype(float))
    parcel = problem.ship_cost_eur + problem.late_cost_eur
    pick = problem.pick_cost_per_line_eur.astype(float)

    cand = problem.eligible[lo] & (qty[:, None] <= free[:, sku].T) & (cap >= 1)[None, :]
    # A line served at a node whose picking alone costs more than a backorder is never
    # optimal: backordering it is cheaper and frees stock, capacity and a node slot.
    cand &= (pick <= problem.backorder_cost_eur)[None, :]
    servable = np.bincount(lo, weights=cand.any(axis=1), minlength=problem.n_orders)
    single = servable[lo] == 1
    # For a lone servable line the parcel is paid with it, so the same test covers it.
    line_cost = pick[None, :] + np.where(single[:, None], parcel[lo], 0.0)
    cand &= line_cost <= problem.backorder_cost_eur

    x_line, x_node = np.nonzero(cand)
    x_order = lo[x_line]
    x_multi = servable[x_order] >= 2
    x_cost = line_cost[x_line, x_node] - problem.backorder_cost_eur
    y_key, x_y = np.unique(x_order[x_multi] * n_nodes + x_node[x_multi], return_inverse=True)
    y_order, y_node = y_key // n_nodes, y_key % n_nodes
    s_order, y_s = np.unique(y_order, return_inverse=True)
    n_x, n_y, n_s = len(x_line), len(y_key), len(s_order)
    y_col0, s_col0 = n_x, n_x + n_y

    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []  # (row, col, coef) triplets
    row_upper: list[np.ndarray] = []

    def add_rows(row: np.ndarray, col: np.ndarray, coef: np.ndarray, upper: np.ndarray) -> None:
        offset = sum(len(u) for u in row_upper)
        rows.append((row + offset, col, coef))
        row_upper.append(upper)

    # Each line goes to at most one node (only lines with a choice need the row).
    per_line = np.bincount(x_line, minlength=problem.n_lines)
    choice_lines = np.flatnonzero(per_line >= 2)
    in_choice = per_line[x_line] >= 2
    add_rows(
        np.searchsorted(choice_lines, x_line[in_choice]),
        np.flatnonzero(in_choice),
        np.ones(int(in_choice.sum())),
        np.ones(len(choice_lines)),
    )
    # A line of a multi-line order at a node opens that order's parcel there: x <= y.
    multi_cols = np.flatnonzero(x_multi)
    link = np.arange(len(multi_cols))
    add_rows(
        np.concatenate([link, link]),
        np.concatenate([multi_cols, y_col0 + x_y]),
        np.concatenate([np.ones(len(link)), -np.ones(len(link))]),
        np.zeros(len(link)),
    )
    # Parcels per order: sum y <= 1 + s, and s <= max_nodes - 1 carries the split limit.
    add_rows(
        np.concatenate([y_s, np.arange(n_s)]),
        np.concatenate([y_col0 + np.arange(n_y), s_col0 + np.arange(n_s)]),
        np.concatenate([np.ones(n_y), -np.ones(n_s)]),
        np.ones(n_s),
    )
    # Stock per (node, SKU), only where the candidate lines could exceed it.
    n_skus = free.shape[1]
    stock_key = x_node * n_skus + sku[x_line]
    demand = np.bincount(stock_key, weights=qty[x_line], minlength=n_nodes * n_skus)
    tight = np.flatnonzero(demand > free.ravel())
    in_tight = np.isin(stock_key, tight)
    add_rows(
        np.searchsorted(tight, stock_key[in_tight]),
        np.flatnonzero(in_tight),
        qty[x_line[in_tight]],
        free.ravel()[tight],
    )
    # Picking capacity per node, only where the candidate lines could exceed it.
    load = np.bincount(x_node, minlength=n_nodes)
    busy = np.flatnonzero(load > cap)
    in_busy = np.isin(x_node, busy)
    add_rows(
        np.searchsorted(busy, x_node[in_busy]),
        np.flatnonzero(in_busy),
        np.ones(int(in_busy.sum())),
        cap[busy],
    )

    a_row = np.concatenate([r for r, _, _ in rows])
    a_col = np.concatenate([c for _, c, _ in rows])
    a_coef = np.concatenate([v for _, _, v in rows])
    order = np.lexsort((a_col, a_row))
    upper = np.concatenate(
        [np.ones(n_x + n_y), np.full(n_s, float(problem.max_nodes_per_order - 1))]
    )
    row_upper_all = np.concatenate(row_upper)
    return _BatchModel(
        x_line=x_line,
        x_node=x_node,
        y_order=y_order,
        y_node=y_node,
        s_order=s_order,
        cost=np.concatenate(
            [x_cost, parcel[y_order, y_node], np.full(n_s, float(problem.split_penalty_eur))]
        ),
        upper=upper,
        integer=np.concatenate([np.ones(n_x + n_y, dtype=bool), np.zeros(n_s, dtype=bool)]),
        offset_eur=problem.backorder_cost_eur * problem.n_lines,
        row_lower=np.full(len(row_upper_all), -np.inf),
        row_upper=row_upper_all,
        a_row=a_row[order],
        a_col=a_col[order],
        a_coef=a_coef[order],
    )


def _to_mathopt(model: _BatchModel) -> mathopt.Model:
    """The MathOpt model, built as a proto from the arrays (no per-variable Python calls)."""
    proto = model_pb2.ModelProto(name="allocation")
    n = model.n_columns
    proto.variables.ids.extend(range(n))
    proto.variables.lower_bounds.extend(np.zeros(n).tolist())
    proto.variables.upper_bounds.extend(model.upper.tolist())
    proto.variables.integers.extend(model.integer.tolist())
    nonzero = np.flatnonzero(model.cost)
    proto.objective.offset = model.offset_eur
    proto.objective.linear_coefficients.ids.extend(nonzero.tolist())
    proto.objective.linear_coefficients.values.extend(model.cost[nonzero].tolist())
    proto.linear_constraints.ids.extend(range(len(model.row_upper)))
    proto.linear_constraints.lower_bounds.extend(model.row_lower.tolist())
    proto.linear_constraints.upper_bounds.extend(model.row_upper.tolist())
    proto.linear_constraint_matrix.row_ids.extend(model.a_row.tolist())
    proto.linear_constraint_matrix.column_ids.extend(model.a_col.tolist())
    proto.linear_constraint_matrix.coefficients.extend(model.a_coef.tolist())
    return mathopt.Model.from_model_proto(proto)


def _hint_values(
    model: _BatchModel, problem: AllocationProblem, line_node: np.ndarray
) -> np.ndarray:
    """A plan as column values, for the solver's warm start."""
    n_nodes = problem.n_nodes
    chosen = line_node[model.x_line] == model.x_node
    used = np.unique(problem.line_order[model.x_line[chosen]] * n_nodes + model.x_node[chosen])
    y = np.isin(model.y_order * n_nodes + model.y_node, used).astype(float)
    parcels = np.bincount(
        np.searchsorted(model.s_order, model.y_order), weights=y, minlength=len(model.s_order)
    )
    return np.concatenate([chosen.astype(float), y, np.maximum(parcels - 1.0, 0.0)])


def _check_costs(problem: AllocationProblem) -> None:
    """The exact model relies on costs that are finite and non-negative where they apply
    (a negative parcel cost would pay the solver to open empty parcels)."""
    eligible = problem.eligible.astype(bool)
    for name in ("ship_cost_eur", "late_cost_eur"):
        values = getattr(problem, name)[eligible]
        if not np.isfinite(values).all() or (values < 0).any():
            raise ProblemError(f"{name} must be finite and >= 0 for every eligible (order, node)")
    pick = problem.pick_cost_per_line_eur
    if not np.isfinite(pick).all() or (pick < 0).any():
        raise ProblemError("pick_cost_per_line_eur must be finite and >= 0 for every node")
    if problem.split_penalty_eur < 0 or not np.isfinite(problem.backorder_cost_eur):
        raise ProblemError("split_penalty_eur must be >= 0 and backorder_cost_eur finite")


def allocate_optimized(
    problem: AllocationProblem,
    time_limit_s: float | None = 1.0,
    *,
    relative_gap: float = 1e-4,
) -> AllocationPlan:
    """The exact batch model solved by HiGHS through MathOpt, warm-started from the better
    greedy plan.

    ``time_limit_s`` is the budget of the whole call (greedy and model building included);
    HiGHS checks it only between phases, so a large batch can overrun it. ``None`` runs to
    proven optimality. The search stops once the plan is within ``relative_gap`` of the
    optimum (0 proves exact optimality). The plan is never worse than either greedy
    baseline: if the solver has nothing better when time runs out, the greedy plan is
    returned with the solver's bound. ``optimal`` is set when the solver proved the gap.
    """
    started = time.perf_counter()
    problem.validate()
    _check_costs(problem)
    greedy = min(
        (allocate_nearest_with_stock(problem), allocate_warehouse_only(problem)),
        key=lambda plan: plan.objective_eur,
    )
    model = _build_model(problem)
    if model.n_columns == 0:
        # No line can be served at a cost below its backorder: backordering all is optimal.
        return AllocationPlan(
            np.full(problem.n_lines, BACKORDER, dtype=np.int64),
            model.offset_eur,
            "highs",
            time.perf_counter() - started,
            optimal=True,
            bound_eur=model.offset_eur,
        )
    opt_model = _to_mathopt(model)
    variables = [opt_model.get_variable(i) for i in range(model.n_columns)]
    hint = dict(
        zip(variables, _hint_values(model, problem, greedy.line_node).tolist(), strict=True)
    )
    params = mathopt.SolveParameters(
        # HiGHS's branch and bound is sequential, so a fixed seed makes it repeatable.
        random_seed=0,
        relative_gap_tolerance=relative_gap,
        absolute_gap_tolerance=1e-6,
    )
    if time_limit_s is not None:
        remaining_s = max(time_limit_s - (time.perf_counter() - started), 0.01)
        params.time_limit = datetime.timedelta(seconds=remaining_s)
    result = mathopt.solve(
        opt_model,
        mathopt.SolverType.HIGHS,
        params=params,
        model_params=mathopt.ModelSolveParameters(
            solution_hints=[mathopt.SolutionHint(variable_values=hint)]
        ),
    )
    bound_eur = float(result.termination.objective_bounds.dual_bound)
    optimal = result.termination.reason == mathopt.TerminationReason.OPTIMAL
    line_node = greedy.line_node
    if result.has_primal_feasible_solution():
        values = result.variable_values(variables[: len(model.x_line)])
        chosen = np.asarray(values) > 0.5
        candidate = np.full(problem.n_lines, BACKORDER, dtype=np.int64)
        candidate[model.x_line[chosen]] = model.x_node[chosen]
        if plan_cost(problem, candidate) <= greedy.objective_eur:
            line_node = candidate
    return AllocationPlan(
        line_node,
        plan_cost(problem, line_node),
        "highs",
        time.perf_counter() - started,
        optimal=optimal,
        bound_eur=bound_eur,
    )


def solve_to_optimality(
    problem: AllocationProblem, time_limit_s: float | None = None
) -> AllocationPlan:
    """The reference optimum: the same model with a zero gap tolerance and no time limit
    by default (pass one to get the best plan and bound found in that time)."""
    return allocate_optimized(problem, time_limit_s, relative_gap=0.0)
