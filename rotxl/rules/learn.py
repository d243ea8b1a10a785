"""Learned engagement (SPEC §9): how likely an open deal is to be won, learned from closed ones.

A logistic regression with one log-odds weight per feature level (each factor score 0–5 and
blank, the Amount band, the categorical columns named with ``--learn-from``), fitted by Newton's
method with an L2 penalty chosen by 5-fold cross-validation, then Platt-scaled when a nested
check shows that helps. Plain numpy, so it runs in xlwings Lite (Pyodide) too.

Rows are collapsed to distinct feature combinations ("groups") before fitting: the log loss of a
group of identical rows is its size times theirs, so a million closed deals cost what their few
thousand distinct combinations cost. One-hot columns are never materialised: X·w is a gather and
Xᵀ·v a bincount over the level indices.

Every fitted number has its native-formula mirror here too: ``learned_probability_formula``.
"""

from __future__ import annotations

import datetime as dt
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from . import engine, schema
from .schema import PIPELINE_COLUMNS, PIPELINE_DERIVED
from .settings import DEFAULT_WEIGHTS, FACTORS, Settings

MIN_EACH = 20  # won and lost rows needed to learn anything
MIN_LEVEL = 5  # a level seen fewer times in training joins "(other)"
LAMBDAS: tuple[float, ...] = tuple(10.0 ** k for k in range(-4, 5))
FOLDS = 5
BLANK, OTHER = "(blank)", "(other)"
AMOUNT = "Amount"
# Columns that record the outcome: on a closed deal they give the answer away.
OUTCOME_COLUMNS: tuple[str, ...] = ("Status", "Stage", "Probability", "Lost Reason", "Close Date")
LEARNED, WHY = "Learned Probability", "Why"
METHODS: tuple[str, ...] = ("Learned model", "Base rate", "Five-factor score", "Naive Bayes (Odoo-style)")
_EPS = 1e-15  # probabilities are clipped here for the log loss, as scikit-learn does


class LearnError(ValueError):
    """A --learn-from column that cannot be used (not found, an outcome, already a feature)."""


# ---------------------------------------------------------------- which rows, which levels


@dataclass(frozen=True)
class Shortfall:
    """Too few closed deals to learn from: nothing is learned, and this says how many more."""

    won: int
    lost: int
    since: dt.date

    @property
    def message(self) -> str:
        need = [f"{MIN_EACH - n} more {what}" for n, what in ((self.won, "won"), (self.lost, "lost")) if n < MIN_EACH]
        return (f"Nothing learned: learning needs at least {MIN_EACH} won and {MIN_EACH} lost deals closed since "
                f"{self.since:%Y-%m-%d} (or with no Close Date); found {self.won} won and {self.lost} lost, "
                f"so {' and '.join(need)} are needed.")


def _months_before(day: dt.date, months: int) -> dt.date:
    return (pd.Timestamp(day) - pd.DateOffset(months=months)).date()


def training_rows(df: pd.DataFrame, settings: Settings) -> tuple[np.ndarray, np.ndarray, dt.date]:
    """(mask of the rows learned from, won as 1.0/0.0, the earliest Close Date counted).

    Won or Lost, with a Close Date on or after AsOf − LearnMonths, or no Close Date. A Close
    Date that is not a date cannot be placed in the window, so that row is not learned from.
    """
    cols = engine._cols(df, PIPELINE_COLUMNS)
    status = _status(cols["Status"])
    close = engine.parse_dates(cols["Close Date"])
    since = _months_before(settings.as_of_date(), settings.learn_months)
    recent = close.blank | (~close.bad & (close.values >= np.datetime64(since, "D")))
    closed = (status == "Won") | (status == "Lost")
    return closed & recent, (status == "Won").astype(float), since


def _distinct(s: pd.Series) -> tuple[np.ndarray, pd.Series]:
    """(code of each cell, the distinct values): text is read once per distinct value, not per row.
    A missing cell gets the code of an added None."""
    codes, uniques = pd.factorize(s.to_numpy(dtype=object), use_na_sentinel=True)
    uniques = pd.Series([*uniques, None], dtype=object)
    return np.where(codes < 0, len(uniques) - 1, codes), uniques


def _status(s: pd.Series) -> np.ndarray:
    """Open, Won or Lost as engine.parse_status reads them ("" where bad)."""
    codes, uniques = _distinct(s)
    return engine.parse_status(uniques)[0][codes]


