"""Calibrate the CSAT model (``sim.csat``) on real Olist orders with review scores.

What is fitted, by maximum likelihood on the ``calibration`` split (``row % 5 != 0``):
the four ordered-logit thresholds, the lateness curve, the lead-time curve and the
cancellation effect. Monotonicity is a constraint of the fit, not a hope: each curve is a sum
of ramps (one per segment between knots) whose weights are bounded ≥ 0 in L-BFGS-B, so the
fitted curves are non-increasing by construction, flat outside their knots. The negative
log-likelihood is convex in these parameters, so the optimum is unique and the fit is
deterministic. Everything else (oversold, failed attempts, split shipments, click & collect
readiness, desk waits, refused returns, churn, lifetime value) is a documented assumption in
``ASSUMPTIONS``: Olist cannot identify it.

Data choices (see ``../shared/data/olist/README.md``):
- Delivered orders with a delivery date and a review, and ``canceled``/``unavailable`` orders
  with a review (the cancellation effect). Orders ``shipped``, ``invoiced``, ``processing``,
  ``created``, ``approved`` are left out: their outcome is unknown.
- Reviews written before delivery stay in: nearly all are late orders, and a customer who
  complains about a parcel that has not come is reporting exactly the lateness experience.
- Olist lateness is ``floor(delivered − estimated date at 00:00)`` in whole days, so an order
  with lateness ``k`` arrived during the k-th day after the estimated day, i.e. between
  ``k − 1`` and ``k`` days after the end-of-day deadline the customer reads. The model's
  lateness is continuous and measured against the deadline, so an Olist order enters at the
  middle of its day, ``k − 0.5`` (``OLIST_LATENESS_SHIFT_DAYS``). Knots sit at those
  midpoints, so the fitted curve passes through each day's point and interpolates linearly in
  between for the simulation's continuous lateness. Between the last early knot (−0.5) and
  the deadline (0) the curve is flat at 0: before the deadline is on time.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import expit

from sim.csat import (
    SCORES,
    CalibrationInfo,
    CsatModel,
    CsatParams,
    CurveParam,
    ScalarParam,
)

OLIST_FILE = "orders_reviews.csv.gz"
OLIST_COLUMNS = (
    "status",
    "delivered",
    "lateness_days",
    "lead_time_days",
    "review_score",
    "split",
)
CANCELLED_STATUSES = ("canceled", "unavailable")
SPLITS = ("calibration", "validation")
OLIST_LATENESS_SHIFT_DAYS = -0.5
# Lateness knots (days against the deadline): early side, then from the deadline on. Dense
# where the data's mean score falls fastest (1–6 days late), sparse where it is flat.
LATENESS_EARLY_KNOTS_DAYS = (-20.5, -10.5, -5.5, -2.5, -0.5)
LATENESS_LATE_KNOTS_DAYS = (0.0, 0.5, 1.5, 2.5, 4.5, 6.5, 9.5, 14.5)
LEAD_TIME_KNOTS_DAYS = (0.0, 3.0, 7.0, 14.0, 21.0, 30.0, 45.0, 60.0)
# Lateness buckets of the diagnostics, on Olist's whole days, right-closed: (−10, −5] etc.
BUCKET_EDGES_DAYS = (-10, -5, -2, 0, 1, 3, 7, 14)
BUCKET_LABELS = ("≤ −10", "−10..−5", "−5..−2", "−2..0", "0..1", "1..3", "3..7", "7..14", "> 14")
GOAL_MIN_ORDERS = 200
GOAL_MAX_ABS_DIFF_STARS = 0.10
THRESHOLD_MIN_GAP = 1e-6
DECIMALS = 6

_COMMAND = "omnifulfil csat calibrate --data <dir holding orders_reviews.csv.gz> --out FILE"
_SOURCE = 'Olist, "Brazilian E-Commerce Public Dataset by Olist" (CC BY-NC-SA 4.0)'

# Parameters the data cannot identify: documented defaults, each a scenario parameter.
ASSUMPTIONS: dict[str, ScalarParam] = {
    "oversold_logit": ScalarParam(
        value=-0.3,
        unit="logit",
        basis="assumption",
        note=(
            "Assumption, not fitted (Olist has no oversell flag): an order confirmed for stock "
            "that was not there, re-allocated and still delivered. The lateness curve prices "
            "the delay; this is the cost of the broken confirmation, set a little below the "
            "fitted step from on time to 1 day late (about -0.4)."
        ),
    ),
    "failed_attempt_logit": ScalarParam(
        value=-0.4,
        unit="logit per failed delivery attempt",
        basis="assumption",
        note=(
            "Assumption, not fitted (Olist records no attempts): each failed attempt costs the "
            "customer a re-delivery wait or a depot trip beyond the delay, which the lateness "
            "curve already prices; sized like the fitted step from on time to 1 day late."
        ),
    ),
    "split_logit": ScalarParam(
        value=-0.15,
        unit="logit",
        basis="assumption",
        note=(
            "Assumption, not fitted (the Olist extract has no multi-seller flag): several "
            "parcels to receive for one order; a mild nuisance."
        ),
    ),
    "cc_ready_late_logit_per_h": ScalarParam(
        value=-0.1,
        unit="logit per hour ready late",
        basis="assumption",
        note=(
            "Assumption, not fitted (Olist is home delivery only): click & collect promises are "
            "in hours and an order not ready when promised wastes a trip; added to the lateness "
            "curve, up to cc_ready_late_cap_h."
        ),
    ),
    "cc_ready_late_cap_h": ScalarParam(
        value=8.0,
        unit="h",
        basis="assumption",
        note=(
            "Assumption: beyond 8 h late the click & collect penalty stops growing (-0.8 in "
            "all, about the fitted step from on time to 2 days late)."
        ),
    ),
    "desk_wait_free_min": ScalarParam(
        value=5.0,
        unit="min",
        basis="assumption",
        note="Assumption: a collection desk wait up to 5 minutes goes unremarked.",
    ),
    "desk_wait_logit_per_min": ScalarParam(
        value=-0.04,
        unit="logit per minute beyond desk_wait_free_min",
        basis="assumption",
        note=(
            "Assumption, not fitted (Olist has no stores): each minute of desk wait beyond the "
            "free allowance; 10 extra minutes ≈ the fitted step from on time to 1 day late."
        ),
    ),
    "desk_wait_cap_min": ScalarParam(
        value=30.0,
        unit="min beyond desk_wait_free_min",
        basis="assumption",
        note="Assumption: the desk wait penalty stops growing after 30 extra minutes (-1.2).",
    ),
    "return_refused_logit": ScalarParam(
        value=-1.0,
        unit="logit",
        basis="assumption",
        note=(
            "Assumption, not fitted (Olist has no returns): a store refuses an online return "
            "and the customer must mail it. 63% of US shoppers find returns hard (DESIGN.md); "
            "set between the fitted steps from on time to 2 and to 3 days late."
        ),
    ),
    "p_churn_given_dissatisfied": ScalarParam(
        value=0.32,
        unit="probability",
        basis="scenario default",
        note=(
            "P(customer leaves | score 1-2). PwC (2020): 32% leave a brand they love after one "
            "bad experience; Ovum: 82% stop buying after one; surveys span 14%-82% depending "
            "on the question. The conservative end is the default; sweep it in a scenario."
        ),
    ),
    "clv_eur": ScalarParam(
        value=200.0,
        unit="EUR per customer",
        basis="scenario default",
        note=(
            "Placeholder customer lifetime value (future revenue lost with a churned "
            "customer); not from data. Set it from the retailer's own figures."
        ),
    ),
}


class CalibrationDataError(ValueError):
    """The Olist data folder or file is missing or malformed; the message says which."""


@dataclass(frozen=True)
class CalibrationResult:
    """Fitted parameters and observed-vs-predicted tables for both splits."""

    params: CsatParams
    calibration: pd.DataFrame
    validation: pd.DataFrame
    iterations: int


def load_olist(data_dir: Path) -> pd.DataFrame:
    """The Olist orders table, checked; ``CalibrationDataError`` names what is wrong."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise CalibrationDataError(
            f"data directory {data_dir} not found; pass --data the folder holding {OLIST_FILE}"
        )
    path = data_dir / OLIST_FILE
    if not path.is_file():
        raise CalibrationDataError(
            f"{path} not found; --data must be the Olist folder holding {OLIST_FILE}"
        )
    try:
        raw = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, EOFError, UnicodeDecodeError, pd.errors.ParserError) as error:
        raise CalibrationDataError(f"{path} is not a readable gzip CSV: {error}") from None
    missing = [c for c in OLIST_COLUMNS if c not in raw.columns]
    if missing:
        raise CalibrationDataError(
            f"{path} lacks the column(s) {', '.join(missing)}; expected the Olist table "
            f"described in its README (columns {', '.join(OLIST_COLUMNS)})"
        )
    orders = pd.DataFrame({"status": raw["status"].str.strip(), "split": raw["split"]})
    for column in ("lateness_days", "lead_time_days", "review_score"):
        text = raw[column].str.strip()
        values = pd.to_numeric(text, errors="coerce")
        bad = (values.isna() & (text != "")).to_numpy()
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise CalibrationDataError(
                f"{path}, line {first + 2}: column {column} holds {raw[column].iloc[first]!r}, "
                "not a number; it must be a number or empty"
            )
        orders[column] = values.astype(float)
    delivered = raw["delivered"].str.strip().str.lower()
    if not delivered.isin(["true", "false"]).all():
        raise CalibrationDataError(f"{path}: column delivered must be true or false on every row")
    orders["delivered"] = delivered == "true"
    if not orders["split"].isin(SPLITS).all():
        raise CalibrationDataError(f"{path}: column split must be one of {', '.join(SPLITS)}")
    scores = orders["review_score"].dropna()
    if not scores.isin(SCORES).all():
        raise CalibrationDataError(f"{path}: column review_score must be empty or 1-5")
    return orders


