"""Customer satisfaction: each order's experience → a 1–5 score, dissatisfaction, churn.

The model is an ordered logit (proportional odds). An order's experience gives a latent
satisfaction ``eta`` on the logit scale (0 = delivered on time, instantly, with nothing else
going wrong; every bad experience lowers it) and

    P(score ≤ j) = logistic(threshold_j − eta),   j = 1..4.

Terms of ``eta``, one per experience column (``EXPERIENCE_COLUMNS``):

- ``lateness_days``: delivered − promised *deadline*, in days (negative = early). A
  piecewise-linear curve through knots, non-increasing, flat before the first knot (early
  delivery helps but saturates) and after the last (very late is as bad as it gets). It is 0
  from the last early knot up to the deadline, so any delivery before the deadline counts as
  on time. For click & collect, "delivered" means ready for collection and the promise is the
  promised ready time; the customer's own choice of when to come is not lateness.
- ``lead_time_days``: delivered − ordered, a non-increasing piecewise-linear curve, flat
  beyond its knots.
- ``cancelled``: cancelled after confirmation. A cancelled order has no delivery, so its
  lateness, lead time and oversold terms do not apply; ``cancelled_logit`` is the whole
  experience of a cancellation (calibrated on Olist ``canceled`` and ``unavailable`` orders,
  which include "confirmed but out of stock"). An order that was never delivered after failed
  attempts (lateness NaN, ``failed_attempts`` > 0) is a cancellation from the customer's side
  and is scored as one.
- ``oversold`` (confirmed for stock that was not there, then re-allocated and delivered),
  ``failed_attempts`` (per attempt), ``split`` (several parcels), ``cc_ready_late_h`` (click &
  collect ready late: a per-hour penalty up to a cap, on top of the lateness curve, because a
  click & collect promise is in hours and a late one wastes a trip), ``desk_wait_min``
  (collection desk wait beyond a free allowance, per minute, up to a cap) and
  ``return_refused`` (return refused in store, mailed instead). The data cannot identify these:
  their values are documented assumptions in the parameter file, overridable per scenario.

Which orders are scored: those whose experience is known: delivered, collected or returned
orders (lateness and lead time known) and orders cancelled after confirmation (including
failed ones, above). Orders never confirmed (lost sales) and orders still open have no
experience to score; their rows get NaN and they do not enter the KPIs.

Parameters live in ``sim/data/csat_params.json``, written by ``omnifulfil csat calibrate``
(``sim.csat_calibration``); every parameter carries its unit, whether it was fitted or
assumed, and a note with its source.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from itertools import pairwise
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator
from scipy.special import expit

SCORES = (1, 2, 3, 4, 5)
PROBABILITY_COLUMNS = tuple(f"p{s}" for s in SCORES)
REQUIRED_COLUMNS = ("lateness_days", "lead_time_days", "cancelled")
# Optional experience columns and the neutral value a missing column or cell takes.
OPTIONAL_COLUMNS: dict[str, float | bool] = {
    "oversold": False,
    "failed_attempts": 0,
    "split": False,
    "cc_ready_late_h": 0.0,
    "desk_wait_min": 0.0,
    "return_refused": False,
}
EXPERIENCE_COLUMNS = (*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS)
DEFAULT_PARAMS_FILE = "csat_params.json"
REGENERATE_HINT = "or regenerate the file with `omnifulfil csat calibrate --data DIR --out FILE`"


class CsatParamsError(ValueError):
    """A CSAT parameter file or override is unusable; the message names the field and the fix."""


class ScalarParam(BaseModel):
    """One number with its unit and provenance."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    value: float = Field(allow_inf_nan=False)
    unit: str
    basis: Literal["fitted", "assumption", "scenario default"]
    note: str = Field(min_length=1)


