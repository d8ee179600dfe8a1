"""CSAT model: probabilities, monotonicity, parameter files, calibration on Olist, CLI."""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sim.cli_csat import csat_app
from sim.csat import (
    EXPERIENCE_COLUMNS,
    OPTIONAL_COLUMNS,
    PROBABILITY_COLUMNS,
    CsatModel,
    CsatParamsError,
    csat_kpis,
    score_orders,
)
from sim.csat_calibration import (
    BUCKET_LABELS,
    GOAL_MAX_ABS_DIFF_STARS,
    GOAL_MIN_ORDERS,
    OLIST_FILE,
    calibrate,
    diagnostics,
    load_olist,
    olist_experience,
)

MODEL = CsatModel.load_default()
SHIPPED_FILE = Path(__file__).resolve().parents[2] / "sim" / "data" / "csat_params.json"

lateness = st.floats(-40.0, 40.0, allow_nan=False)
lead_time = st.floats(0.0, 90.0, allow_nan=False)
experience_rows = st.fixed_dictionaries(
    {
        "lateness_days": lateness,
        "lead_time_days": lead_time,
        "cancelled": st.booleans(),
        "oversold": st.booleans(),
        "failed_attempts": st.integers(0, 5),
        "split": st.booleans(),
        "cc_ready_late_h": st.floats(-5.0, 48.0, allow_nan=False),
        "desk_wait_min": st.floats(0.0, 120.0, allow_nan=False),
        "return_refused": st.booleans(),
    }
)


def _scores(rows: list[dict]) -> tuple[np.ndarray, np.ndarray]:
    frame = pd.DataFrame(rows)
    return MODEL.expected_score(frame).to_numpy(), MODEL.p_dissatisfied(frame).to_numpy()


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(experience_rows, min_size=1, max_size=20))
def test_probabilities_are_a_distribution(rows: list[dict]) -> None:
    probabilities = MODEL.score_probabilities(pd.DataFrame(rows))
    assert list(probabilities.columns) == list(PROBABILITY_COLUMNS)
    values = probabilities.to_numpy()
    assert ((values >= 0) & (values <= 1)).all()
    np.testing.assert_allclose(values.sum(axis=1), 1.0, atol=1e-12)


@settings(max_examples=150, deadline=None)
@given(
    row=experience_rows,
    field=st.sampled_from(
        ["lateness_days", "lead_time_days", "failed_attempts", "cc_ready_late_h", "desk_wait_min"]
    ),
    extra=st.floats(0.0, 60.0, allow_nan=False),
)
def test_more_of_a_bad_experience_never_scores_better(row: dict, field: str, extra: float) -> None:
    worse = {**row, field: row[field] + (math.ceil(extra) if field == "failed_attempts" else extra)}
    (score, score_worse), (dissatisfied, dissatisfied_worse) = _scores([row, worse])
    assert score_worse <= score + 1e-12
    assert dissatisfied_worse >= dissatisfied - 1e-12


@settings(max_examples=60, deadline=None)
@given(row=experience_rows, flag=st.sampled_from(["oversold", "split", "return_refused"]))
def test_a_bad_event_never_scores_better(row: dict, flag: str) -> None:
    (without, with_event), _ = _scores([{**row, flag: False}, {**row, flag: True}])
    assert with_event <= without + 1e-12


def test_later_delivery_scores_strictly_worse_where_the_data_says_so() -> None:
    rows = [{"lateness_days": x, "lead_time_days": 5.0, "cancelled": False} for x in (-10, 0, 3, 8)]
    scores, dissatisfied = _scores(rows)
    assert (np.diff(scores) < 0).all()
    assert (np.diff(dissatisfied) > 0).all()


def test_optional_columns_default_to_neutral() -> None:
    bare = pd.DataFrame({"lateness_days": [1.2], "lead_time_days": [4.0], "cancelled": [False]})
    explicit = bare.assign(**{name: [value] for name, value in OPTIONAL_COLUMNS.items()})
    missing_cells = bare.assign(**{name: [None] for name in OPTIONAL_COLUMNS})
    assert set(EXPERIENCE_COLUMNS) == set(explicit.columns)
    expected = MODEL.expected_score(bare).iloc[0]
    assert MODEL.expected_score(explicit).iloc[0] == expected
    assert MODEL.expected_score(missing_cells).iloc[0] == expected


def test_cancelled_order_ignores_delivery_columns_and_scores_low() -> None:
    cancelled = pd.DataFrame(
        {"lateness_days": [np.nan, 9.0], "lead_time_days": [np.nan, 2.0], "cancelled": [True, True]}
    )
    scores = MODEL.expected_score(cancelled)
    assert scores.iloc[0] == scores.iloc[1]
    assert scores.iloc[0] < 2.0


