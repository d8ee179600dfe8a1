"""Benchmark: the batch allocator against the proven optimum and the greedy baselines.

Issue 4's goal: 2,000 orders x 50 nodes within 0.1% of the optimum in under 1 s; 5,000 x 100
handled (a plan and a proven bound) within a bounded time.

Instances are generated, seeded, with the structure the allocator meets in the simulation:
a 120 km x 120 km region with a few towns; stores sit in towns, warehouses outside them;
customers live around towns. SKU popularity is Zipf-like; orders have 1-4 lines. Warehouses
are far (dearer, later parcels) but cheap to pick; stores are near but several times dearer
to pick and hold little stock, part of it kept back as safety stock. A share of SKUs is
short in the whole network, so some lines must be backordered. Stores are eligible within a
radius of the customer, warehouses always. Picking capacity is set below the lines a node
would attract, so it binds at some warehouses and stores.

For each size the table shows: the allocator's objective at each budget given (the
production budget is 1 s), the allocator run to completion (no time limit: every pricing round, the
MIP to its gap), the reference optimum of the compact model solved without a time limit (or
its best plan and bound when --reference-limit cuts it), both greedy baselines, and solve
times. The 'gap' columns are against the best proven lower bound of all runs; 'lb' is the
lower bound the allocator itself proved at that budget (its column generation's Lagrangian
bound; with no LP round, every order at its own best pattern), as a gap below the same best
bound.

    .venv/bin/python bench/allocation.py --sizes 200x10 2000x50 --seed 1 --time-limit 1 3
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

# Imported after the path line above so the script runs from a plain checkout.
from optimizer.allocation import (
    AllocationProblem,
    allocate_nearest_with_stock,
    allocate_optimized,
    allocate_warehouse_only,
    solve_to_optimality,
)

DEFAULT_SIZES = ("200x10", "500x20", "1000x30", "2000x50", "5000x100")
REGION_KM = 120.0
STORE_RADIUS_KM = 15.0


def make_instance(n_orders: int, n_nodes: int, seed: int) -> AllocationProblem:
    """A seeded allocation batch of ``n_orders`` orders over ``n_nodes`` nodes."""
    rng = np.random.default_rng(seed)
    n_warehouses = max(2, n_nodes // 10)
    n_stores = n_nodes - n_warehouses
    n_towns = max(2, n_stores // 6)
    n_skus = max(60, n_orders // 5)

    towns_km = rng.uniform(0.15 * REGION_KM, 0.85 * REGION_KM, size=(n_towns, 2))
    store_town = rng.integers(0, n_towns, size=n_stores)
    stores_km = towns_km[store_town] + rng.normal(0.0, 4.0, size=(n_stores, 2))
    # Warehouses sit on the region's edge, away from the towns they serve.
    edge = rng.uniform(0.0, REGION_KM, size=n_warehouses)
    side = rng.integers(0, 4, size=n_warehouses)
    warehouses_km = np.stack(
        [
            np.where(side == 0, 0.0, np.where(side == 1, REGION_KM, edge)),
            np.where(side == 2, 0.0, np.where(side == 3, REGION_KM, edge)),
        ],
        axis=1,
    )
    nodes_km = np.vstack([warehouses_km, stores_km])
    is_warehouse = np.arange(n_nodes) < n_warehouses

    customer_town = rng.integers(0, n_towns, size=n_orders)
    customers_km = towns_km[customer_town] + rng.normal(0.0, 8.0, size=(n_orders, 2))
    distance_km = np.linalg.norm(customers_km[:, None, :] - nodes_km[None, :, :], axis=2)

    # Zipf-like popularity; the ranking is shuffled so SKU index says nothing about demand.
    popularity = 1.0 / np.arange(1, n_skus + 1) ** 1.05
    popularity = rng.permutation(popularity / popularity.sum())
    n_lines_per_order = rng.choice([1, 2, 3, 4], size=n_orders, p=[0.5, 0.27, 0.14, 0.09])
    line_order = np.repeat(np.arange(n_orders), n_lines_per_order)
    line_sku = np.concatenate(
        [rng.choice(n_skus, size=k, replace=False, p=popularity) for k in n_lines_per_order]
    )
    line_qty = rng.choice([1, 2, 3], size=len(line_order), p=[0.8, 0.15, 0.05])

    demand = np.bincount(line_sku, weights=line_qty, minlength=n_skus)
    # Network cover per SKU: most SKUs are well stocked, one in six is short.
    cover = np.where(rng.random(n_skus) < 1 / 6, rng.uniform(0.2, 0.8, n_skus), 1.6)
    wh_share = rng.dirichlet(np.ones(n_warehouses), size=n_skus).T  # (n_warehouses, n_skus)
    wh_stock = rng.poisson(wh_share * demand * cover * 0.8)
    # Stores range a popular subset with a few units each.
    ranged = rng.random((n_stores, n_skus)) < np.clip(popularity * n_skus * 0.4, 0.05, 0.95)
    store_stock = np.where(ranged, rng.poisson(1.5 * cover, size=(n_stores, n_skus)), 0)
    available = np.vstack([wh_stock, store_stock]).astype(float)
    safety_stock = np.vstack([np.zeros_like(wh_stock), (store_stock >= 2).astype(int)]).astype(
        float
    )

    pick_cost_per_line_eur = np.where(
        is_warehouse, rng.uniform(0.4, 0.8, n_nodes), rng.uniform(2.5, 4.0, n_nodes)
    )
    ship_cost_eur = np.where(
        is_warehouse[None, :], 4.5 + 0.015 * distance_km, 1.5 + 0.25 * distance_km
    ).round(2)
    # Expected lateness cost grows with distance: parcels from far warehouses miss the promise
    # more often.
    late_cost_eur = (6.0 * np.clip((distance_km - 20.0) / 150.0, 0.0, 1.0)).round(2)
    eligible = is_warehouse[None, :] | (distance_km <= STORE_RADIUS_KM)

    attracted_lines = len(line_order) / n_nodes
    capacity_lines = np.where(
        is_warehouse,
        np.floor(rng.uniform(0.8, 2.0, n_nodes) * len(line_order) / n_warehouses * 0.5),
        np.floor(rng.uniform(0.5, 3.0, n_nodes) * attracted_lines),
    )
    return AllocationProblem(
        line_order=line_order,
        line_sku=line_sku,
        line_qty=line_qty,
        available=available,
        safety_stock=safety_stock,
        is_warehouse=is_warehouse,
        pick_cost_per_line_eur=pick_cost_per_line_eur.round(2),
        capacity_lines=capacity_lines,
        eligible=eligible,
        ship_cost_eur=ship_cost_eur,
        late_cost_eur=late_cost_eur,
    )


def _parse_size(text: str) -> tuple[int, int]:
    try:
        n_orders, n_nodes = (int(part) for part in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size {text!r} must look like 2000x50") from None
    if n_orders < 1 or n_nodes < 2:
        raise argparse.ArgumentTypeError(f"size {text!r} needs >= 1 order and >= 2 nodes")
    return n_orders, n_nodes


def _pct_above(value: float, bound: float) -> str:
    if not np.isfinite(bound) or bound <= 0:
        return "n/a"
    return f"{100.0 * (value - bound) / bound:+.3f}%"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", nargs="+", type=_parse_size, help=f"orders x nodes (default: {DEFAULT_SIZES})"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--time-limit",
        type=float,
        nargs="+",
        default=[1.0],
        help="budgets of the allocator (s); the production budget is 1 s",
    )
    parser.add_argument(
        "--reference-limit",
        type=float,
        default=None,
        help="cap on the reference solve (s); by default it runs to proven optimality",
    )
    args = parser.parse_args(argv)
    sizes = args.sizes or [_parse_size(text) for text in DEFAULT_SIZES]

    budget_head = "".join(
        f" | {f'budget {limit:g}s':>10} {'t(s)':>6} {'gap':>8} {'lb':>8}"
        for limit in args.time_limit
    )
    header = (
        f"{'size':>9} {'lines':>6} | {'wh-only':>10} {'nearest':>10}{budget_head} | "
        f"{'complete':>10} {'t(s)':>6} {'gap':>8} | "
        f"{'reference':>10} {'bound':>10} {'proven':>6} {'t(s)':>7}"
    )
    print(header)
    print("-" * len(header))
    for n_orders, n_nodes in sizes:
        problem = make_instance(n_orders, n_nodes, args.seed)
        warehouse_only = allocate_warehouse_only(problem)
        nearest = allocate_nearest_with_stock(problem)
        budgets = [allocate_optimized(problem, limit) for limit in args.time_limit]
        complete = allocate_optimized(problem, None)
        started = time.perf_counter()
        reference = solve_to_optimality(problem, args.reference_limit)
        reference_s = time.perf_counter() - started
        bound = max(complete.bound_eur, reference.bound_eur, *(plan.bound_eur for plan in budgets))
        budget_cells = "".join(
            f" | {plan.objective_eur:>10.2f} {plan.solve_time_s:>6.2f} "
            f"{_pct_above(plan.objective_eur, bound):>8} {_pct_above(plan.bound_eur, bound):>8}"
            for plan in budgets
        )
        print(
            f"{n_orders:>5}x{n_nodes:<3} {problem.n_lines:>6} | "
            f"{warehouse_only.objective_eur:>10.2f} {nearest.objective_eur:>10.2f}{budget_cells} | "
            f"{complete.objective_eur:>10.2f} {complete.solve_time_s:>6.2f} "
            f"{_pct_above(complete.objective_eur, bound):>8} | "
            f"{reference.objective_eur:>10.2f} {reference.bound_eur:>10.2f} "
            f"{'yes' if reference.optimal else 'no':>6} {reference_s:>7.2f}",
            flush=True,
        )
    print(
        "\nObjectives in EUR (lower is better). 'gap' is a plan above the best proven lower "
        "bound\n(the reference optimum when it is proven): an upper bound on its distance "
        "from the optimum."
    )


if __name__ == "__main__":
    main()