def _text_keys(s: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """(key, label) of each cell of a categorical column, as the formula's LOWER(TRIM(x)) sees it."""
    codes, uniques = _distinct(s)
    text, blank = engine.parse_text(uniques, id_like=True)
    # Excel's TRIM also folds runs of inner spaces.
    labels = text.str.replace(r" {2,}", " ", regex=True).to_numpy(dtype=object, copy=True)
    keys = pd.Series(labels, dtype=object).str.lower().to_numpy(dtype=object, copy=True)
    keys[blank], labels[blank] = BLANK, BLANK
    return keys[codes], labels[codes]


def _score_keys(s: pd.Series) -> np.ndarray:
    p = engine.parse_numbers(s)
    v = p.values
    whole = ~np.isnan(v) & (v == np.floor(v)) & (v >= 0) & (v <= 5)
    keys = np.full(len(s), OTHER, dtype=object)
    keys[whole] = np.array(["0", "1", "2", "3", "4", "5"], dtype=object)[np.where(whole, v, 0).astype(int)][whole]
    keys[p.blank] = BLANK
    return keys


def _band_keys(s: pd.Series, edges: np.ndarray) -> np.ndarray:
    p = engine.parse_numbers(s)
    ok = ~np.isnan(p.values)
    band = 1 + np.searchsorted(edges, np.where(ok, p.values, 0), side="left")
    keys = np.full(len(s), OTHER, dtype=object)
    keys[ok] = np.array([str(k) for k in range(len(edges) + 2)], dtype=object)[band[ok]]
    keys[p.blank] = BLANK
    return keys


@dataclass
class Feature:
    """One feature: its levels (the last is "(other)") and the fitted log-odds of each."""

    name: str  # what the Model sheet and Why call it: "Budget", "Amount", "Lead Source"
    kind: str  # "score", "band" or "category"
    keys: list[str]  # what the formula matches (lower case)
    labels: list[str]  # what a person reads
    weights: np.ndarray = field(default_factory=lambda: np.zeros(0))
    won: np.ndarray = field(default_factory=lambda: np.zeros(0))
    lost: np.ndarray = field(default_factory=lambda: np.zeros(0))


def _levels(keys: np.ndarray, labels: np.ndarray | None, order: list[str] | None) -> tuple[list[str], list[str]]:
    """The levels seen at least MIN_LEVEL times, then "(other)"."""
    uniq, first, counts = np.unique(keys.astype(str), return_index=True, return_counts=True)
    kept = [(k, i, c) for k, i, c in zip(uniq, first, counts) if c >= MIN_LEVEL and k != OTHER]
    if order is not None:
        kept.sort(key=lambda t: order.index(t[0]) if t[0] in order else len(order))
    else:  # most frequent first; ties alphabetically, so the order is the same every run
        kept.sort(key=lambda t: (-t[2], t[0]))
    ks = [str(k) for k, _, _ in kept] + [OTHER]
    ls = [str(labels[i]) if labels is not None else str(k) for k, i, _ in kept] + [OTHER]
    return ks, ls


def resolve_learn_from(columns: list[object], learn_from: tuple[str, ...] | list[str]) -> list[str]:
    """The export's own header of each --learn-from name; stops on an outcome column or a feature already used."""
    mapping = schema.resolve(columns, PIPELINE_COLUMNS)
    used = {schema.normalise(mapping[h]) for h in (*FACTORS, AMOUNT) if h in mapping} | {schema.normalise(h) for h in (*FACTORS, AMOUNT)}
    outcome = {schema.normalise(mapping.get(h, h)) for h in OUTCOME_COLUMNS} | {schema.normalise(h) for h in OUTCOME_COLUMNS}
    for h in OUTCOME_COLUMNS:
        outcome |= {schema.normalise(a) for a in schema.column(PIPELINE_COLUMNS, h).aliases}
    derived = {schema.normalise(h) for h in (*PIPELINE_DERIVED, LEARNED, WHY)}
    by_key = {schema.normalise(c): str(c) for c in columns}
    out = []
    for name in learn_from:
        name = str(name).strip()
        key = schema.normalise(name)
        if not key:
            continue
        if key in outcome:
            raise LearnError(f'"{name}" records the outcome of a deal (Status, Stage, Probability, Lost Reason and '
                             f"Close Date give the answer away on a closed deal); it cannot be learned from")
        if key in derived:
            raise LearnError(f'"{name}" is computed by rotxl from the deal\'s Probability; it cannot be learned from')
        if key in used:
            raise LearnError(f'"{name}" is already learned from (the five factor scores and the Amount band always are)')
        if key not in by_key:
            found = ", ".join(f'"{c}"' for c in columns)
            raise LearnError(f'--learn-from: no column "{name}" in the history; found {found}')
        if by_key[key] not in out:
            out.append(by_key[key])
    return out


# ---------------------------------------------------------------- fitting


def _expit(z: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):  # exp(−z) → inf for z below −709 gives 1/inf = 0, as it should
        return 1.0 / (1.0 + np.exp(-z))


def _offsets(sizes: list[int]) -> np.ndarray:
    return np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)


