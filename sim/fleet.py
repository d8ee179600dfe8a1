"""Couriers: vehicles and their shifts, dispatch waves, and routes driven stop by stop.

At each wave a depot (a warehouse, or a store that ships from store) hands the parcels
waiting for it and its idle on-shift vehicles to the router, as a plain
:class:`~optimizer.problems.RoutingProblem`; parcels the plan leaves out wait for the next
wave. A route is then driven with the world's randomness: leg times vary around the
plan (traffic of the hour, disruptions, noise), customers are not at home, parcels get
lost. A failed parcel comes back to the depot and is reattempted or redirected to a
store. Route costs are shared out over the route's parcels.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import simpy

from optimizer.construct import solve_baseline
from optimizer.problems import RoutePlan, RoutingProblem, Vehicle
from optimizer.routing import RoutingParams, solve_ortools
from optimizer.travel import road_distance_km
from sim.ledger import Parcel, RouteRecord
from sim.network import DAY_MIN, Window, minutes_from_start
from sim.scenario import FleetEntry

if TYPE_CHECKING:
    from sim.model import World

# Routing matrices are built at this speed; each vehicle's speed_factor rescales them.
REFERENCE_SPEED_KMH = 30.0
# Leaving a parcel behind costs more than any detour, more so once it is late.
DROP_PENALTY_EUR = 1_000.0
DROP_PENALTY_PER_LATE_DAY_EUR = 1_000.0


def router(name: str, solution_limit: int) -> Callable[[RoutingProblem], RoutePlan]:
    """The routing policy: the constructive baseline, or OR-Tools with a deterministic
    budget (a count of accepted solutions, never wall time, so runs are reproducible)."""
    if name == "baseline":
        return solve_baseline
    params = RoutingParams(deterministic=True, solution_limit=solution_limit)
    return lambda problem: solve_ortools(problem, params)


@dataclass
class Courier:
    id: str
    depot: int
    entry: FleetEntry
    rank: int  # position within its fleet entry: absences remove the lowest ranks first
    busy: bool = False
    shift_paid_day: int = -1


class Fleet:
    def __init__(self, world: World) -> None:
        self.world = world
        sc, net = world.scenario, world.net
        self.couriers: list[Courier] = []
        for k, entry in enumerate(sc.fleet):
            depot = net.index[entry.depot]
            self.couriers += [
                Courier(f"{entry.depot}-{entry.vehicle_type}-{k}.{j}", depot, entry, j)
                for j in range(entry.count)
            ]
        self.has_depot = np.zeros(len(net.ids), dtype=bool)
        for c in self.couriers:
            self.has_depot[c.depot] = True
        self.queue: dict[int, list[Parcel]] = {int(d): [] for d in np.flatnonzero(self.has_depot)}
        self.route = router(sc.policies.routing, sc.policies.routing_solution_limit)
        self.busy_count = 0
        self.absences = [
            (
                Window(minutes_from_start(sc, d.start), minutes_from_start(sc, d.end)),
                d.target,
                d.value,
            )
            for d in sc.disruptions
            if d.kind == "courier_absence"
        ]
        self.traffic = [
            (Window(minutes_from_start(sc, d.start), minutes_from_start(sc, d.end)), d.value)
            for d in sc.disruptions
            if d.kind == "traffic_multiplier"
        ]
        self._noise_sigma = float(np.sqrt(np.log1p(sc.travel.noise_cv**2)))

    # -- state of the world ---------------------------------------------------------
    def speed_factor(self, t: float) -> float:
        """Speed relative to free flow at time t: the hour's profile over any slowdowns."""
        hour = int((t % DAY_MIN) // 60)
        factor = self.world.scenario.travel.speed_profile[hour]
        for window, multiplier in self.traffic:
            if window.covers(t):
                factor /= max(multiplier, 1e-6)
        return factor

    def absent(self, courier: Courier, t: float) -> bool:
        for window, target, share in self.absences:
            if (
                window.covers(t)
                and target in (None, self.world.net.ids[courier.depot])
                and courier.rank < round(share * courier.entry.count)
            ):
                return True
        return False

    def on_shift(self, courier: Courier, t: float) -> bool:
        hour = (t % DAY_MIN) / 60
        return courier.entry.shift_start_hour <= hour < courier.entry.shift_end_hour

    def enqueue(self, parcel: Parcel) -> None:
        parcel.status = "awaiting_dispatch"
        self.queue[parcel.node].append(parcel)

    # -- dispatch --------------------------------------------------------------------
    def run(self) -> Generator[simpy.Event, object, None]:
        """Dispatch waves at the scenario's wave hours, every day."""
        env = self.world.env
        waves = np.asarray(self.world.scenario.policies.dispatch_wave_hours) * 60.0
        day = 0
        while True:
            for wave in day * DAY_MIN + waves:
                if wave >= env.now:
                    yield env.timeout(wave - env.now)
                    for depot in self.queue:
                        self.dispatch(depot)
            day += 1

    def dispatch(self, depot: int) -> None:
        world = self.world
        env, sc = world.env, world.scenario
        now = env.now
        parcels = self.queue[depot]
        day = np.floor(now / DAY_MIN)
        window_end = day * DAY_MIN + sc.promise.delivery_end_hour * 60
        available = [
            c
            for c in self.couriers
            if c.depot == depot and not c.busy and self.on_shift(c, now) and not self.absent(c, now)
        ]
        if not parcels or not available or now >= window_end:
            return
        problem = self._problem(depot, parcels, available, now, window_end)
        plan = self.route(problem)
        world.ledger.count("routing_calls")
        world.ledger.count("routing_solve_ms", round(plan.solve_time_s * 1000))
        by_id = {c.id: c for c in available}
        routed: set[int] = set()
        for route in plan.routes:
            courier = by_id[route.vehicle_id]
            stops = [parcels[s] for s in route.stops]
            routed.update(route.stops)
            courier.busy = True
            self.busy_count += 1
            loc = [int(problem.stop_location[s]) for s in route.stops]
            env.process(
                self._drive(
                    courier, stops, loc, problem.distance_km, route.distance_km, plan.solver
                )
            )
        self.queue[depot] = [p for k, p in enumerate(parcels) if k not in routed]
        for p in self.queue[depot]:
            p.order.stage = "awaiting_dispatch"

    def _problem(
        self,
        depot: int,
        parcels: list[Parcel],
        couriers: list[Courier],
        now: float,
        window_end: float,
    ) -> RoutingProblem:
        """Location 0 is the depot, location k the k-th waiting parcel's address."""
        world = self.world
        net, sc = world.net, world.scenario
        lat = np.concatenate([[net.lat[depot]], [p.dest_loc[0] for p in parcels]])
        lon = np.concatenate([[net.lon[depot]], [p.dest_loc[1] for p in parcels]])
        dist = road_distance_km(lat, lon, sc.travel.circuity)
        travel = dist / (REFERENCE_SPEED_KMH * self.speed_factor(now)) * 60.0
        n = len(parcels)
        days_late = np.array([max(0.0, now - p.order.promised_min) / DAY_MIN for p in parcels])
        day = np.floor(now / DAY_MIN)
        vehicles = tuple(
            Vehicle(
                id=c.id,
                start=0,
                end=0,
                capacity=float(c.entry.capacity_parcels),
                shift_start_min=now,
                shift_end_min=day * DAY_MIN + c.entry.shift_end_hour * 60,
                cost_per_km_eur=c.entry.cost_per_km_eur,
                cost_per_hour_eur=c.entry.cost_per_hour_eur,
                fixed_cost_eur=0.0 if c.shift_paid_day == day else c.entry.cost_per_shift_eur,
                speed_factor=c.entry.speed_kmh / REFERENCE_SPEED_KMH,
            )
            for c in couriers
        )
        service = max(c.entry.service_min for c in couriers)
        return RoutingProblem(
            distance_km=dist,
            travel_min=travel,
            stop_location=np.arange(1, n + 1),
            demand=np.ones(n),
            service_min=np.full(n, service),
            tw_start_min=np.full(n, now),
            tw_end_min=np.full(n, window_end),
            drop_penalty=DROP_PENALTY_EUR + DROP_PENALTY_PER_LATE_DAY_EUR * days_late,
            vehicles=vehicles,
            start_min=now,
            stop_ids=tuple(str(p.order.id) for p in parcels),
        )

    # -- driving ---------------------------------------------------------------------
    def _leg_min(self, km: float, speed_kmh: float) -> float:
        noise = self.world.rng["travel"].lognormal(-(self._noise_sigma**2) / 2, self._noise_sigma)
        return km / (speed_kmh * self.speed_factor(self.world.env.now)) * 60.0 * noise

    def _drive(
        self,
        courier: Courier,
        stops: list[Parcel],
        locations: list[int],
        distance_km: np.ndarray,
        planned_km: float,
        solver: str,
    ) -> Generator[simpy.Event, object, None]:
        world = self.world
        env, sc, net = world.env, world.scenario, world.net
        from sim.fulfilment import parcel_done

        entry = courier.entry
        start = env.now
        day = int(start // DAY_MIN)
        pos = 0  # the depot's location in the wave's matrix
        km = 0.0
        failed: list[Parcel] = []
        for parcel, loc in zip(stops, locations, strict=True):
            parcel.status = "out_for_delivery"
            parcel.order.stage = "out_for_delivery"
            leg = float(distance_km[pos, loc])
            yield env.timeout(self._leg_min(leg, entry.speed_kmh))
            km += leg
            pos = loc
            order = parcel.order
            parcel.attempts += 1
            order.attempts += 1
            i = order.id
            attempt = min(parcel.attempts, sc.customers.max_attempts) - 1
            if parcel.attempts == 1 and world.orders.u_lost[i] < sc.customers.lost_parcel_prob:
                cost = float(world.catalogue.price_eur[parcel.skus] @ parcel.qty)
                order.charge("lost_goods_eur", cost * (1 - sc.catalogue.margin_pct))
                parcel_done(world, parcel, "lost")
            elif world.orders.u_not_home[i, attempt] < sc.customers.not_at_home_prob:
                order.failed_attempts += 1
                order.charge("failed_attempt_eur", sc.costs.failed_attempt_eur)
                failed.append(parcel)
            else:
                parcel_done(world, parcel, "delivered")
            yield env.timeout(entry.service_min)
        leg = float(distance_km[pos, 0])
        yield env.timeout(self._leg_min(leg, entry.speed_kmh))
        km += leg
        duration = env.now - start
        shift_cost = 0.0 if courier.shift_paid_day == day else entry.cost_per_shift_eur
        courier.shift_paid_day = day
        cost = km * entry.cost_per_km_eur + duration / 60 * entry.cost_per_hour_eur + shift_cost
        for parcel in stops:
            parcel.order.charge("delivery_eur", cost / len(stops))
        world.ledger.routes.append(
            RouteRecord(
                route_id=len(world.ledger.routes),
                depot=net.ids[courier.depot],
                vehicle_id=courier.id,
                vehicle_type=entry.vehicle_type,
                wave_min=start,
                start_min=start,
                end_min=env.now,
                n_stops=len(stops),
                planned_distance_km=planned_km,
                distance_km=km,
                duration_min=duration,
                cost_eur=cost,
                shift_cost_eur=shift_cost,
                co2_kg=km * entry.co2_g_per_km / 1000,
                solver=solver,
            )
        )
        courier.busy = False
        self.busy_count -= 1
        for parcel in failed:
            self._after_failure(parcel)

    def _after_failure(self, parcel: Parcel) -> None:
        """Back at the depot: try again next wave, or send to a store, or give up."""
        world = self.world
        c, net = world.scenario.customers, world.net
        from sim.fulfilment import parcel_done

        store = net.nearest_store(*parcel.dest_loc)
        if c.failed_delivery_action == "redirect_to_store" and store >= 0:
            parcel.order.redirected = True
            parcel.status = "at_store"
            parcel.order.stage = "ready_for_collection"
            world.env.process(self._redirect(parcel, store))
        elif parcel.attempts < c.max_attempts:
            self.enqueue(parcel)
        else:
            world.stock.restock(parcel.node, parcel.skus, parcel.qty)
            parcel_done(world, parcel, "failed")

    def _redirect(self, parcel: Parcel, store: int) -> Generator[simpy.Event, object, None]:
        world = self.world
        ready = world.net.next_open(store, world.env.now)
        yield world.env.timeout(ready - world.env.now)
        parcel.order.ready_min = np.fmax(parcel.order.ready_min, ready)
        yield from world.customers.collect_redirected(parcel, store)