def olist_experience(orders: pd.DataFrame) -> pd.DataFrame:
    """Reviewed Olist orders usable for calibration, as model experience columns.

    Keeps ``review_score``, ``olist_split`` (not ``split``: that is an experience column)
    and Olist's own whole-day ``olist_lateness_days`` (for the diagnostics buckets) beside
    ``lateness_days`` (against the deadline, see the module docstring), ``lead_time_days``
    and ``cancelled``.
    """
    reviewed = orders["review_score"].notna()
    delivered = (
        orders["delivered"] & orders["lateness_days"].notna() & orders["lead_time_days"].notna()
    )
    cancelled = orders["status"].isin(CANCELLED_STATUSES)
    usable = orders[reviewed & (delivered | cancelled)]
    return pd.DataFrame(
        {
            "olist_lateness_days": usable["lateness_days"],
            "lateness_days": usable["lateness_days"] + OLIST_LATENESS_SHIFT_DAYS,
            "lead_time_days": usable["lead_time_days"],
            "cancelled": usable["status"].isin(CANCELLED_STATUSES),
            "review_score": usable["review_score"].astype(int),
            "olist_split": usable["split"],
        }
    )


def _ramps(days: np.ndarray, early_knots: tuple[float, ...], late_knots: tuple[float, ...]):
    """Ramp basis of a non-increasing curve that is 0 between ``early_knots[-1]`` and
    ``late_knots[0]``: +1 ramps leftwards over early segments, −1 ramps over late ones, so
    non-negative weights give a non-increasing curve, flat outside the knots."""
    columns = [np.clip((b - days) / (b - a), 0.0, 1.0) for a, b in pairwise(early_knots)]
    columns += [-np.clip((days - a) / (b - a), 0.0, 1.0) for a, b in pairwise(late_knots)]
    return np.column_stack(columns)


