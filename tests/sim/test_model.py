"""The simulation's promises: every order accounted for, stock and money balance,
same seed ⇒ same results, policy changes keep the same customers."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from sim.api import simulate
from sim.ledger import COST_COMPONENTS, TERMINAL
from sim.model import World, build_world, run_world
from tests.sim.conftest import small_town

ARRIVAL_COLUMNS = ["order_id", "channel", "created_min", "value_eur", "n_lines", "n_units"]


def assert_ledger_invariants(orders: pd.DataFrame, routes: pd.DataFrame) -> None:
    assert orders["status"].isin([*TERMINAL, "open"]).all()
    open_orders = orders[orders["status"] == "open"]
    assert not open_orders["stage"].isin(TERMINAL).any(), "an open order sits in a final stage"
    total = orders[list(COST_COMPONENTS)].sum(axis=1)
    np.testing.assert_allclose(orders["total_cost_eur"], total)
    np.testing.assert_allclose(orders["delivery_eur"].sum(), routes["cost_eur"].sum())
    assert (orders[list(COST_COMPONENTS)] >= 0).all().all()
    delivered = orders["status"] == "delivered"
    assert orders.loc[delivered, "delivered_min"].notna().all()
    assert (orders.loc[delivered, "delivered_min"] >= orders.loc[delivered, "created_min"]).all()
    collected = orders["status"] == "collected"
    assert (orders.loc[collected, "collected_min"] >= orders.loc[collected, "ready_min"]).all()


def assert_stock_balances(world: World) -> None:
    stock = world.stock
    assert (stock.true >= 0).all(), "true stock went negative"
    assert (stock.reserved >= 0).all(), "a reservation was released twice"
    f = stock.flows
    moved_in = f.received + f.transfer_in + f.restocked
    moved_out = f.sold_walk_in + f.picked + f.shrinkage + f.transfer_out
    expected = f.initial + moved_in - moved_out
    assert int(stock.true.sum()) == expected


def test_small_town_runs_and_balances() -> None:
    world = run_world(build_world(small_town()))
    orders = world.ledger.orders_frame(world.net.ids, pd.Timestamp("2026-11-01"))
    routes = world.ledger.routes_frame()
    assert len(orders) > 200
    assert_ledger_invariants(orders, routes)
    assert_stock_balances(world)
    assert (orders["status"] == "delivered").sum() > 50
    assert len(routes) > 0


def test_same_seed_gives_identical_results() -> None:
    a, b = simulate(small_town()), simulate(small_town())
    pd.testing.assert_frame_equal(a.orders, b.orders)
    pd.testing.assert_frame_equal(a.routes, b.routes)
    assert a.kpis == pytest.approx(b.kpis, nan_ok=True)


def test_another_seed_gives_other_orders() -> None:
    a, b = simulate(small_town()), simulate(small_town(seed=8))
    assert not a.orders["created_min"].equals(b.orders["created_min"])


@pytest.mark.parametrize(
    "change",
    [
        {"policies.allocation": "nearest_with_stock"},
        {"visibility.mode": "unified", "policies.ship_from_store": True},
        {"policies.dispatch_wave_hours": [9, 15]},
    ],
)
def test_policy_change_keeps_the_same_orders(change: dict) -> None:
    base = simulate(small_town()).orders
    other = simulate(small_town(**change)).orders
    pd.testing.assert_frame_equal(base[ARRIVAL_COLUMNS], other[ARRIVAL_COLUMNS])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    orders_per_day=st.integers(20, 250),
    cc_share=st.sampled_from([0.0, 0.3, 1.0]),
    not_home=st.floats(0.0, 0.5),
    action=st.sampled_from(["reattempt", "redirect_to_store"]),
    visibility=st.sampled_from(["unified", "siloed", "delayed"]),
    allocation=st.sampled_from(["warehouse_only", "nearest_with_stock", "optimized"]),
    record_error=st.floats(0.0, 1.0),
    seed=st.integers(0, 10_000),
)
def test_invariants_hold_for_any_policy_and_behaviour(
    orders_per_day: int,
    cc_share: float,
    not_home: float,
    action: str,
    visibility: str,
    allocation: str,
    record_error: float,
    seed: int,
) -> None:
    sc = small_town(
        **{
            "seed": seed,
            "horizon_days": 1.5,
            "demand.online_orders_per_day": orders_per_day,
            "demand.click_and_collect_share": cc_share,
            "customers.not_at_home_prob": not_home,
            "customers.failed_delivery_action": action,
            "customers.lost_parcel_prob": 0.05,
            "visibility.mode": visibility,
            "policies.allocation": allocation,
            "policies.ship_from_store": True,
            "inventory.record_error_share": record_error,
        }
    )
    world = run_world(build_world(sc))
    orders = world.ledger.orders_frame(world.net.ids, pd.Timestamp(sc.start))
    assert_ledger_invariants(orders, world.ledger.routes_frame())
    assert_stock_balances(world)


def test_unified_visibility_with_true_records_never_oversells() -> None:
    sc = small_town(
        **{
            "visibility.mode": "unified",
            "policies.allocation": "nearest_with_stock",
            "policies.ship_from_store": True,
            "inventory.record_error_share": 0.0,
            "inventory.shrinkage_units_per_store_day": 0.0,
            "inventory.store_initial_days": 2,
            "demand.online_orders_per_day": 300,
        }
    )
    orders = simulate(sc).orders
    assert (orders["nodes"].str.contains("S")).any(), "stores never fulfilled: test is vacuous"
    assert not orders["oversold"].any()


def _oversold_town(reallocate: bool) -> pd.DataFrame:
    sc = small_town(
        **{
            "visibility.mode": "delayed",
            "visibility.sync_interval_min": 720,
            "policies.allocation": "nearest_with_stock",
            "policies.ship_from_store": True,
            "policies.reallocate_oversold": reallocate,
            "inventory.record_error_share": 1.0,
            "inventory.record_error_mean_units": 3,
            "inventory.store_initial_days": 1,
            "inventory.store_min_units": 1,
            "demand.online_orders_per_day": 300,
        }
    )
    return simulate(sc).orders


def test_delayed_visibility_with_wrong_records_oversells_and_cancels() -> None:
    orders = _oversold_town(reallocate=False)
    oversold = orders[orders["oversold"]]
    assert len(oversold) > 0
    single_parcel = oversold[~oversold["split"]]
    assert (single_parcel["status"] == "cancelled").all()
    assert not orders["reallocated"].any()


def test_reallocating_oversold_orders_saves_most_of_them() -> None:
    cancel = _oversold_town(reallocate=False)
    rescue = _oversold_town(reallocate=True)
    assert rescue["reallocated"].sum() > 0
    assert (rescue["status"] == "cancelled").sum() < (cancel["status"] == "cancelled").sum()
    saved = rescue[rescue["reallocated"]]
    assert (saved["status"] != "cancelled").mean() > 0.5


def test_courier_absence_means_fewer_routes() -> None:
    base = simulate(small_town())
    strike = simulate(
        small_town(
            disruptions=[
                {
                    "kind": "courier_absence",
                    "start": "2026-11-01T00:00",
                    "end": "2026-11-03T00:00",
                    "value": 1.0,
                }
            ]
        )
    )
    assert len(strike.routes) == 0 < len(base.routes)
    assert (strike.orders["status"] == "delivered").sum() == 0


def test_node_outage_stops_picking_there() -> None:
    sc = small_town(
        disruptions=[
            {
                "kind": "node_outage",
                "target": "W",
                "start": "2026-11-01T00:00",
                "end": "2026-11-02T00:00",
            }
        ]
    )
    orders = simulate(sc).orders
    first_day = orders[orders["created_min"] < 1440]
    # With the only warehouse down, no first-day order can be served from it.
    assert not first_day["nodes"].str.contains("W").any()


def test_replayed_orders_are_the_csv(tmp_path: Path) -> None:
    csv = tmp_path / "orders.csv"
    csv.write_text(
        "timestamp,lat,lon,channel,skus\n"
        "2026-11-01T09:00,32.07,34.79,home_delivery,1;5:2\n"
        "2026-11-01T10:30,32.10,34.84,click_and_collect,3\n"
    )
    orders = simulate(small_town(**{"demand.replay_csv": str(csv)})).orders
    assert orders["created_min"].tolist() == [540.0, 630.0]
    assert orders["n_units"].tolist() == [3, 1]
    assert orders["channel"].tolist() == ["home_delivery", "click_and_collect"]


def test_ship_from_store_respects_radius_and_daily_quota() -> None:
    wide = small_town(
        **{
            "visibility.mode": "unified",
            "policies.allocation": "nearest_with_stock",
            "policies.ship_from_store": True,
            "policies.ship_from_store_radius_km": 50,
            "demand.online_orders_per_day": 400,
            "demand.click_and_collect_share": 0.0,
        }
    )
    orders = simulate(wide).orders
    from_store = orders[orders["nodes"] == "S1"]
    assert len(from_store) > 0
    # S1's one bike carries 10 parcels in each of the day's four waves (8, 11, 14, 17).
    per_day = from_store.groupby(from_store["created_min"] // 1440).size()
    assert (per_day <= 1 * 10 * 4).all()
    assert per_day.max() == 40, "the quota never bound: the test is vacuous"
    narrow = small_town(
        **{
            "visibility.mode": "unified",
            "policies.allocation": "nearest_with_stock",
            "policies.ship_from_store": True,
            "policies.ship_from_store_radius_km": 0.01,
            "demand.click_and_collect_share": 0.0,
        }
    )
    assert not simulate(narrow).orders["nodes"].str.contains("S1").any()


def test_ortools_routing_in_the_loop_is_reproducible_and_feasible() -> None:
    sc = small_town(**{"policies.routing": "ortools", "policies.routing_solution_limit": 30})
    a, b = simulate(sc), simulate(sc)
    pd.testing.assert_frame_equal(a.routes, b.routes)
    pd.testing.assert_frame_equal(a.orders, b.orders)
    assert (a.routes["solver"].str.startswith("ortools")).all()
    assert_ledger_invariants(a.orders, a.routes)
    assert (a.routes["n_stops"] <= 40).all()  # van capacity


def test_alternative_store_is_offered_only_when_enabled() -> None:
    changes = {
        "visibility.mode": "unified",
        "policies.allocation": "nearest_with_stock",
        "policies.alternative_store_radius_km": 20,
        "customers.alternative_store_accept_km": 100,
        "inventory.store_initial_days": 0.5,
        "inventory.store_min_units": 0,
        "demand.click_and_collect_share": 1.0,
        "demand.online_orders_per_day": 300,
    }
    off = simulate(small_town(**changes)).orders
    on = simulate(small_town(**changes, **{"policies.offer_alternative_store": True})).orders
    assert not off["alternative_store"].any()
    moved = on[on["alternative_store"]]
    assert len(moved) > 0
    nearest = off.set_index("order_id").loc[moved["order_id"], "pickup_store"].to_numpy()
    assert (moved["pickup_store"].to_numpy() != nearest).all()
    assert (on["ship_to_store"].sum()) < (off["ship_to_store"].sum())


def test_optimized_sourcing_is_reproducible_and_balances() -> None:
    sc = small_town(
        **{
            "policies.allocation": "optimized",
            "visibility.mode": "unified",
            "policies.ship_from_store": True,
            "demand.online_orders_per_day": 300,
        }
    )
    a, b = simulate(sc), simulate(sc)
    pd.testing.assert_frame_equal(a.orders, b.orders)
    assert_ledger_invariants(a.orders, a.routes)
    served = a.orders[a.orders["status"].isin(["delivered", "collected"])]
    assert served["nodes"].str.contains("S").any() and served["nodes"].str.contains("W").any()


def test_siloed_feed_oversells_when_warehouse_runs_low_and_unified_does_not() -> None:
    tight = {
        "inventory.warehouse_initial_days": 2,
        "inventory.warehouse_replenishment.lead_time_days": 3,
        "inventory.store_initial_days": 1,  # stores reorder the first night: the DC drains
        "inventory.record_error_share": 0.0,
        "inventory.shrinkage_units_per_store_day": 0.0,
        "demand.online_orders_per_day": 300,
        "horizon_days": 3,
    }
    siloed = simulate(small_town(**tight, **{"visibility.mode": "siloed"})).orders
    unified = simulate(
        small_town(
            **tight, **{"visibility.mode": "unified", "policies.allocation": "nearest_with_stock"}
        )
    ).orders
    assert siloed["oversold"].sum() > 0
    assert unified["oversold"].sum() == 0
    assert (siloed["status"] == "cancelled").sum() > (unified["status"] == "cancelled").sum()
