"""The collection desk against queueing theory.

The model's desk (:func:`sim.customers.desk_visit`: a SimPy resource with ``desk_staff``
servers) fed with Poisson arrivals and exponential hand-overs is an M/M/c queue; its mean
wait must match Erlang C, and Little's law must hold for it.
"""

from __future__ import annotations

import math

import numpy as np
import simpy

from sim.customers import desk_visit


def erlang_c_wait(arrival_rate: float, service_min: float, servers: int) -> float:
    """Mean wait in queue of M/M/c (minutes)."""
    a = arrival_rate * service_min  # offered load in Erlangs
    rho = a / servers
    top = a**servers / math.factorial(servers) / (1 - rho)
    p_wait = top / (sum(a**k / math.factorial(k) for k in range(servers)) + top)
    return p_wait * service_min / (servers * (1 - rho))


def run_desk(arrival_rate: float, service_min: float, servers: int, n: int, seed: int):
    rng = np.random.default_rng(seed)
    gaps = rng.exponential(1 / arrival_rate, n)
    services = rng.exponential(service_min, n)
    env = simpy.Environment()
    desk = simpy.Resource(env, capacity=servers)
    waits = np.empty(n)
    in_queue_area = [0.0, 0.0]  # ∫ queue length dt, last change time

    def customer(k: int):
        waits[k] = yield from desk_visit(env, desk, services[k])

    def arrivals():
        for k in range(n):
            yield env.timeout(gaps[k])
            env.process(customer(k))

    def monitor():
        # Time-average number waiting, sampled finely (Little: L_q = λ W_q).
        while True:
            in_queue_area[0] += len(desk.queue) * 1.0
            yield env.timeout(1.0)

    env.process(arrivals())
    env.process(monitor())
    env.run(until=float(gaps.sum()))
    return waits, in_queue_area[0] / env.now


def test_desk_matches_erlang_c_and_littles_law() -> None:
    # ρ = 0.6: at higher loads waits are so autocorrelated that 2% needs millions of customers.
    rate, service, servers = 0.4, 3.0, 2
    waits, lq = run_desk(rate, service, servers, n=300_000, seed=2)
    waits = waits[10_000 : int(len(waits) * 0.98)]  # drop warm-up and unfinished tail
    expected = erlang_c_wait(rate, service, servers)
    assert abs(waits.mean() / expected - 1) < 0.02, (waits.mean(), expected)
    assert abs(lq / (rate * waits.mean()) - 1) < 0.03, (lq, rate * waits.mean())