class CurveParam(BaseModel):
    """A non-increasing piecewise-linear effect (logit) of a quantity in days, flat outside."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    knots_days: tuple[float, ...] = Field(min_length=2)
    effect_logit: tuple[float, ...] = Field(min_length=2)
    basis: Literal["fitted", "assumption"]
    note: str = Field(min_length=1)

    @field_validator("knots_days", "effect_logit")
    @classmethod
    def _finite(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if not all(math.isfinite(v) for v in values):
            raise ValueError("every entry must be a finite number")
        return values

    @model_validator(mode="after")
    def _shape(self) -> CurveParam:
        if len(self.knots_days) != len(self.effect_logit):
            raise ValueError(
                f"knots_days has {len(self.knots_days)} entries but effect_logit has "
                f"{len(self.effect_logit)}; give one effect per knot"
            )
        if any(b <= a for a, b in pairwise(self.knots_days)):
            raise ValueError("knots_days must be strictly increasing; sort them, drop duplicates")
        if any(b > a for a, b in pairwise(self.effect_logit)):
            raise ValueError(
                "effect_logit must be non-increasing (more days never scores better); "
                "fix the entry that rises"
            )
        return self

    def evaluate(self, days: np.ndarray) -> np.ndarray:
        """The effect at ``days`` (NaN stays NaN), constant beyond the end knots."""
        return np.interp(days, self.knots_days, self.effect_logit)


class CalibrationInfo(BaseModel):
    """Where the fitted parameters came from, so a reader can reproduce them."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    command: str
    data_file: str
    data_sha256: str = Field(pattern=r"^[0-9a-f]{64}$")
    split: str
    n_orders: int = Field(ge=0)
    n_cancelled: int = Field(ge=0)
    log_likelihood: float
    olist_lateness_shift_days: float = Field(allow_inf_nan=False)
    note: str


# Allowed range of each scalar parameter's value, with the reason a user reads when it fails.
_SCALAR_BOUNDS: dict[str, tuple[float, float, str]] = {
    "cancelled_logit": (-math.inf, 0.0, "a cancellation cannot raise satisfaction"),
    "oversold_logit": (-math.inf, 0.0, "an experience can only lower satisfaction"),
    "failed_attempt_logit": (-math.inf, 0.0, "an experience can only lower satisfaction"),
    "split_logit": (-math.inf, 0.0, "an experience can only lower satisfaction"),
    "cc_ready_late_logit_per_h": (-math.inf, 0.0, "an experience can only lower satisfaction"),
    "cc_ready_late_cap_h": (0.0, math.inf, "a cap is a non-negative number of hours"),
    "desk_wait_free_min": (0.0, math.inf, "a free allowance is a non-negative number of minutes"),
    "desk_wait_logit_per_min": (-math.inf, 0.0, "an experience can only lower satisfaction"),
    "desk_wait_cap_min": (0.0, math.inf, "a cap is a non-negative number of minutes"),
    "return_refused_logit": (-math.inf, 0.0, "an experience can only lower satisfaction"),
    "p_churn_given_dissatisfied": (0.0, 1.0, "it is a probability"),
    "clv_eur": (0.0, math.inf, "a customer lifetime value is not negative"),
}