def _design(experience: pd.DataFrame) -> np.ndarray:
    """Columns: lateness ramps, lead-time ramps, cancelled (delivery terms 0 when cancelled)."""
    cancelled = experience["cancelled"].to_numpy()
    lateness = _ramps(
        np.nan_to_num(experience["lateness_days"].to_numpy()),
        LATENESS_EARLY_KNOTS_DAYS,
        LATENESS_LATE_KNOTS_DAYS,
    )
    lead_time = _ramps(
        np.nan_to_num(experience["lead_time_days"].to_numpy()),
        LEAD_TIME_KNOTS_DAYS[:1],
        LEAD_TIME_KNOTS_DAYS,
    )
    lateness[cancelled] = 0.0
    lead_time[cancelled] = 0.0
    return np.column_stack([lateness, lead_time, cancelled.astype(float)])


def _mean_negative_log_likelihood(
    theta: np.ndarray, design: np.ndarray, scores: np.ndarray
) -> tuple[float, np.ndarray]:
    """Ordered-logit NLL per order and its gradient.

    ``theta`` = [t1, gaps t2−t1.., weights of ``design``]. Per order, not summed, so the
    gradient is O(1) and the optimiser's tolerances mean the same whatever the sample size.
    """
    n_gaps = len(SCORES) - 1
    thresholds = np.cumsum(theta[:n_gaps])
    # einsum, not BLAS: single-threaded with a fixed summation order, so the fit is the same
    # bit for bit whatever the thread count (and BLAS threads crawl on a shared machine).
    eta = np.einsum("ij,j->i", design, theta[n_gaps:])
    cuts = np.concatenate([[-np.inf], thresholds, [np.inf]])
    upper = expit(cuts[scores] - eta)  # P(score ≤ y)
    lower = expit(cuts[scores - 1] - eta)  # P(score ≤ y − 1)
    probability = np.maximum(upper - lower, 1e-300)
    d_upper = upper * (1.0 - upper) / probability
    d_lower = lower * (1.0 - lower) / probability
    grad_eta = -(d_upper - d_lower)  # d log p / d eta
    # d log p / d threshold_j: +d_upper where y = j, −d_lower where y = j + 1.
    grad_thresholds = (
        np.bincount(scores, weights=d_upper, minlength=n_gaps + 2)[1 : n_gaps + 1]
        - np.bincount(scores, weights=d_lower, minlength=n_gaps + 2)[2 : n_gaps + 2]
    )
    # thresholds are cumulative sums of theta[:n_gaps]: chain rule is a reverse cumsum.
    grad_gaps = np.cumsum(grad_thresholds[::-1])[::-1]
    gradient = np.concatenate([grad_gaps, np.einsum("ij,i->j", design, grad_eta)])
    n = len(scores)
    return -float(np.log(probability).sum()) / n, -gradient / n