def test_missing_or_bad_columns_are_named() -> None:
    with pytest.raises(ValueError, match="lead_time_days"):
        MODEL.expected_score(pd.DataFrame({"lateness_days": [0.0], "cancelled": [False]}))
    base = {"lateness_days": [0.0], "lead_time_days": [1.0], "cancelled": [False]}
    with pytest.raises(ValueError, match="split must be boolean"):
        MODEL.expected_score(pd.DataFrame({**base, "split": ["calibration"]}))
    with pytest.raises(ValueError, match="lateness_days must be numeric"):
        MODEL.expected_score(pd.DataFrame({**base, "lateness_days": ["two days"]}))
    with pytest.raises(ValueError, match="failed_attempts has negative"):
        MODEL.expected_score(pd.DataFrame({**base, "failed_attempts": [-1]}))


def _orders() -> pd.DataFrame:
    nan = np.nan
    return pd.DataFrame(
        {
            "order_id": [1, 2, 3, 4, 5],
            # on time, late, cancelled, lost sale (never confirmed), failed then undelivered
            "lateness_days": [-1.0, 4.0, nan, nan, nan],
            "lead_time_days": [1.0, 6.0, nan, nan, nan],
            "cancelled": [False, False, True, False, False],
            "failed_attempts": [0, 1, 0, 0, 2],
        }
    )


def test_score_orders_scores_experiences_and_skips_lost_sales() -> None:
    scored = score_orders(_orders(), MODEL, p_churn_given_dissatisfied=0.5, clv_eur=100.0)
    assert scored["order_id"].tolist() == [1, 2, 3, 4, 5]
    assert scored["csat_expected"].isna().tolist() == [False, False, False, True, False]
    assert scored["csat_expected"].iloc[0] > scored["csat_expected"].iloc[1]
    np.testing.assert_allclose(scored["p_churn"], 0.5 * scored["p_dissatisfied"])
    np.testing.assert_allclose(scored["revenue_at_risk_eur"], 100.0 * scored["p_churn"])
    # A failed, never-delivered order is a cancellation plus its failed attempts.
    cancelled_only = scored["csat_expected"].iloc[2]
    assert scored["csat_expected"].iloc[4] < cancelled_only


def test_kpis_are_expected_values_over_scored_orders() -> None:
    scored = score_orders(_orders(), MODEL, p_churn_given_dissatisfied=0.32, clv_eur=250.0)
    kpis = csat_kpis(scored, clv_eur=250.0)
    rows = scored.dropna(subset=["csat_expected"])
    assert kpis["n_scored"] == 4
    assert kpis["csat_pct"] == pytest.approx(100 * (rows["csat_p4"] + rows["csat_p5"]).mean())
    assert kpis["mean_score"] == pytest.approx(rows["csat_expected"].mean())
    assert kpis["dissatisfied_pct"] == pytest.approx(100 * rows["p_dissatisfied"].mean())
    detractors = rows[["csat_p1", "csat_p2", "csat_p3"]].sum(axis=1)
    assert kpis["nps_like"] == pytest.approx(100 * (rows["csat_p5"] - detractors).mean())
    assert kpis["churned_customers"] == pytest.approx(0.32 * rows["p_dissatisfied"].sum())
    assert kpis["revenue_at_risk_eur"] == pytest.approx(250.0 * kpis["churned_customers"])


def test_kpis_of_no_scored_orders() -> None:
    scored = score_orders(_orders().iloc[[3]], MODEL, 0.32, 250.0)
    kpis = csat_kpis(scored, clv_eur=250.0)
    assert kpis["n_scored"] == 0 and kpis["churned_customers"] == 0.0
    assert math.isnan(kpis["csat_pct"])


def test_score_orders_rejects_a_bad_churn_probability() -> None:
    with pytest.raises(ValueError, match="p_churn_given_dissatisfied"):
        score_orders(_orders(), MODEL, p_churn_given_dissatisfied=1.5, clv_eur=1.0)


def test_parameter_file_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "params.json"
    path.write_text(MODEL.to_json(), encoding="utf-8")
    assert CsatModel.from_file(path) == MODEL


