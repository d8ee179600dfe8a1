"""Simulation throughput: simulated orders/s and events/s against bare SimPy, and how
run time grows with demand.

Prints, from one run on this machine:
- the bare SimPy event rate (processes doing nothing but timeouts),
- the model's simulated orders/s and SimPy events/s on the scenario, and their ratio,
- wall time at 1×, 2×, 4× demand: online orders, walk-ins, couriers and warehouse pickers
  all scaled together (a k-times larger retailer, not an overloaded one).

Usage: python bench/sim_throughput.py [--scenario scenarios/baseline.yaml] [--days 7]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import simpy

from sim.api import simulate
from sim.model import build_world, run_world
from sim.scenario import Scenario, load_scenario

ROOT = Path(__file__).resolve().parents[1]


def bare_simpy_events_per_s(n_events: int = 1_000_000, n_processes: int = 100) -> float:
    """Events/s of processes that only wait: the ceiling for any SimPy model here."""
    env = simpy.Environment()
    per_process = n_events // n_processes
    delays = np.random.default_rng(0).exponential(1.0, (n_processes, per_process)).tolist()

    def waiter(row: list[float]):
        for d in row:
            yield env.timeout(d)

    for row in delays:
        env.process(waiter(row))
    t0 = time.perf_counter()
    env.run()
    return n_events / (time.perf_counter() - t0)


def model_rate(scenario: Scenario) -> tuple[int, int, float]:
    """(orders, events, seconds) of one replication, events counted at SimPy's step."""
    world = build_world(scenario)
    env = world.env
    counter = [0]
    step = env.step

    def counted_step() -> None:
        counter[0] += 1
        step()

    env.step = counted_step  # type: ignore[method-assign]
    t0 = time.perf_counter()
    run_world(world)
    return len(world.ledger.orders), counter[0], time.perf_counter() - t0


def scaled(path: Path, days: float, k: float) -> Scenario:
    base = load_scenario(path)
    sets = [
        f"horizon_days={days}",
        f"warmup_days={min(base.warmup_days, days / 2)}",
        f"demand.online_orders_per_day={base.demand.online_orders_per_day * k}",
    ]
    for i, entry in enumerate(base.fleet):
        sets.append(f"fleet.{i}.count={round(entry.count * k)}")
    for i, w in enumerate(base.network.warehouses):
        sets.append(f"network.warehouses.{i}.pickers={round(w.pickers * k)}")
    for i, s in enumerate(base.network.stores):
        sets.append(f"network.stores.{i}.walk_ins_per_day={s.walk_ins_per_day * k}")
    return load_scenario(path, sets)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scenario", type=Path, default=ROOT / "scenarios" / "baseline.yaml")
    parser.add_argument("--days", type=float, default=7.0)
    parser.add_argument("--scales", default="1,2,4")
    args = parser.parse_args()

    bare = bare_simpy_events_per_s()
    print(f"bare SimPy: {bare:,.0f} events/s (1,000,000 timeouts over 100 processes)")
    orders, events, seconds = model_rate(scaled(args.scenario, args.days, 1.0))
    print(
        f"model ({args.scenario.name}, {args.days:g} days): {orders:,} orders, {events:,} events "
        f"in {seconds:.1f} s -> {orders / seconds:,.0f} orders/s, {events / seconds:,.0f} events/s"
    )
    print(f"model events/s ÷ bare SimPy events/s = {events / seconds / bare:.3f}")
    print()
    print(f"{'demand':>7} {'orders':>9} {'wall s':>8} {'s per 1k orders':>16} {'vs 1x':>6}")
    base_s = None
    for k in (float(x) for x in args.scales.split(",")):
        sc = scaled(args.scenario, args.days, k)
        t0 = time.perf_counter()
        results = simulate(sc)
        wall = time.perf_counter() - t0
        base_s = base_s or wall
        n = len(results.orders)
        print(f"{k:>6g}x {n:>9,} {wall:>8.1f} {wall / n * 1000:>16.2f} {wall / base_s:>6.2f}")


if __name__ == "__main__":
    main()