def _rounded(values: np.ndarray) -> tuple[float, ...]:
    # + 0.0 turns -0.0 into 0.0 so the file never shows "-0.0".
    return tuple(float(round(v, DECIMALS)) + 0.0 for v in values)


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def diagnostics(model: CsatModel, experience: pd.DataFrame) -> pd.DataFrame:
    """Observed vs predicted mean score and share of 1–2 stars by Olist lateness bucket.

    One row per bucket (empty ones included with n = 0), then ``cancelled`` and ``all``.
    ``meets_goal`` is whether |predicted − observed mean| ≤ 0.10 stars, for buckets of ≥ 200
    orders (None below that).
    """
    probabilities = model.score_probabilities(experience).to_numpy()
    frame = pd.DataFrame(
        {
            "observed": experience["review_score"].to_numpy(float),
            "predicted": probabilities @ np.asarray(SCORES, float),
            "observed_dissatisfied": (experience["review_score"] <= 2).to_numpy(float),
            "predicted_dissatisfied": probabilities[:, 0] + probabilities[:, 1],
        }
    )
    edges = [-math.inf, *BUCKET_EDGES_DAYS, math.inf]
    buckets = pd.cut(experience["olist_lateness_days"].to_numpy(), edges, labels=BUCKET_LABELS)
    cancelled = experience["cancelled"].to_numpy()
    groups = [(label, (buckets == label) & ~cancelled) for label in BUCKET_LABELS]
    groups += [("cancelled", cancelled), ("all", np.ones(len(frame), bool))]
    rows = []
    for label, mask in groups:
        part = frame[mask]
        n = len(part)
        mean = part.mean() if n else pd.Series(np.nan, index=frame.columns)
        diff = mean["predicted"] - mean["observed"]
        rows.append(
            {
                "bucket": label,
                "n": n,
                "observed_mean": mean["observed"],
                "predicted_mean": mean["predicted"],
                "diff_mean": diff,
                "observed_dissatisfied_pct": 100.0 * mean["observed_dissatisfied"],
                "predicted_dissatisfied_pct": 100.0 * mean["predicted_dissatisfied"],
                "meets_goal": (abs(diff) <= GOAL_MAX_ABS_DIFF_STARS)
                if n >= GOAL_MIN_ORDERS
                else None,
            }
        )
    return pd.DataFrame(rows)


