"""Solomon and VRPLIB readers (and the route CLI on them): values land where they belong,
bad files say where."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from optimizer.errors import ProblemError
from optimizer.instances import (
    Instance,
    read_bks,
    read_instance,
    read_solomon,
    read_vrplib,
    write_solomon,
    write_vrplib,
)
from sim.cli_route import route

TINY_SOLOMON = """TINY

VEHICLE
NUMBER     CAPACITY
  2         10

CUSTOMER
CUST NO.  XCOORD.   YCOORD.    DEMAND   READY TIME  DUE DATE   SERVICE   TIME

    0      0          0          0          0        100          0
    1      3          4          5         10         20          2
    2      6          8          4          0         50          1
"""

TINY_CVRP = """NAME : tiny-n4-k2
COMMENT : hand made
TYPE : CVRP
DIMENSION : 4
EDGE_WEIGHT_TYPE : EUC_2D
CAPACITY : 10
NODE_COORD_SECTION
1 0 0
2 1 1
3 3 4
4 0 2
DEMAND_SECTION
1 0
2 3
3 4
4 5
DEPOT_SECTION
1
-1
EOF
"""

TINY_VRPTW = """NAME : tw
TYPE : VRPTW
DIMENSION : 3
VEHICLES : 2
EDGE_WEIGHT_TYPE : EXPLICIT
EDGE_WEIGHT_FORMAT : LOWER_ROW
CAPACITY : 7
EDGE_WEIGHT_SECTION
5
7 3
DEMAND_SECTION
1 0
2 2
3 3
TIME_WINDOW_SECTION
1 0 100
2 10 20
3 0 40
SERVICE_TIME_SECTION
1 0
2 4
3 6
DEPOT_SECTION
1
-1
EOF
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_solomon_c101_fields(solomon_dir: Path) -> None:
    inst = read_solomon(solomon_dir / "C101.txt")
    p = inst.problem
    assert inst.name == "C101" and inst.max_vehicles == 25 and p.n_stops == 100
    assert inst.customer_ids[0] == 1 and inst.depot_id == 0
    assert (p.demand[0], p.tw_start_min[0], p.tw_end_min[0], p.service_min[0]) == (
        10.0,
        912.0,
        967.0,
        90.0,
    )
    assert tuple(inst.coords[p.stop_location[0]]) == (45.0, 68.0)
    v = p.vehicles[0]
    assert (v.capacity, v.shift_start_min, v.shift_end_min) == (200.0, 0.0, 1236.0)
    assert p.distance_km[0, 1] == pytest.approx(np.hypot(5.0, 18.0))
    assert np.isinf(p.drop_penalty).all()


def assert_same(a: Instance, b: Instance) -> None:
    pa, pb = a.problem, b.problem
    assert a.name == b.name and a.customer_ids == b.customer_ids
    assert a.max_vehicles == b.max_vehicles
    for field in ("demand", "service_min", "tw_start_min", "tw_end_min", "distance_km"):
        np.testing.assert_array_equal(getattr(pa, field), getattr(pb, field))
    np.testing.assert_array_equal(a.coords, b.coords)
    assert pa.vehicles == pb.vehicles


def test_solomon_round_trip_real_file(solomon_dir: Path, tmp_path: Path) -> None:
    inst = read_solomon(solomon_dir / "RC208.txt")
    write_solomon(inst, tmp_path / "copy.txt")
    assert_same(inst, read_solomon(tmp_path / "copy.txt"))


def test_solomon_round_trip_fractional_values(tmp_path: Path) -> None:
    inst = read_solomon(write(tmp_path, "tiny.txt", TINY_SOLOMON))
    p = inst.problem
    rng = np.random.default_rng(0)
    frac = Instance(
        name=inst.name,
        problem=type(p)(
            **{
                **p.__dict__,
                "demand": rng.uniform(0, 5, 2),
                "tw_start_min": np.array([10.25, 0.1]),
            }
        ),
        coords=inst.coords + rng.uniform(0, 1, inst.coords.shape),
        customer_ids=inst.customer_ids,
        depot_id=inst.depot_id,
        max_vehicles=inst.max_vehicles,
    )
    write_solomon(frac, tmp_path / "frac.txt")
    back = read_solomon(tmp_path / "frac.txt")
    np.testing.assert_array_equal(back.problem.demand, frac.problem.demand)
    np.testing.assert_array_equal(back.coords, frac.coords)
    np.testing.assert_array_equal(back.problem.tw_start_min, frac.problem.tw_start_min)


def test_vrplib_round_trip_real_file(solomon_dir: Path, tmp_path: Path) -> None:
    inst = read_solomon(solomon_dir / "RC208.txt")
    write_vrplib(inst, tmp_path / "RC208.vrp")
    assert_same(inst, read_instance(tmp_path / "RC208.vrp"))