class OneHot:
    """The one-hot matrix whose row g has a one at cols[g, j] for each feature j, never materialised.

    Xᵀ·diag(d)·X is what Newton's method needs each step. A row has one level per feature, so a
    feature's own block is diagonal, and each pair of features is a table of joint counts: one
    bincount per pair over codes computed once (and reused for every λ).
    """

    def __init__(self, cols: np.ndarray, sizes: list[int]):
        self.sizes = list(sizes)
        self.k = int(sum(sizes))
        self.by_feature = np.ascontiguousarray(cols.T)  # one row of global column indices per feature
        offsets = _offsets(sizes)
        local = self.by_feature - offsets[:, None]
        self.blocks = []  # (codes, rows, columns, size) of each pair of features
        f = len(sizes)
        for a in range(f):
            for b in range(a + 1, f):
                na, nb = sizes[a], sizes[b]
                dtype = np.int32 if na * nb < 2**31 else np.int64
                grid = np.arange(na * nb)
                self.blocks.append(((local[a] * nb + local[b]).astype(dtype), offsets[a] + grid // nb,
                                    offsets[b] + grid % nb, na * nb))

    def times(self, w: np.ndarray) -> np.ndarray:
        """X·w."""
        out = w[self.by_feature[0]]
        for idx in self.by_feature[1:]:
            out = out + w[idx]
        return out

    def transposed_times(self, v: np.ndarray) -> np.ndarray:
        """Xᵀ·v."""
        out = np.zeros(self.k)
        for idx in self.by_feature:
            out += np.bincount(idx, weights=v, minlength=self.k)
        return out

    def gram(self, d: np.ndarray) -> np.ndarray:
        """Xᵀ·diag(d)·X."""
        h = np.zeros((self.k, self.k))
        h[np.diag_indices(self.k)] = self.transposed_times(d)
        for codes, rows, columns, size in self.blocks:
            joint = np.bincount(codes, weights=d, minlength=size)
            h[rows, columns] = joint
            h[columns, rows] = joint
        return h


def fit_logistic(cols: np.ndarray | OneHot, sizes: list[int], n: np.ndarray, s: np.ndarray, lam: float,
                 start: np.ndarray | None = None) -> np.ndarray:
    """Minimise Σ [n·log(1+eᶻ) − s·z] + λ/2·‖w‖², z = b + Σ w[cols], by damped Newton steps.

    ``cols`` (groups × features, or their OneHot) are global one-hot column indices (feature j's
    levels at offset Σ sizes[:j]), ``n`` rows and ``s`` wins per group. Returns
    θ = (w₀ … w_{k−1}, b); b is not penalised.
    """
    x = cols if isinstance(cols, OneHot) else OneHot(cols, sizes)
    k = x.k
    theta = np.zeros(k + 1)
    if start is not None:
        theta = start.copy()
    else:
        rate = np.clip(s.sum() / n.sum(), 1e-6, 1 - 1e-6)
        theta[k] = np.log(rate / (1 - rate))
    pen = np.full(k + 1, lam)
    pen[k] = 0.0

    def objective(t: np.ndarray) -> tuple[float, np.ndarray]:
        z = t[k] + x.times(t[:k])
        return float(np.sum(n * np.logaddexp(0.0, z) - s * z) + 0.5 * lam * t[:k] @ t[:k]), z

    obj, z = objective(theta)
    for _ in range(200):
        p = _expit(z)
        r = n * p - s
        grad = pen * theta
        grad[:k] += x.transposed_times(r)
        grad[k] += r.sum()
        d = n * p * (1 - p)
        h = np.empty((k + 1, k + 1))
        h[:k, :k] = x.gram(d)
        h[:k, k] = h[k, :k] = x.transposed_times(d)
        h[k, k] = d.sum()
        h[np.diag_indices(k + 1)] += pen + 1e-12  # the tiny ridge only guards an all-empty fold
        step = np.linalg.solve(h, grad)
        if np.max(np.abs(step)) < 1e-11:  # converged: a line search here would only chase rounding noise
            theta = theta - step
            break
        decrease = grad @ step
        t = 1.0
        while True:
            trial = theta - t * step
            new_obj, new_z = objective(trial)
            if new_obj <= obj - 1e-4 * t * decrease or t < 1e-10:
                break
            t *= 0.5
        theta, z = trial, new_z
        done = np.max(np.abs(t * step)) < 1e-11 or abs(obj - new_obj) <= 1e-15 * max(1.0, abs(obj))
        obj = new_obj
        if done:
            break
    return theta