def test_overrides_replace_values_and_are_validated() -> None:
    harsher = MODEL.with_overrides(
        {"failed_attempt_logit": -1.5, "p_churn_given_dissatisfied": 0.8}
    )
    assert harsher.params.failed_attempt_logit.value == -1.5
    assert harsher.params.failed_attempt_logit.note == MODEL.params.failed_attempt_logit.note
    assert harsher.params.p_churn_given_dissatisfied.value == 0.8
    failed = pd.DataFrame(
        {
            "lateness_days": [2.0],
            "lead_time_days": [3.0],
            "cancelled": [False],
            "failed_attempts": [1],
        }
    )
    assert harsher.expected_score(failed).iloc[0] < MODEL.expected_score(failed).iloc[0]
    with pytest.raises(CsatParamsError, match="unknown CSAT parameter override 'failed_attempts'"):
        MODEL.with_overrides({"failed_attempts": -1.0})
    with pytest.raises(CsatParamsError, match=r"split_logit\.value = 0\.5 is outside"):
        MODEL.with_overrides({"split_logit": 0.5})


def _mutated(mutate) -> str:
    data = json.loads(SHIPPED_FILE.read_text(encoding="utf-8"))
    mutate(data)
    return json.dumps(data)


BAD_FILES = {
    "missing field": (
        _mutated(lambda d: d.pop("cancelled_logit")),
        r"cancelled_logit: missing; add it",
    ),
    "unknown field": (
        _mutated(lambda d: d.update(desk_wait_logit=-1.0)),
        r"desk_wait_logit: unknown field",
    ),
    "positive effect": (
        _mutated(lambda d: d["failed_attempt_logit"].update(value=0.4)),
        r"failed_attempt_logit\.value = 0\.4 is outside \[-inf, 0\.0\]",
    ),
    "probability above 1": (
        _mutated(lambda d: d["p_churn_given_dissatisfied"].update(value=82)),
        r"p_churn_given_dissatisfied\.value = 82\.0 is outside \[0\.0, 1\.0\]",
    ),
    "rising lateness curve": (
        _mutated(lambda d: d["lateness"]["effect_logit"].__setitem__(-1, 3.0)),
        r"lateness: effect_logit must be non-increasing",
    ),
    "curve lengths differ": (
        _mutated(lambda d: d["lead_time"]["knots_days"].pop()),
        r"lead_time: knots_days has 7 entries but effect_logit has 8",
    ),
    "thresholds out of order": (
        _mutated(lambda d: d.update(thresholds_logit=[0.0, -1.0, 1.0, 2.0])),
        r"thresholds_logit: the four thresholds must be strictly increasing",
    ),
    "text for a number": (
        _mutated(lambda d: d["split_logit"].update(value="small")),
        r"split_logit\.value: Input should be a valid number",
    ),
    "not json": ('{\n  "schema_version": 1,\n', r"not valid JSON \(line 3"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_parameter_files_are_rejected_clearly(tmp_path: Path, case: str) -> None:
    text, message = BAD_FILES[case]
    path = tmp_path / "params.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(CsatParamsError, match=message) as error:
        CsatModel.from_file(path)
    assert str(path) in str(error.value)


def test_missing_parameter_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(CsatParamsError, match=r"nope\.json not found"):
        CsatModel.from_file(tmp_path / "nope.json")


# ---- calibration on the real Olist data ------------------------------------------------


@pytest.fixture(scope="module")
def olist_calibration(olist_dir: Path):
    return calibrate(olist_dir)


def _numbers(value) -> list[float]:
    """Every number of a parameter tree, in a fixed order."""
    if isinstance(value, dict):
        return [x for key in sorted(value) for x in _numbers(value[key])]
    if isinstance(value, list | tuple):
        return [x for item in value for x in _numbers(item)]
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [float(value)]
    return []


def test_calibration_reproduces_the_shipped_parameters(olist_calibration) -> None:
    refitted = olist_calibration.params.model_dump(mode="json")
    shipped = MODEL.params.model_dump(mode="json")
    # Texts (notes, units, data hash) must match exactly; numbers to fit tolerance.
    strip = lambda tree: json.loads(json.dumps(tree), parse_float=lambda _: 0.0)  # noqa: E731
    assert strip(refitted) == strip(shipped)
    np.testing.assert_allclose(_numbers(refitted), _numbers(shipped), rtol=0, atol=1e-4)


def test_shipped_model_meets_the_bucket_goal_on_calibration_data(olist_dir: Path) -> None:
    experience = olist_experience(load_olist(olist_dir))
    table = diagnostics(MODEL, experience[experience["olist_split"] == "calibration"])
    buckets = table[table["bucket"].isin(BUCKET_LABELS)]
    assert (buckets["n"] >= GOAL_MIN_ORDERS).all()
    assert (buckets["diff_mean"].abs() <= GOAL_MAX_ABS_DIFF_STARS).all(), table.to_string()


def test_validation_split_is_diagnosed_apart(olist_calibration) -> None:
    n_fit = olist_calibration.calibration.set_index("bucket").loc["all", "n"]
    n_held_out = olist_calibration.validation.set_index("bucket").loc["all", "n"]
    assert n_fit == olist_calibration.params.calibration.n_orders
    assert 0.2 < n_held_out / (n_fit + n_held_out) < 0.3


# ---- fitting recovers known parameters; CLI -----------------------------------------------


def _synthetic_olist(directory: Path, n: int, seed: int = 7) -> Path:
    """An Olist-shaped table whose scores are drawn from the shipped model."""
    rng = np.random.default_rng(seed)
    k = rng.integers(-25, 20, n).astype(float)
    lead = rng.uniform(0.5, 50.0, n)
    cancelled = rng.random(n) < 0.05
    k[cancelled] = np.nan
    lead[cancelled] = np.nan
    experience = pd.DataFrame(
        {"lateness_days": k - 0.5, "lead_time_days": lead, "cancelled": cancelled}
    )
    cumulative = MODEL.score_probabilities(experience).cumsum(axis=1).to_numpy()
    scores = 1 + (rng.random(n)[:, None] > cumulative).sum(axis=1)
    table = pd.DataFrame(
        {
            "row": np.arange(n),
            "status": np.where(cancelled, "canceled", "delivered"),
            "delivered": np.where(cancelled, "false", "true"),
            "lateness_days": pd.array(k).astype("Int64"),
            "lead_time_days": lead.round(6),
            "review_score": scores,
            "split": np.where(np.arange(n) % 5 == 0, "validation", "calibration"),
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    table.to_csv(directory / OLIST_FILE, index=False)
    return directory


def test_fit_recovers_the_model_it_was_simulated_from(tmp_path: Path) -> None:
    refit = CsatModel(calibrate(_synthetic_olist(tmp_path, 20_000)).params)
    # Compare predictions, not raw parameters: thresholds and the lead-time level trade off
    # against each other (few orders arrive within 3 days), predictions do not.
    grid = pd.DataFrame(
        [(x, lead, False) for x in (-15, -5, -1, 0.5, 2, 5, 10) for lead in (5, 10, 20, 40)]
        + [(np.nan, np.nan, True)],
        columns=["lateness_days", "lead_time_days", "cancelled"],
    )
    error = (refit.expected_score(grid) - MODEL.expected_score(grid)).abs()
    assert error.max() < 0.15, error.max()
    assert error.mean() < 0.05, error.mean()


def test_cli_calibrate_prints_diagnostics_and_writes_a_loadable_file(tmp_path: Path) -> None:
    data = _synthetic_olist(tmp_path / "olist", 5_000)
    out = tmp_path / "fitted.json"
    result = CliRunner().invoke(csat_app, ["calibrate", "--data", str(data), "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "Calibration split" in result.stdout and "Validation split" in result.stdout
    assert "7..14" in result.stdout
    assert CsatModel.from_file(out).params.calibration.n_orders == 4_000


def _bad_gzip(directory: Path) -> Path:
    directory.mkdir()
    (directory / OLIST_FILE).write_bytes(b"not gzip at all")
    return directory


def _missing_column(directory: Path) -> Path:
    directory.mkdir()
    with gzip.open(directory / OLIST_FILE, "wt") as handle:
        handle.write("row,status\n0,delivered\n")
    return directory


def _text_lateness(directory: Path) -> Path:
    directory.mkdir()
    with gzip.open(directory / OLIST_FILE, "wt") as handle:
        handle.write(
            "row,status,delivered,lateness_days,lead_time_days,review_score,split\n"
            "0,delivered,true,-3,5.5,5,validation\n"
            "1,delivered,true,late,5.5,1,calibration\n"
        )
    return directory


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda d: d, "not found"),
        (_bad_gzip, "not a readable gzip CSV"),
        (_missing_column, "lacks the column(s) delivered, lateness_days"),
        (_text_lateness, "line 3: column lateness_days holds 'late'"),
    ],
)
def test_cli_rejects_bad_data_with_one_message(tmp_path: Path, make, message: str) -> None:
    data = make(tmp_path / "olist")
    result = CliRunner().invoke(
        csat_app, ["calibrate", "--data", str(data), "--out", str(tmp_path / "p.json")]
    )
    assert result.exit_code == 2
    assert message in result.stderr
    assert "Traceback" not in result.output
    assert not (tmp_path / "p.json").exists()