class CsatParams(BaseModel):
    """All parameters of the CSAT model, as stored in the parameter file."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    schema_version: Literal[1]
    calibration: CalibrationInfo
    thresholds_logit: tuple[float, float, float, float]
    lateness: CurveParam
    lead_time: CurveParam
    cancelled_logit: ScalarParam
    oversold_logit: ScalarParam
    failed_attempt_logit: ScalarParam
    split_logit: ScalarParam
    cc_ready_late_logit_per_h: ScalarParam
    cc_ready_late_cap_h: ScalarParam
    desk_wait_free_min: ScalarParam
    desk_wait_logit_per_min: ScalarParam
    desk_wait_cap_min: ScalarParam
    return_refused_logit: ScalarParam
    p_churn_given_dissatisfied: ScalarParam
    clv_eur: ScalarParam

    @field_validator("thresholds_logit")
    @classmethod
    def _increasing(cls, values: tuple[float, ...]) -> tuple[float, ...]:
        if not all(math.isfinite(v) for v in values):
            raise ValueError("every threshold must be a finite number")
        if any(b <= a for a, b in pairwise(values)):
            raise ValueError("the four thresholds must be strictly increasing")
        return values

    @model_validator(mode="after")
    def _bounds(self) -> CsatParams:
        for name, (low, high, why) in _SCALAR_BOUNDS.items():
            value = getattr(self, name).value
            if not low <= value <= high:
                raise ValueError(
                    f"{name}.value = {value} is outside [{low}, {high}] ({why}); "
                    "set a value in that range"
                )
        return self


def _params_error(error: ValidationError, source: str) -> CsatParamsError:
    """One readable message: each failing field by its dotted path, what is wrong, the fix."""
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "missing":
            message = "missing; add it"
        elif item["type"] == "extra_forbidden":
            message = "unknown field; remove it or fix its spelling"
        # Whole-file checks have no location; their message names the field itself.
        lines.append(f"  {field}: {message}" if field else f"  {message}")
    return CsatParamsError(
        f"invalid CSAT parameters in {source}:\n"
        + "\n".join(lines)
        + f"\nFix the field {REGENERATE_HINT}."
    )


def _validate(data: Any, source: str) -> CsatParams:
    try:
        return CsatParams.model_validate(data)
    except ValidationError as error:
        raise _params_error(error, source) from None


def _bool_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    if name not in frame:
        return np.full(len(frame), bool(OPTIONAL_COLUMNS[name]))
    # A missing flag means the event did not happen (the neutral default).
    values = frame[name].astype(object).where(frame[name].notna(), False)
    if not values.isin([True, False]).all():
        raise ValueError(f"CSAT scoring: column {name} must be boolean (True/False)")
    return values.astype(bool).to_numpy()


def _numbers(frame: pd.DataFrame, name: str) -> np.ndarray:
    try:
        return pd.to_numeric(frame[name], errors="raise").astype(float).to_numpy()
    except (TypeError, ValueError):
        raise ValueError(f"CSAT scoring: column {name} must be numeric") from None


def _float_column(frame: pd.DataFrame, name: str) -> np.ndarray:
    neutral = float(OPTIONAL_COLUMNS[name])
    if name not in frame:
        return np.full(len(frame), neutral)
    values = _numbers(frame, name)
    return np.where(np.isnan(values), neutral, values)


@dataclass(frozen=True)
class CsatModel:
    """The ordered-logit satisfaction model with its parameters."""

    params: CsatParams

    @classmethod
    def load_default(cls) -> CsatModel:
        """The parameters shipped with the package (calibrated on Olist, plus assumptions)."""
        text = resources.files("sim").joinpath("data", DEFAULT_PARAMS_FILE).read_text("utf-8")
        return cls._from_text(text, f"the packaged {DEFAULT_PARAMS_FILE}")

    @classmethod
    def from_file(cls, path: Path | str) -> CsatModel:
        """Parameters from a JSON file; an unusable file raises ``CsatParamsError``."""
        path = Path(path)
        try:
            text = path.read_text("utf-8")
        except FileNotFoundError:
            raise CsatParamsError(
                f"CSAT parameter file {path} not found; check the path {REGENERATE_HINT}"
            ) from None
        except (OSError, UnicodeDecodeError) as error:
            raise CsatParamsError(f"cannot read CSAT parameter file {path}: {error}") from None
        return cls._from_text(text, str(path))

    @classmethod
    def _from_text(cls, text: str, source: str) -> CsatModel:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as error:
            raise CsatParamsError(
                f"CSAT parameter file {source} is not valid JSON (line {error.lineno}, "
                f"column {error.colno}: {error.msg}); fix the syntax {REGENERATE_HINT}"
            ) from None
        return cls(_validate(data, source))

    def to_json(self) -> str:
        """The parameter file's text (what ``from_file`` reads back)."""
        return json.dumps(self.params.model_dump(mode="json"), indent=2, ensure_ascii=False) + "\n"

    def with_overrides(self, overrides: Mapping[str, Any]) -> CsatModel:
        """A copy with some parameters replaced, e.g. ``{"failed_attempt_logit": -0.8}``.

        A number given for a scalar parameter replaces its value (unit, basis and note stay);
        any other value replaces the whole field. The result is validated like a file.
        """
        data = self.params.model_dump(mode="python")
        for name, value in overrides.items():
            if name not in data or name in {"schema_version", "calibration"}:
                known = ", ".join(n for n in data if n not in {"schema_version", "calibration"})
                raise CsatParamsError(
                    f"unknown CSAT parameter override {name!r}; use one of: {known}"
                )
            is_number = isinstance(value, int | float) and not isinstance(value, bool)
            if isinstance(data[name], dict) and "value" in data[name] and is_number:
                data[name] = {**data[name], "value": float(value)}
            else:
                data[name] = value
        return CsatModel(_validate(data, "scenario overrides"))

    def linear_predictor(self, frame: pd.DataFrame) -> pd.Series:
        """Latent satisfaction ``eta`` (logit) per row; NaN for rows with no experience."""
        missing = [c for c in REQUIRED_COLUMNS if c not in frame]
        if missing:
            raise ValueError(
                f"CSAT scoring needs the columns {', '.join(missing)} "
                f"(required: {', '.join(REQUIRED_COLUMNS)}); add them to the orders frame"
            )
        p = self.params
        lateness_days = _numbers(frame, "lateness_days")
        lead_time_days = _numbers(frame, "lead_time_days")
        failed_attempts = _float_column(frame, "failed_attempts")
        desk_wait_min = _float_column(frame, "desk_wait_min")
        for name, values in (
            ("failed_attempts", failed_attempts),
            ("desk_wait_min", desk_wait_min),
        ):
            if (values < 0).any():
                raise ValueError(
                    f"CSAT scoring: column {name} has negative values; they must be ≥ 0"
                )
        # Ready early earns nothing beyond an on-time order.
        cc_ready_late_h = np.clip(_float_column(frame, "cc_ready_late_h"), 0.0, None)

        undelivered = np.isnan(lateness_days)
        cancelled = _bool_column(frame, "cancelled") | (undelivered & (failed_attempts > 0))
        delivery = (
            p.lateness.evaluate(lateness_days)
            + p.lead_time.evaluate(lead_time_days)
            + p.oversold_logit.value * _bool_column(frame, "oversold")
        )
        eta = np.where(cancelled, p.cancelled_logit.value, delivery)
        excess_wait_min = np.clip(desk_wait_min - p.desk_wait_free_min.value, 0.0, None)
        eta = (
            eta
            + p.failed_attempt_logit.value * failed_attempts
            + p.split_logit.value * _bool_column(frame, "split")
            + p.cc_ready_late_logit_per_h.value
            * np.minimum(cc_ready_late_h, p.cc_ready_late_cap_h.value)
            + p.desk_wait_logit_per_min.value
            * np.minimum(excess_wait_min, p.desk_wait_cap_min.value)
            + p.return_refused_logit.value * _bool_column(frame, "return_refused")
        )
        return pd.Series(eta, index=frame.index, name="csat_eta")

    def score_probabilities(self, frame: pd.DataFrame) -> pd.DataFrame:
        """P(score = 1..5) per row as columns ``p1``..``p5`` (NaN rows: no experience)."""
        eta = self.linear_predictor(frame).to_numpy()
        thresholds = np.asarray(self.params.thresholds_logit)
        cumulative = expit(thresholds[None, :] - eta[:, None])
        n = len(eta)
        bounds = np.column_stack([np.zeros(n), cumulative, np.ones(n)])
        probabilities = np.diff(bounds, axis=1)
        probabilities[np.isnan(eta)] = np.nan
        return pd.DataFrame(probabilities, index=frame.index, columns=list(PROBABILITY_COLUMNS))

    def expected_score(self, frame: pd.DataFrame) -> pd.Series:
        """Expected score (1–5) per row."""
        probabilities = self.score_probabilities(frame).to_numpy()
        return pd.Series(probabilities @ np.asarray(SCORES, float), index=frame.index)

    def p_dissatisfied(self, frame: pd.DataFrame) -> pd.Series:
        """P(score ≤ 2) per row."""
        probabilities = self.score_probabilities(frame)
        return probabilities["p1"] + probabilities["p2"]


