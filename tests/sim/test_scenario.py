"""Scenario files: bundled ones validate, extends and --set work, bad input is named."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from sim.cli import app
from sim.errors import ScenarioError
from sim.scenario import load_scenario
from tests.sim.conftest import SMALL_TOWN

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
BUNDLED = sorted(SCENARIOS.glob("*.yaml"))
runner = CliRunner()


def write(tmp_path: Path, data: object, name: str = "s.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return path


def test_every_bundled_scenario_validates() -> None:
    assert len(BUNDLED) >= 10
    names = {load_scenario(p).name for p in BUNDLED}
    expected = {
        "baseline",
        "ship_from_store",
        "click_and_collect_push",
        "unified_inventory",
        "delayed_visibility",
        "black_friday",
        "courier_shortage",
        "ortools_routing",
        "alternative_store",
        "optimized_allocation",
    }
    assert expected <= names


def test_extends_merges_mappings_and_replaces_lists(tmp_path: Path) -> None:
    write(tmp_path, SMALL_TOWN, "base.yaml")
    child = write(
        tmp_path,
        {"extends": "base.yaml", "name": "child", "policies": {"dispatch_wave_hours": [9]}},
    )
    sc = load_scenario(child)
    assert sc.name == "child"
    assert sc.policies.dispatch_wave_hours == [9.0]
    assert sc.network.stores[1].id == "S2"  # inherited


def test_set_overrides_nested_fields_and_list_entries(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL_TOWN)
    sc = load_scenario(
        path, ["network.stores.0.pickers=5", "visibility.mode=unified", "horizon_days=1.5"]
    )
    assert sc.network.stores[0].pickers == 5
    assert sc.visibility.mode == "unified"
    assert sc.horizon_days == 1.5


def test_extends_cycle_is_reported(tmp_path: Path) -> None:
    write(tmp_path, {"extends": "b.yaml"}, "a.yaml")
    write(tmp_path, {"extends": "a.yaml"}, "b.yaml")
    with pytest.raises(ScenarioError, match="cycle"):
        load_scenario(tmp_path / "a.yaml")


def _mutate(path: str, value: object) -> dict:
    import copy

    data = copy.deepcopy(SMALL_TOWN)
    node = data
    *parents, last = path.split(".")
    for p in parents:
        node = node[int(p)] if isinstance(node, list) else node.setdefault(p, {})
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value
    return data


_DELETE = object()

BAD_INPUT = [
    ("unknown field", _mutate("network.warehouses.0.pikers", 3), "network.warehouses.0.pikers"),
    ("wrong type", _mutate("demand.online_orders_per_day", "many"), "demand.online_orders_per_day"),
    ("negative fleet", _mutate("fleet.0.count", -2), "fleet.0.count"),
    ("store without coordinates", _mutate("network.stores.1.lat", _DELETE), "network.stores.1.lat"),
    ("unknown depot", _mutate("fleet.0.depot", "NOWHERE"), "fleet.0.depot"),
    ("bad policy", _mutate("visibility.mode", "psychic"), "visibility.mode"),
]


@pytest.mark.parametrize(("case", "data", "field"), BAD_INPUT, ids=[c[0] for c in BAD_INPUT])
def test_bad_scenarios_name_the_field(tmp_path: Path, case: str, data: dict, field: str) -> None:
    path = write(tmp_path, data)
    with pytest.raises(ScenarioError) as err:
        load_scenario(path)
    assert field in str(err.value), case
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert field in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize(
    ("content", "expected"),
    [("network: [unclosed", "not valid YAML at line 1"), ("- a\n- b\n", "YAML mapping")],
)
def test_malformed_yaml_is_one_message(tmp_path: Path, content: str, expected: str) -> None:
    path = write(tmp_path, content)
    result = runner.invoke(app, ["run", str(path), "--quiet", "--out", str(tmp_path)])
    assert result.exit_code == 2
    assert expected in result.output
    assert "Traceback" not in result.output


def test_missing_file_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["run", str(tmp_path / "nope.yaml")])
    assert result.exit_code == 2
    assert "file not found" in result.output


def test_bad_override_is_named(tmp_path: Path) -> None:
    path = write(tmp_path, SMALL_TOWN)
    result = runner.invoke(app, ["validate", str(path), "--set", "fleet.9.count=1"])
    assert result.exit_code == 2
    assert "fleet.9" in result.output


def test_binary_file_is_one_message(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_bytes(b"\xff\xfe\x00binary")
    result = runner.invoke(app, ["validate", str(path)])
    assert result.exit_code == 2
    assert "cannot read the file" in result.output