@pytest.mark.parametrize("text", [TINY_CVRP, TINY_VRPTW], ids=["cvrp-no-windows", "vrptw"])
def test_vrplib_round_trip_keeps_rounded_distances_and_open_windows(
    tmp_path: Path, text: str
) -> None:
    inst = read_vrplib(write(tmp_path, "in.vrp", text))
    write_vrplib(inst, tmp_path / "out.vrp")
    back = read_vrplib(tmp_path / "out.vrp")
    assert_same(inst, back)
    assert ("TIME_WINDOW_SECTION" in (tmp_path / "out.vrp").read_text()) == (
        "TIME_WINDOW_SECTION" in text
    )


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("VEHICLE\n", "VEHICLES\n", "VEHICLE or CUSTOMER"),
        ("  2         10", "  2         ten", r":5: vehicle CAPACITY must be a number"),
        (
            "    1      3          4          5         10",
            "    1      3   4   5",
            r":11: expected 7",
        ),
        ("6          8          4", "6          8          x", r":12: DEMAND must be a number"),
        ("10         20          2", "30         20          2", r":11: READY TIME 30"),
        ("    2      6", "    1      6", "repeat"),
    ],
)
def test_malformed_solomon_names_line_and_field(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in TINY_SOLOMON
    path = write(tmp_path, "bad.txt", TINY_SOLOMON.replace(old, new))
    with pytest.raises(ProblemError, match=message):
        read_solomon(path)


def test_missing_file_is_a_problem_error(tmp_path: Path) -> None:
    with pytest.raises(ProblemError, match="cannot read"):
        read_instance(tmp_path / "nope.txt")


def test_vrplib_cvrp_euc2d_rounds_like_tsplib(tmp_path: Path) -> None:
    inst = read_vrplib(write(tmp_path, "tiny.vrp", TINY_CVRP))
    p = inst.problem
    assert inst.name == "tiny-n4-k2" and p.n_stops == 3 and inst.customer_ids == (2, 3, 4)
    assert p.distance_km[0, 1] == 1.0  # sqrt(2) = 1.41 -> nint 1
    assert p.distance_km[0, 2] == 5.0
    assert p.distance_km[1, 2] == 4.0  # sqrt(13) = 3.61 -> 4
    assert inst.max_vehicles == 3 and p.vehicles[0].capacity == 10.0
    assert np.isinf(p.tw_end_min).all() and np.isinf(p.vehicles[0].shift_end_min)


def test_vrplib_vrptw_explicit_lower_row(tmp_path: Path) -> None:
    inst = read_instance(write(tmp_path, "tw.vrp", TINY_VRPTW))
    p = inst.problem
    np.testing.assert_array_equal(p.distance_km, [[0, 5, 7], [5, 0, 3], [7, 3, 0]])
    np.testing.assert_array_equal(p.tw_start_min, [10, 0])
    np.testing.assert_array_equal(p.service_min, [4, 6])
    assert inst.max_vehicles == 2 and p.vehicles[0].shift_end_min == 100.0


@pytest.mark.parametrize(
    ("old", "new", "message"),
    [
        ("DEMAND_SECTION\n1 0\n2 3\n3 4\n4 5\n", "", "DEMAND_SECTION is missing"),
        ("3 3 4\n", "3 3\n", r":10: NODE_COORD_SECTION rows need 3"),
        ("EUC_2D", "GEO", "GEO' is not supported"),
        ("CAPACITY : 10", "CAPACITY : lots", r":6: CAPACITY must be a number"),
        ("1\n-1", "7\n-1", "depot 7 is not a node id"),
        ("DIMENSION : 4", "DIMENSION : 5", "NODE_COORD_SECTION has 4 rows, DIMENSION is 5"),
    ],
)
def test_malformed_vrplib_names_the_problem(
    tmp_path: Path, old: str, new: str, message: str
) -> None:
    assert old in TINY_CVRP
    path = write(tmp_path, "bad.vrp", TINY_CVRP.replace(old, new))
    with pytest.raises(ProblemError, match=message):
        read_vrplib(path)


def test_best_known_table(solomon_dir: Path) -> None:
    bks = read_bks(solomon_dir / "bks.csv")
    assert len(bks) == 56
    assert bks["C101"].hier_distance == 828.94 and bks["C101"].hier_vehicles == 10
    assert bks["R101"].instance_class == "R1" and bks["R101"].dist_distance == 1637.7


def test_every_solomon_file_reads(solomon_dir: Path) -> None:
    files = sorted(solomon_dir.glob("*.txt"))
    assert len(files) == 56
    for path in files:
        inst = read_instance(path)
        assert inst.problem.n_stops == 100 and inst.max_vehicles == 25


def cli_app() -> typer.Typer:
    app = typer.Typer()
    app.command()(route)
    return app


def test_cli_route_prints_json_with_feasible_routes(tmp_path: Path) -> None:
    path = write(tmp_path, "tiny.txt", TINY_SOLOMON)
    res = CliRunner().invoke(cli_app(), [str(path), "--json", "--time-limit", "1"])
    assert res.exit_code == 0, res.output
    out = json.loads(res.stdout)
    assert out["feasible"] and out["dropped"] == []
    assert sorted(c for r in out["routes"] for c in r["customers"]) == [1, 2]
    table = CliRunner().invoke(cli_app(), [str(path), "--solver", "baseline"])
    assert table.exit_code == 0 and "feasible" in table.stdout


def test_cli_route_bad_input_is_one_message_exit_2(tmp_path: Path) -> None:
    bad = write(tmp_path, "bad.vrp", TINY_CVRP.replace("CAPACITY : 10", "CAPACITY : lots"))
    res = CliRunner().invoke(cli_app(), [str(bad)])
    assert res.exit_code == 2
    assert "CAPACITY must be a number" in res.stderr and "Traceback" not in res.stderr
    missing = CliRunner().invoke(cli_app(), [str(tmp_path / "none.txt")])
    assert missing.exit_code == 2 and "cannot read" in missing.stderr
    wrong = CliRunner().invoke(cli_app(), [str(bad), "--solver", "magic"])
    assert wrong.exit_code == 2 and "magic" in wrong.stderr