def score_orders(
    orders: pd.DataFrame,
    model: CsatModel,
    p_churn_given_dissatisfied: float,
    clv_eur: float,
) -> pd.DataFrame:
    """A copy of ``orders`` with each order's satisfaction, churn probability and value at risk.

    Adds ``csat_p1``..``csat_p5``, ``csat_expected``, ``p_dissatisfied``, ``p_churn`` (=
    P(dissatisfied) × P(churn | dissatisfied): a satisfied customer's churn is not the
    scenario's doing) and ``revenue_at_risk_eur`` (= ``p_churn`` × ``clv_eur``). Orders without
    an experience (module docstring) get NaN.
    """
    if not 0.0 <= p_churn_given_dissatisfied <= 1.0:
        raise ValueError(
            f"p_churn_given_dissatisfied = {p_churn_given_dissatisfied} must be in [0, 1]"
        )
    if clv_eur < 0:
        raise ValueError(f"clv_eur = {clv_eur} must be ≥ 0")
    probabilities = model.score_probabilities(orders)
    scored = orders.copy()
    for column in PROBABILITY_COLUMNS:
        scored[f"csat_{column}"] = probabilities[column]
    scored["csat_expected"] = probabilities.to_numpy() @ np.asarray(SCORES, float)
    scored["p_dissatisfied"] = probabilities["p1"] + probabilities["p2"]
    scored["p_churn"] = scored["p_dissatisfied"] * p_churn_given_dissatisfied
    scored["revenue_at_risk_eur"] = scored["p_churn"] * clv_eur
    return scored