def fit_platt(z: np.ndarray, n: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Platt's sigmoid p = 1/(1+exp(−(A·z+B))) with his smoothed targets, by Newton's method.

    The targets are (N₊+1)/(N₊+2) for a win and 1/(N₋+2) for a loss (Platt 2000, §2.2), as
    scikit-learn's sigmoid calibration uses.
    """
    wins, losses = s.sum(), (n - s).sum()
    t_pos, t_neg = (wins + 1) / (wins + 2), 1 / (losses + 2)
    target = np.where(n > 0, (s * t_pos + (n - s) * t_neg) / np.maximum(n, 1), 0.0)
    ab = np.array([1.0, 0.0])

    def loss(v: np.ndarray) -> float:
        u = v[0] * z + v[1]
        return float(np.sum(n * (np.logaddexp(0.0, u) - target * u)))

    cur = loss(ab)
    for _ in range(100):
        p = _expit(ab[0] * z + ab[1])
        r = n * (p - target)
        grad = np.array([r @ z, r.sum()])
        d = n * p * (1 - p)
        h = np.array([[d @ (z * z), d @ z], [d @ z, d.sum()]]) + 1e-12 * np.eye(2)
        step = np.linalg.solve(h, grad)
        if np.max(np.abs(step)) < 1e-12:
            ab = ab - step
            break
        t = 1.0
        while True:
            trial = ab - t * step
            new = loss(trial)
            if new <= cur - 1e-4 * t * (grad @ step) or t < 1e-10:
                break
            t *= 0.5
        ab = trial
        done = np.max(np.abs(t * step)) < 1e-12 or abs(cur - new) <= 1e-15 * max(1.0, abs(cur))
        cur = new
        if done:
            break
    return float(ab[0]), float(ab[1])


def _calibration(z: np.ndarray, n: np.ndarray, s: np.ndarray) -> tuple[float, float]:
    """Platt's (A, B), or (1, 0) when the fitted slope is not positive: a slope ≤ 0 would turn
    the model's ranking around (or flatten it), which is no calibration. It happens when the
    scores carry no signal and only the folds' slightly different base rates are left to fit."""
    a, b = fit_platt(z, n, s)
    return (a, b) if a > 0 else (1.0, 0.0)


def kfold(n: int, folds: int = FOLDS) -> np.ndarray:
    """The fold of each row: contiguous blocks in row order, the first n % folds one longer (KFold)."""
    sizes = np.full(folds, n // folds)
    sizes[: n % folds] += 1
    return np.repeat(np.arange(folds), sizes)


def _log_loss_sum(z: np.ndarray, n: np.ndarray, s: np.ndarray) -> float:
    p = np.clip(_expit(z), _EPS, 1 - _EPS)
    return float(-(s * np.log(p) + (n - s) * np.log1p(-p)).sum())


# ---------------------------------------------------------------- evaluation


def brier(p: np.ndarray, y: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def log_loss(p: np.ndarray, y: np.ndarray) -> float:
    p = np.clip(p, _EPS, 1 - _EPS)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log1p(-p)))


def auc(p: np.ndarray, y: np.ndarray) -> float:
    """The chance a won deal scores above a lost one (ties count half): Mann–Whitney with midranks."""
    uniq, inv, counts = np.unique(p, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    midrank = ends - (counts - 1) / 2.0
    ranks = midrank[inv]
    pos = y == 1
    n_pos, n_neg = int(pos.sum()), int((~pos).sum())
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    return float((ranks[pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def reliability(p: np.ndarray, y: np.ndarray, bins: int = 10) -> pd.DataFrame:
    """Per tenth of predicted probability: how many deals, the average prediction, the share won."""
    b = np.minimum((p * bins).astype(int), bins - 1)
    count = np.bincount(b, minlength=bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        pred = np.bincount(b, weights=p, minlength=bins) / count
        won = np.bincount(b, weights=y, minlength=bins) / count
    return pd.DataFrame({
        "Predicted": [f"{10 * i}–{10 * (i + 1)}%" for i in range(bins)],
        "Deals": count,
        "Average predicted": pred,
        "Share won": won,
    })


def reliability_gap(p: np.ndarray, y: np.ndarray) -> float:
    """Mean |average predicted − share won| over the bins, weighted by deals."""
    t = reliability(p, y)
    has = t["Deals"] > 0
    return float((t["Deals"][has] * (t["Average predicted"][has] - t["Share won"][has]).abs()).sum() / t["Deals"].sum())


@dataclass
class Evaluation:
    """Out-of-fold (5-fold) figures of each method on the same closed deals."""

    metrics: pd.DataFrame  # one row per method: Brier, Log loss, AUC, Reliability gap
    reliability: dict[str, pd.DataFrame]
    rows: int


def _evaluate(predictions: dict[str, np.ndarray], y: np.ndarray) -> Evaluation:
    metrics = pd.DataFrame([
        {"Method": m, "Brier": brier(p, y), "Log loss": log_loss(p, y), "AUC": auc(p, y), "Reliability gap": reliability_gap(p, y)}
        for m, p in predictions.items()
    ])
    return Evaluation(metrics, {m: reliability(p, y) for m, p in predictions.items()}, len(y))


def naive_bayes_log_odds(cols: np.ndarray, k: int, won: np.ndarray, lost: np.ndarray, sizes: list[int],
                         prior_won: float, prior_lost: float) -> np.ndarray:
    """Odoo-style naive Bayes: prior odds × Π over features of P(level | won) ÷ P(level | lost).

    P(level | won) = (won count + 0.1) ÷ Σ over the feature's levels (won count + 0.1), levels
    counted in training only; a level no training deal had is skipped (Odoo has no row for it).
    ``won``/``lost`` are the training counts per global column. Returns log-odds per group.
    """
    seen = (won + lost) > 0
    sw, sl = np.where(seen, won + 0.1, 0.0), np.where(seen, lost + 0.1, 0.0)
    feat = np.repeat(np.arange(len(sizes)), sizes)
    tw, tl = np.bincount(feat, weights=sw)[feat], np.bincount(feat, weights=sl)[feat]
    with np.errstate(divide="ignore", invalid="ignore"):
        lr = np.where(seen, np.log(sw / tw) - np.log(sl / tl), 0.0)
    return np.log(prior_won / prior_lost) + lr[cols].sum(axis=1)


# ---------------------------------------------------------------- the model


@dataclass
class Model:
    """A learned model: features with their log-odds, intercept, Platt's A and B, and how good it is."""

    features: list[Feature]
    intercept: float
    a: float
    b: float
    lam: float
    platt_kept: bool
    edges: np.ndarray  # the Amount band edges (quintiles of the training amounts)
    columns: dict[str, str]  # feature name -> the frame's header it is read from
    won: int
    lost: int
    since: dt.date
    as_of: dt.date
    cv_log_loss: dict[float, float]
    evaluation: Evaluation

    # ------------------------------------------------ scoring

    def levels(self, df: pd.DataFrame) -> np.ndarray:
        """Each row's level index per feature (rows × features); unseen levels are "(other)"."""
        out = np.empty((len(df), len(self.features)), dtype=np.int64)
        spec = engine._cols(df, PIPELINE_COLUMNS)  # spec columns by header or alias, as the engine reads them
        for j, f in enumerate(self.features):
            header = self.header(list(df.columns), f)
            col = spec[f.name] if f.kind != "category" else (
                df[header] if header is not None else pd.Series([None] * len(df), index=df.index))
            if f.kind == "score":
                keys = _score_keys(col)
            elif f.kind == "band":
                keys = _band_keys(col, self.edges)
            else:
                keys = _text_keys(col)[0]
            out[:, j] = _index_of(keys, f.keys)
        return out

    @staticmethod
    def header(columns: list[object], f: Feature) -> object | None:
        """The column a categorical feature is read from: its name up to case, spaces and punctuation."""
        key = schema.normalise(f.name)
        return next((c for c in columns if schema.normalise(c) == key), None)

    def log_odds(self, levels: np.ndarray) -> np.ndarray:
        """Per row, the contribution A·w of each feature's level (rows × features)."""
        return self.a * np.column_stack([f.weights[levels[:, j]] for j, f in enumerate(self.features)])

    def score(self, df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """(Learned Probability, Why) of every row; blank (NaN, None) unless the row is an open deal.

        Mirrored by ``learned_probability_formula``: 1 ÷ (1 + EXP(−(A·(intercept + Σ w) + B))).
        """
        cols = engine._cols(df, PIPELINE_COLUMNS)
        status = _status(cols["Status"])
        codes, uniques = _distinct(cols["Opportunity ID"])
        id_blank = engine.parse_text(uniques, id_like=True)[1][codes]
        live = (status == "Open") & ~id_blank
        lev = self.levels(df)
        contrib = self.log_odds(lev)
        prob = _expit(contrib.sum(axis=1) + self.a * self.intercept + self.b)
        prob[~live] = np.nan
        why = np.full(len(df), None, dtype=object)
        if live.any():
            top = np.argsort(-np.abs(contrib[live]), axis=1, kind="stable")[:, :2]
            texts = self._reason_texts()
            glob = lev[live] + _offsets([len(f.keys) for f in self.features])[None, :]
            first = texts[np.take_along_axis(glob, top[:, :1], 1)[:, 0]]
            second = texts[np.take_along_axis(glob, top[:, 1:2], 1)[:, 0]] if len(self.features) > 1 else None
            why[live] = first if second is None else first + "; " + second
        return prob, why

    def _reason_texts(self) -> np.ndarray:
        out = []
        for f in self.features:
            for label, w in zip(f.labels, f.weights):
                odds = float(np.exp(self.a * w))
                shown = f"{odds:.0f}" if odds >= 10 else f"{odds:.2g}"
                level = label if label not in (BLANK, OTHER) else label.strip("()")
                out.append(f"{f.name} = {level}: ×{shown} odds")
        return np.array(out, dtype=object)

    def weights_table(self) -> pd.DataFrame:
        """One row per feature level: the Model sheet's table (its formula matches Feature no. and Key)."""
        rows = []
        for j, f in enumerate(self.features, start=1):
            for key, label, w, won, lost in zip(f.keys, f.labels, f.weights, f.won, f.lost):
                rows.append({"Feature no.": j, "Feature": f.name, "Level": label, "Key": key, "Log-odds": float(w),
                             "Odds ×": float(np.exp(self.a * w)), "Won": int(won), "Lost": int(lost)})
        return pd.DataFrame(rows)

    def summary(self) -> list[str]:
        platt = (f"Platt scaling kept (A = {self.a:.3f}, B = {self.b:.3f}): it lowered the held-out log loss"
                 if self.platt_kept else "Platt scaling not kept (A = 1, B = 0): it did not lower the held-out log loss")
        return [
            f"Learned from {self.won + self.lost:,} closed deals ({self.won:,} won, {self.lost:,} lost) closed since "
            f"{self.since:%Y-%m-%d} or undated.",
            f"Features: {', '.join(f.name for f in self.features)}; penalty λ = {self.lam:g} (5-fold cross-validated).",
            platt,
        ]


def _index_of(keys: np.ndarray, levels: list[str]) -> np.ndarray:
    """Index of each key in ``levels``; keys not there get the last level, "(other)"."""
    codes, uniques = pd.factorize(keys)
    where = {k: i for i, k in enumerate(levels)}
    other = len(levels) - 1
    mapped = np.array([where.get(u, other) for u in uniques], dtype=np.int64)
    return mapped[codes] if len(uniques) else np.zeros(len(keys), dtype=np.int64)


def _groups(levels: np.ndarray, sizes: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """(group of each row, the level indices of each group): rows with the same levels share a group."""
    code = np.zeros(len(levels), dtype=np.int64)
    span = 1
    for j, size in enumerate(sizes):
        if span * size >= 2**62:  # re-number before the mixed-radix code could overflow
            _, code = np.unique(code, return_inverse=True)
            span = int(code.max()) + 1
        code = code * size + levels[:, j]
        span *= size
    uniq, first, inv = np.unique(code, return_index=True, return_inverse=True)
    return inv.ravel(), levels[first]


def learn_from(df: pd.DataFrame, settings: Settings | None = None, learn_from: tuple[str, ...] | list[str] = ()) -> Model | Shortfall:
    """Learn from the closed deals of ``df`` (a pipeline export or merged frame): a Model, or a
    Shortfall saying how many more won/lost deals are needed. Raises LearnError on a bad --learn-from."""
    s = settings or Settings()
    categorical = resolve_learn_from(list(df.columns), learn_from)
    mask, won_all, since = training_rows(df, s)
    y = won_all[mask]
    n_won, n_lost = int(y.sum()), int((1 - y).sum())
    if n_won < MIN_EACH or n_lost < MIN_EACH:
        return Shortfall(n_won, n_lost, since)
    train = df.loc[mask]
    cols = engine._cols(train, PIPELINE_COLUMNS)
    mapping = schema.resolve(list(df.columns), PIPELINE_COLUMNS)

    amounts = engine.parse_numbers(cols[AMOUNT]).values
    amounts = amounts[~np.isnan(amounts)]
    # No amount at all learned from: four zero edges, so the engine and the formula still agree (all blank anyway).
    edges = np.array([engine.percentile_inc(amounts, q) for q in (0.2, 0.4, 0.6, 0.8)]) if amounts.size else np.zeros(4)

    features: list[Feature] = []
    keyed: list[np.ndarray] = []
    columns: dict[str, str] = {}
    for name in FACTORS:
        keys = _score_keys(cols[name])
        ks, ls = _levels(keys, None, ["0", "1", "2", "3", "4", "5", BLANK])
        features.append(Feature(name, "score", ks, ls))
        keyed.append(keys)
        columns[name] = mapping.get(name, name)
    keys = _band_keys(cols[AMOUNT], edges)
    ks, _ = _levels(keys, None, [str(k) for k in range(1, len(edges) + 2)] + [BLANK])
    features.append(Feature(AMOUNT, "band", ks, [_band_label(k, edges) for k in ks]))
    keyed.append(keys)
    columns[AMOUNT] = mapping[AMOUNT]
    for header in categorical:
        keys, labels = _text_keys(train[header])
        ks, ls = _levels(keys, labels, None)
        features.append(Feature(header, "category", ks, ls))
        keyed.append(keys)
        columns[header] = header

    sizes = [len(f.keys) for f in features]
    k = sum(sizes)
    levels = np.column_stack([_index_of(kk, f.keys) for kk, f in zip(keyed, features)])
    group, glevels = _groups(levels, sizes)
    gcols = glevels + _offsets(sizes)[None, :]
    ngroups = len(glevels)
    fold = kfold(len(y))
    fn = np.stack([np.bincount(group[fold == f], minlength=ngroups) for f in range(FOLDS)]).astype(float)
    fs = np.stack([np.bincount(group[fold == f], weights=y[fold == f], minlength=ngroups) for f in range(FOLDS)])
    n_all, s_all = fn.sum(axis=0), fs.sum(axis=0)

    # λ by 5-fold CV log loss, from the largest down (each fit starts from the last: fewer steps).
    # The folds are independent: one thread each where threads exist (numpy's gathers and sums
    # run beside each other); the figures are the same either way, summed in fold order.
    lams = sorted(LAMBDAS, reverse=True)

    def fold_path(f: int) -> list[tuple[np.ndarray, float]]:
        tn, ts = n_all - fn[f], s_all - fs[f]
        used = tn > 0
        design = OneHot(gcols[used], sizes)
        theta, path = None, []
        for lam in lams:
            theta = fit_logistic(design, sizes, tn[used], ts[used], lam, theta)
            z = theta[k] + theta[:k][gcols].sum(axis=1)
            path.append((z, _log_loss_sum(z, fn[f], fs[f])))
        return path

    paths = _map(fold_path, range(FOLDS))
    cv = {lam: sum(paths[f][i][1] for f in range(FOLDS)) / len(y) for i, lam in enumerate(lams)}
    oof_z = {lam: np.stack([paths[f][i][0] for f in range(FOLDS)]) for i, lam in enumerate(lams)}
    del paths
    best = min(sorted(LAMBDAS, reverse=True), key=lambda lam: cv[lam])  # min keeps the first: ties take the larger λ
    theta = fit_logistic(gcols, sizes, n_all, s_all, best)
    for f, (off, size) in zip(features, zip(_offsets(sizes), sizes)):
        f.weights = theta[off: off + size]
        f.won = np.bincount(levels[:, features.index(f)], weights=y, minlength=size)
        f.lost = np.bincount(levels[:, features.index(f)], weights=1 - y, minlength=size)

    # Platt scaling on the out-of-fold scores, kept only if a nested 5-fold check says it helps.
    zrow = oof_z[best][fold, group]
    zg, ng, sg = _aggregate_scores(zrow, y)
    raw_loss, cal_loss = 0.0, 0.0
    cal_p = np.empty(len(y))
    for f in range(FOLDS):
        inside = fold == f
        a, b = _calibration(*_aggregate_scores(zrow[~inside], y[~inside]))
        cal_p[inside] = _expit(a * zrow[inside] + b)
        raw_loss += log_loss(_expit(zrow[inside]), y[inside]) * inside.sum()
        cal_loss += log_loss(cal_p[inside], y[inside]) * inside.sum()
    a, b = _calibration(zg, ng, sg)
    kept = cal_loss < raw_loss and (a, b) != (1.0, 0.0)
    if not kept:
        a, b = 1.0, 0.0

    predictions = {
        "Learned model": cal_p if kept else _expit(zrow),
        **_baselines(train, cols, y, fold, group, gcols, k, sizes, levels),
    }
    return Model(features, float(theta[k]), a, b, best, kept, edges, columns, n_won, n_lost, since,
                 s.as_of_date(), cv, _evaluate(predictions, y))


def _map(fn, items) -> list:
    """``[fn(x) for x in items]``, on a thread per core where there are threads (not in Pyodide)."""
    items = list(items)
    workers = min(os.cpu_count() or 1, len(items))
    if sys.platform == "emscripten" or workers < 2:
        return [fn(x) for x in items]
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(fn, items))


def _aggregate_scores(z: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    uniq, inv = np.unique(z, return_inverse=True)
    return uniq, np.bincount(inv, minlength=len(uniq)).astype(float), np.bincount(inv, weights=y, minlength=len(uniq))


def _baselines(train: pd.DataFrame, cols: dict[str, pd.Series], y: np.ndarray, fold: np.ndarray, group: np.ndarray,
               gcols: np.ndarray, k: int, sizes: list[int], levels: np.ndarray) -> dict[str, np.ndarray]:
    """Out-of-fold predictions of the three comparisons, on the same rows and folds as the model."""
    base = np.empty(len(y))
    nb = np.empty(len(y))
    rowcols = levels + _offsets(sizes)[None, :]
    for f in range(FOLDS):
        inside = fold == f
        yt = y[~inside]
        base[inside] = yt.mean()
        won = np.bincount(rowcols[~inside].ravel(), weights=np.repeat(yt, rowcols.shape[1]), minlength=k)
        lost = np.bincount(rowcols[~inside].ravel(), weights=np.repeat(1 - yt, rowcols.shape[1]), minlength=k)
        nb[inside] = _expit(naive_bayes_log_odds(gcols, k, won, lost, sizes, yt.sum(), (1 - yt).sum())[group[inside]])
    scores = []
    for name in FACTORS:
        v = engine.parse_numbers(cols[name]).values
        scores.append(np.where((v == np.floor(v)) & (v >= 0) & (v <= 5), v, np.nan))
    five = engine.engagement(np.full(len(y), np.nan), scores, DEFAULT_WEIGHTS)
    # A deal with no score has no five-factor estimate; it is judged at the base rate.
    five = np.where(np.isnan(five), base, five)
    return {"Base rate": base, "Five-factor score": five, "Naive Bayes (Odoo-style)": nb}


def _band_label(key: str, edges: np.ndarray) -> str:
    if key in (BLANK, OTHER):
        return key
    i = int(key)
    money = [f"{e:,.0f}" for e in edges]
    if i == 1:
        return f"up to {money[0]}" if money else "any"
    if i == len(edges) + 1:
        return f"over {money[-1]}"
    return f"{money[i - 2]}–{money[i - 1]}"


def add_learned(df: pd.DataFrame, model: Model | None) -> pd.DataFrame:
    """``df`` with Learned Probability and Why (replaced if already there); unchanged without a model."""
    if model is None:
        return df
    prob, why = model.score(df)
    out = df.drop(columns=[c for c in (LEARNED, WHY) if c in df.columns])
    out[LEARNED] = prob
    out[WHY] = why
    return out


# ---------------------------------------------------------------- the native formula


MODEL_TABLE = "ModelWeights"
NAMES = {"intercept": "ModelIntercept", "a": "ModelA", "b": "ModelB", "edges": "ModelAmountEdges"}


def _key_formula(f: Feature, x: str) -> str:
    """The row's level key, as ``Model.levels`` computes it."""
    if f.kind == "score":
        inner = f'IF(ISNUMBER({x}),""&{x},"{OTHER}")'
    elif f.kind == "band":
        inner = f'IF(ISNUMBER({x}),""&(1+SUMPRODUCT(--({NAMES["edges"]}<{x}))),"{OTHER}")'
    else:
        inner = f"LOWER(TRIM({x}))"
    return f'IF(TRIM({x})="","{BLANK}",{inner})'


def learned_probability_formula(model: Model, ref, headers: list[object] | None = None) -> str:
    """The Learned Probability column as a native formula over the Model sheet.

    Each feature's log-odds is found by SUMPRODUCT over the ModelWeights table (exact,
    case-insensitive text matching with no wildcards, unlike SUMIFS/MATCH, so a level such as
    "A*" or "?" matches only itself); a level not in the table takes the "(other)" row.
    ``headers`` are the table's headers, so a categorical feature finds its column there.
    """
    no, key, weight = (f"{MODEL_TABLE}[{h}]" for h in ("Feature no.", "Key", "Log-odds"))
    parts = []
    for j, f in enumerate(model.features, start=1):
        header = f.name if f.kind != "category" or headers is None else (Model.header(headers, f) or f.name)
        k = _key_formula(f, ref(str(header)))
        level = f'IF(SUMPRODUCT(({no}={j})*({key}={k}))>0,{k},"{OTHER}")'
        parts.append(f"SUMPRODUCT(({no}={j})*({key}={level})*{weight})")
    status = ref("Status")
    live = f'AND(TRIM({ref("Opportunity ID")})<>"",OR(TRIM({status})="",TRIM({status})="Open"))'
    z = f'{NAMES["a"]}*({NAMES["intercept"]}+{"+".join(parts)})+{NAMES["b"]}'
    return f'=IF({live},1/(1+EXP(-({z}))),"")'