def calibrate(data_dir: Path) -> CalibrationResult:
    """Fit on the calibration split of ``data_dir``'s Olist table; diagnose both splits."""
    data_dir = Path(data_dir)
    experience = olist_experience(load_olist(data_dir))
    fit_rows = experience[experience["olist_split"] == "calibration"]
    design = _design(fit_rows)
    scores = fit_rows["review_score"].to_numpy()
    n_gaps = len(SCORES) - 1
    n_lateness = len(LATENESS_EARLY_KNOTS_DAYS) + len(LATENESS_LATE_KNOTS_DAYS) - 2
    n_ramps = design.shape[1] - 1
    start = np.concatenate([[-2.0], np.full(n_gaps - 1, 0.5), np.zeros(n_ramps), [-2.0]])
    bounds = (
        [(None, None)]
        + [(THRESHOLD_MIN_GAP, None)] * (n_gaps - 1)
        + [(0.0, None)] * n_ramps
        + [(None, None)]
    )
    result = minimize(
        _mean_negative_log_likelihood,
        start,
        args=(design, scores),
        jac=True,
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10},
    )
    if not result.success:
        raise RuntimeError(f"CSAT likelihood fit did not converge: {result.message}")
    theta = result.x
    weights = theta[n_gaps:]
    lateness_knots = LATENESS_EARLY_KNOTS_DAYS + LATENESS_LATE_KNOTS_DAYS
    lateness_effect = (
        _ramps(np.asarray(lateness_knots), LATENESS_EARLY_KNOTS_DAYS, LATENESS_LATE_KNOTS_DAYS)
        @ weights[:n_lateness]
    )
    lead_effect = (
        _ramps(np.asarray(LEAD_TIME_KNOTS_DAYS), LEAD_TIME_KNOTS_DAYS[:1], LEAD_TIME_KNOTS_DAYS)
        @ weights[n_lateness:n_ramps]
    )
    params = CsatParams(
        schema_version=1,
        calibration=CalibrationInfo(
            command=_COMMAND,
            data_file=OLIST_FILE,
            data_sha256=_sha256(data_dir / OLIST_FILE),
            split="calibration",
            n_orders=len(fit_rows),
            n_cancelled=int(fit_rows["cancelled"].sum()),
            log_likelihood=round(-float(result.fun) * len(fit_rows), 3),
            olist_lateness_shift_days=OLIST_LATENESS_SHIFT_DAYS,
            note=(
                f"{_SOURCE}: reviewed orders purchased 2017-02..2018-07, split == calibration "
                "(row % 5 != 0); delivered orders with a delivery date plus canceled/unavailable "
                "ones. Ordered logit, monotone piecewise-linear lateness and lead-time curves."
            ),
        ),
        thresholds_logit=_rounded(np.cumsum(theta[:n_gaps])),
        lateness=CurveParam(
            knots_days=lateness_knots,
            effect_logit=_rounded(lateness_effect),
            basis="fitted",
            note=(
                "Effect of delivered − promised deadline (days, negative = early). Olist's whole "
                "days k enter at k - 0.5 (the middle of the day after the estimated day's end). "
                "0 from -0.5 to the deadline; flat beyond the end knots."
            ),
        ),
        lead_time=CurveParam(
            knots_days=LEAD_TIME_KNOTS_DAYS,
            effect_logit=_rounded(lead_effect),
            basis="fitted",
            note="Effect of delivered − ordered (days), all else equal; flat beyond the knots.",
        ),
        cancelled_logit=ScalarParam(
            value=round(float(weights[-1]), DECIMALS),
            unit="logit",
            basis="fitted",
            note=(
                "Whole experience of an order cancelled after confirmation, fitted on Olist "
                "canceled and unavailable (confirmed, then out of stock) orders with a review."
            ),
        ),
        **ASSUMPTIONS,
    )
    model = CsatModel(params)
    return CalibrationResult(
        params=params,
        calibration=diagnostics(model, fit_rows),
        validation=diagnostics(model, experience[experience["olist_split"] == "validation"]),
        iterations=int(result.nit),
    )


def format_diagnostics(frame: pd.DataFrame) -> str:
    """A ``diagnostics`` frame as a Markdown table (for notes and logs)."""
    header = (
        "| lateness (days) | n | observed mean | predicted mean | diff | "
        "observed 1–2★ % | predicted 1–2★ % | goal |\n|---|---:|---:|---:|---:|---:|---:|---|"
    )
    lines = [header]
    for row in frame.itertuples(index=False):
        goal = {True: "met", False: "MISSED", None: f"n < {GOAL_MIN_ORDERS}"}[row.meets_goal]
        if row.n == 0:
            lines.append(f"| {row.bucket} | 0 | | | | | | {goal} |")
            continue
        lines.append(
            f"| {row.bucket} | {row.n} | {row.observed_mean:.3f} | {row.predicted_mean:.3f} | "
            f"{row.diff_mean:+.3f} | {row.observed_dissatisfied_pct:.1f} | "
            f"{row.predicted_dissatisfied_pct:.1f} | {goal} |"
        )
    return "\n".join(lines)