def csat_kpis(scored: pd.DataFrame, clv_eur: float) -> dict[str, float]:
    """Scenario KPIs from ``score_orders`` output, as expected values (no sampling noise).

    - ``n_scored``: orders with an experience.
    - ``csat_pct``: expected share of 4–5 stars, %.
    - ``mean_score``: expected mean score.
    - ``dissatisfied_pct``: expected share of 1–2 stars, %.
    - ``nps_like``: 100 × (P(5) − P(1–3)). Not a Net Promoter Score (that asks "how likely to
      recommend, 0–10"); it maps 5 stars to promoters, 4 to passives and 1–3 to detractors, the
      usual reading of a 5-point scale. Compare it between scenarios, not with published NPS.
    - ``churned_customers``: expected churned customers, the sum of ``p_churn``, counting each
      order's customer once (an upper bound when customers order more than once).
    - ``revenue_at_risk_eur``: churned customers × ``clv_eur``.
    """
    rows = scored[scored["csat_expected"].notna()]
    churned = float(rows["p_churn"].sum())
    if rows.empty:
        nan = float("nan")
        return {
            "n_scored": 0.0,
            "csat_pct": nan,
            "mean_score": nan,
            "dissatisfied_pct": nan,
            "nps_like": nan,
            "churned_customers": 0.0,
            "revenue_at_risk_eur": 0.0,
        }
    detractors = rows["csat_p1"] + rows["csat_p2"] + rows["csat_p3"]
    return {
        "n_scored": float(len(rows)),
        "csat_pct": 100.0 * float((rows["csat_p4"] + rows["csat_p5"]).mean()),
        "mean_score": float(rows["csat_expected"].mean()),
        "dissatisfied_pct": 100.0 * float(rows["p_dissatisfied"].mean()),
        "nps_like": 100.0 * float((rows["csat_p5"] - detractors).mean()),
        "churned_customers": churned,
        "revenue_at_risk_eur": churned * clv_eur,
    }
