"""Learned engagement (SPEC §9) against known truths and against scikit-learn (a dev dependency only)."""

from __future__ import annotations

import datetime as dt
import tracemalloc

import numpy as np
import pandas as pd
import pytest
from sklearn.calibration import _sigmoid_calibration
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import KFold

from rotxl.rules import learn
from rotxl.rules.settings import FACTORS, Settings

AS_OF = dt.date(2026, 11, 1)
SETTINGS = Settings(as_of=AS_OF)
SOURCES = np.array(["Referral", "Cold call", "Web", "Event", "Partner"])


def history(n: int, seed: int = 0, open_rows: int = 0, near_copy: bool = False):
    """Deals won with a known logistic probability of Budget, Decision-maker access, Lead Source
    and Amount; the last ``open_rows`` rows are Open (held out). Returns (frame, true p)."""
    rng = np.random.default_rng(seed)
    m = n + open_rows
    scores = {f: rng.integers(0, 6, m).astype(float) for f in FACTORS}
    for f in FACTORS:
        scores[f][rng.random(m) < 0.1] = np.nan
    amount = np.round(rng.lognormal(10, 1, m), -2)
    source = SOURCES[rng.integers(0, len(SOURCES), m)]
    z = (-1.0 + 0.5 * (np.nan_to_num(scores["Budget"], nan=2.5) - 2.5)
         + 0.3 * (np.nan_to_num(scores["Decision-maker access"], nan=2.5) - 2.5)
         + np.select([source == "Referral", source == "Cold call"], [1.0, -1.0], 0.0)
         - 0.3 * (amount > 40000))
    p = 1 / (1 + np.exp(-z))
    status = np.where(rng.random(m) < p, "Won", "Lost").astype(object)
    status[n:] = "Open"
    df = pd.DataFrame({
        "Opportunity ID": [f"OPP-{i}" for i in range(m)], "Amount": amount, **scores,
        "Status": status, "Lost Reason": np.where(status == "Lost", "Price", ""),
        "Close Date": pd.Timestamp("2026-06-01"), "Lead Source": source,
    })
    if near_copy:  # the same column again, 5% of it scrambled: naive Bayes counts it twice
        copy = source.copy()
        flip = rng.random(m) < 0.05
        copy[flip] = SOURCES[rng.integers(0, len(SOURCES), flip.sum())]
        df["Channel"] = copy
    return df, p


def one_hot(model: learn.Model, df: pd.DataFrame) -> np.ndarray:
    lev = model.levels(df)
    sizes = [len(f.keys) for f in model.features]
    x = np.zeros((len(df), sum(sizes)))
    off = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    x[np.arange(len(df))[:, None], lev + off[None, :]] = 1.0
    return x


def closed(df: pd.DataFrame) -> pd.DataFrame:
    return df[df["Status"].isin(["Won", "Lost"])]


def brier(p, y):
    return float(np.mean((p - y) ** 2))


def logloss(p, y):
    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))


def reference_naive_bayes(train_levels: pd.DataFrame, y: np.ndarray, score_levels: pd.DataFrame) -> np.ndarray:
    """Odoo's rule written independently: per feature value won/lost counts + 0.1, each divided by
    the feature's smoothed total; prior odds × Π likelihood ratios; values never seen are skipped."""
    odds = np.full(len(score_levels), y.sum() / (1 - y).sum())
    for col in train_levels.columns:
        table = pd.DataFrame({"v": train_levels[col].to_numpy(), "won": y, "lost": 1 - y}).groupby("v")[["won", "lost"]].sum() + 0.1
        ratio = (table["won"] / table["won"].sum()) / (table["lost"] / table["lost"].sum())
        odds *= score_levels[col].map(ratio).fillna(1.0).to_numpy()
    return odds / (1 + odds)


@pytest.fixture(scope="module")
def fitted():
    df, p = history(2000, open_rows=20000, seed=1)
    model = learn.learn_from(df, SETTINGS, ["Lead Source"])
    assert isinstance(model, learn.Model)
    return df, p, model


# ---------------------------------------------------------------- against the truth


def test_calibrated_brier_close_to_the_truth_on_held_out_rows(fitted):
    df, p, model = fitted
    held = df["Status"] == "Open"
    prob, why = model.score(df)
    assert np.isnan(prob[~held]).all() and not np.isnan(prob[held]).any()
    rng = np.random.default_rng(7)
    y = (rng.random(held.sum()) < p[held]).astype(float)
    assert brier(prob[held], y) <= 1.10 * brier(p[held], y)
    gap = learn.reliability_gap(prob[held], y)
    assert gap < 0.03, gap
    assert all(isinstance(w, str) and w.count("odds") == 2 for w in why[held])


def test_beats_naive_bayes_on_correlated_columns():
    df, p = history(2000, open_rows=20000, seed=3, near_copy=True)
    model = learn.learn_from(df, SETTINGS, ["Lead Source", "Channel"])
    held = (df["Status"] == "Open").to_numpy()
    y = (np.random.default_rng(9).random(held.sum()) < p[held]).astype(float)
    prob = model.score(df)[0][held]
    train = closed(df)
    names = [f.name for f in model.features]
    lev_train = pd.DataFrame(model.levels(train), columns=names)
    lev_held = pd.DataFrame(model.levels(df[held]), columns=names)
    nb = reference_naive_bayes(lev_train, (train["Status"] == "Won").to_numpy(float), lev_held)
    assert logloss(prob, y) < logloss(nb, y)
    assert brier(prob, y) < brier(nb, y)
    # and in the model's own out-of-fold evaluation
    m = model.evaluation.metrics.set_index("Method")
    assert m.loc["Learned model", "Log loss"] < m.loc["Naive Bayes (Odoo-style)", "Log loss"]


def scored_history(n: int, seed: int, open_rows: int):
    """Deals as salespeople score them: one hidden deal quality moves all five scores together
    (so the scores overlap), and the outcome follows the quality and the lead source."""
    rng = np.random.default_rng(seed)
    m = n + open_rows
    quality = rng.normal(0, 1, m)
    scores = {f: np.clip(np.round(2.5 + 1.2 * quality + rng.normal(0, 0.8 + 0.2 * i, m)), 0, 5)
              for i, f in enumerate(FACTORS)}
    source = SOURCES[rng.integers(0, len(SOURCES), m)]
    z = -0.8 + 1.1 * quality + np.select([source == "Referral", source == "Cold call"], [0.8, -0.8], 0.0)
    p = 1 / (1 + np.exp(-z))
    status = np.where(rng.random(m) < p, "Won", "Lost").astype(object)
    status[n:] = "Open"
    df = pd.DataFrame({"Opportunity ID": [f"OPP-{i}" for i in range(m)], "Amount": np.round(rng.lognormal(10, 1, m), -2),
                       **scores, "Status": status, "Lost Reason": "Price", "Lead Source": source})
    return df, p


@pytest.mark.parametrize("seed", [21, 22, 23])
def test_beats_naive_bayes_on_held_out_rows_generally(seed):
    df, p = scored_history(2000, seed, 20000)
    model = learn.learn_from(df, SETTINGS, ["Lead Source"])
    held = (df["Status"] == "Open").to_numpy()
    y = (np.random.default_rng(seed).random(held.sum()) < p[held]).astype(float)
    train = closed(df)
    names = [f.name for f in model.features]
    nb = reference_naive_bayes(pd.DataFrame(model.levels(train), columns=names), (train["Status"] == "Won").to_numpy(float),
                               pd.DataFrame(model.levels(df[held]), columns=names))
    prob = model.score(df)[0][held]
    assert logloss(prob, y) < logloss(nb, y)
    assert brier(prob, y) < brier(nb, y)


def test_evaluation_baselines_match_independent_references(fitted):
    df, _, model = fitted
    train = closed(df)
    y = (train["Status"] == "Won").to_numpy(float)
    names = [f.name for f in model.features]
    lev = pd.DataFrame(model.levels(train), columns=names)
    fold = np.repeat(np.arange(5), len(y) // 5)
    nb = np.empty(len(y))
    base = np.empty(len(y))
    for f in range(5):
        inside = fold == f
        nb[inside] = reference_naive_bayes(lev[~inside], y[~inside], lev[inside])
        base[inside] = y[~inside].mean()
    from rotxl.rules.engine import engagement

    five = engagement(np.full(len(y), np.nan), [train[f].to_numpy(float) for f in FACTORS], (3, 2, 2, 2, 1))
    five = np.where(np.isnan(five), base, five)
    m = model.evaluation.metrics.set_index("Method")
    for method, want in (("Naive Bayes (Odoo-style)", nb), ("Base rate", base), ("Five-factor score", five)):
        assert m.loc[method, "Brier"] == pytest.approx(brier(want, y), rel=1e-12)
        assert m.loc[method, "Log loss"] == pytest.approx(logloss(want, y), rel=1e-12)
    assert model.evaluation.rows == len(y) == 2000
    table = model.evaluation.reliability["Learned model"]
    assert list(table.columns) == ["Predicted", "Deals", "Average predicted", "Share won"]
    assert table["Deals"].sum() == 2000 and len(table) == 10


def test_auc_counts_ties_as_half():
    p = np.array([0.1, 0.4, 0.4, 0.8])
    y = np.array([0, 0, 1, 1.0])
    # pairs (won, lost): (0.4, 0.1) 1, (0.4, 0.4) ½, (0.8, 0.1) 1, (0.8, 0.4) 1
    assert learn.auc(p, y) == pytest.approx(3.5 / 4)


# ---------------------------------------------------------------- against scikit-learn


def test_weights_equal_sklearn_logistic_regression(fitted):
    df, _, model = fitted
    train = closed(df)
    x, y = one_hot(model, train), (train["Status"] == "Won").to_numpy(int)
    for lam in (model.lam, 0.01, 100.0):
        sk = LogisticRegression(C=1 / lam, fit_intercept=True, tol=1e-12, max_iter=100000, solver="newton-cholesky").fit(x, y)
        sizes = [len(f.keys) for f in model.features]
        lev = model.levels(train)
        group, glev = learn._groups(lev, sizes)
        off = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        n = np.bincount(group).astype(float)
        s = np.bincount(group, weights=y)
        theta = learn.fit_logistic(glev + off, sizes, n, s, lam)
        np.testing.assert_allclose(theta[:-1], sk.coef_[0], atol=1e-6)
        assert theta[-1] == pytest.approx(sk.intercept_[0], abs=1e-6)
    weights = np.concatenate([f.weights for f in model.features])
    sk = LogisticRegression(C=1 / model.lam, tol=1e-12, max_iter=100000, solver="newton-cholesky").fit(x, y)
    np.testing.assert_allclose(weights, sk.coef_[0], atol=1e-6)
    assert model.intercept == pytest.approx(sk.intercept_[0], abs=1e-6)


def test_lambda_is_the_one_sklearn_cross_validation_picks(fitted):
    df, _, model = fitted
    train = closed(df)
    x, y = one_hot(model, train), (train["Status"] == "Won").to_numpy(int)
    cv = LogisticRegressionCV(Cs=[1 / lam for lam in learn.LAMBDAS], cv=KFold(5), scoring="neg_log_loss", l1_ratios=(0.0,),
                              use_legacy_attributes=True, tol=1e-10, max_iter=100000, solver="newton-cholesky").fit(x, y)
    assert 1 / cv.C_[0] == pytest.approx(model.lam)
    # the CV log loss of each λ, too (equal folds: sklearn's mean of fold means is the pooled mean)
    sk_loss = -cv.scores_[1].mean(axis=0).ravel()
    ours = np.array([model.cv_log_loss[1 / c] for c in cv.Cs_])
    np.testing.assert_allclose(ours, sk_loss, rtol=1e-6)


def test_platt_fit_equals_sklearn_sigmoid_calibration():
    rng = np.random.default_rng(5)
    z = rng.normal(0, 1.5, 3000)
    y = (rng.random(3000) < 1 / (1 + np.exp(-(0.6 * z - 0.4)))).astype(float)
    a, b = learn.fit_platt(z, np.ones_like(z), y)
    sk_a, sk_b = _sigmoid_calibration(z, y)
    # scikit-learn writes p = 1 / (1 + exp(a·z + b)): the same curve with both signs flipped
    assert a == pytest.approx(-sk_a, abs=1e-5)
    assert b == pytest.approx(-sk_b, abs=1e-5)
    # grouped rows give the same fit as the rows themselves
    zg, ng, sg = learn._aggregate_scores(np.round(z, 1), y)
    assert learn.fit_platt(zg, ng, sg) == pytest.approx(learn.fit_platt(np.round(z, 1), np.ones_like(z), y), abs=1e-9)


def test_deterministic(fitted):
    df, _, model = fitted
    again = learn.learn_from(df, SETTINGS, ["Lead Source"])
    assert again.intercept == model.intercept and again.a == model.a and again.b == model.b
    pd.testing.assert_frame_equal(again.weights_table(), model.weights_table())
    pd.testing.assert_frame_equal(again.evaluation.metrics, model.evaluation.metrics)


def test_one_thread_learns_what_the_fold_threads_learn(fitted, monkeypatch):
    """Pyodide (xlwings Lite) has no threads: the folds then run one after the other, and every
    figure must be the one the threaded run gives."""
    df, _, model = fitted
    monkeypatch.setattr(learn.os, "cpu_count", lambda: 1)
    ran = []
    monkeypatch.setattr(learn, "ThreadPoolExecutor", lambda *a, **k: ran.append(a) or pytest.fail("threads"))
    alone = learn.learn_from(df, SETTINGS, ["Lead Source"])
    assert not ran and alone.cv_log_loss == model.cv_log_loss and alone.lam == model.lam
    assert alone.intercept == model.intercept and (alone.a, alone.b) == (model.a, model.b)
    pd.testing.assert_frame_equal(alone.weights_table(), model.weights_table())
    pd.testing.assert_frame_equal(alone.evaluation.metrics, model.evaluation.metrics)


def test_kfold_matches_sklearn():
    for n in (40, 41, 44, 1003):
        want = np.empty(n, dtype=int)
        for f, (_, test) in enumerate(KFold(5).split(np.zeros(n))):
            want[test] = f
        np.testing.assert_array_equal(learn.kfold(n), want)


# ---------------------------------------------------------------- edge cases


def test_too_few_rows_learns_nothing_and_says_how_many_more():
    df, _ = history(60, seed=2)
    df.loc[df.index[:50], "Status"] = "Open"
    out = learn.learn_from(df, SETTINGS)
    assert isinstance(out, learn.Shortfall)
    won, lost = (df["Status"] == "Won").sum(), (df["Status"] == "Lost").sum()
    assert (out.won, out.lost) == (won, lost)
    assert f"found {won} won and {lost} lost" in out.message
    assert f"{20 - won} more won" in out.message and f"{20 - lost} more lost" in out.message


def test_one_class_only():
    df, _ = history(300, seed=2)
    df["Status"] = "Won"
    out = learn.learn_from(df, SETTINGS)
    assert isinstance(out, learn.Shortfall) and out.lost == 0 and "20 more lost" in out.message and "more won" not in out.message


def test_close_date_window_and_blank_close_dates():
    df, _ = history(400, seed=4)
    df["Close Date"] = pd.Series([pd.Timestamp("2026-06-01")] * 400, dtype=object)
    df.loc[:99, "Close Date"] = None  # blank: learned from
    df.loc[100:199, "Close Date"] = pd.Timestamp("2024-10-31")  # a day before AsOf − 24 months: not
    df.loc[200:209, "Close Date"] = "not a date"  # cannot be placed: not learned from
    mask, _, since = learn.training_rows(df, SETTINGS)
    assert since == dt.date(2024, 11, 1)
    assert mask[:100].all() and not mask[100:210].any() and mask[210:].all()
    model = learn.learn_from(df, SETTINGS)
    assert model.won + model.lost == 290
    recent, _, _ = learn.training_rows(df, Settings(as_of=AS_OF, learn_months=1))  # only blank Close Dates count
    assert recent.sum() == 100 and recent[:100].all()


def test_feature_with_one_level_and_unseen_levels_at_scoring():
    df, _ = history(500, seed=6, open_rows=4)
    df["Relationship"] = np.nan  # one level: blank
    df["Region"] = "North"  # a categorical column with one level
    model = learn.learn_from(df, SETTINGS, ["Region", "lead source"])
    rel = next(f for f in model.features if f.name == "Relationship")
    assert rel.keys == [learn.BLANK, learn.OTHER]
    assert [f.name for f in model.features][-2:] == ["Region", "Lead Source"]
    scoring = df.tail(4).copy()
    scoring["Lead Source"] = ["Trade show", "REFERRAL", "  Referral ", None]
    scoring["Budget"] = [7, 2.5, "lots", 3]
    lev = model.levels(scoring)
    src = next(j for j, f in enumerate(model.features) if f.name == "Lead Source")
    keys = model.features[src].keys
    assert [keys[i] for i in lev[:, src]] == [learn.OTHER, "referral", "referral", learn.OTHER]
    bud = next(j for j, f in enumerate(model.features) if f.name == "Budget")
    assert [model.features[bud].keys[i] for i in lev[:, bud]] == [learn.OTHER, learn.OTHER, learn.OTHER, "3"]
    prob, why = model.score(scoring)
    assert np.isfinite(prob).all()
    assert learn.OTHER not in " ".join(why)  # the reason names "other", not the key


def test_rare_levels_join_other():
    df, _ = history(500, seed=8)
    df.loc[:3, "Lead Source"] = "Billboard"  # 4 deals: fewer than 5
    model = learn.learn_from(df, SETTINGS, ["Lead Source"])
    src = model.features[-1]
    assert "billboard" not in src.keys
    assert src.won[-1] + src.lost[-1] == 4


@pytest.mark.parametrize("name", ["Status", "stage", "Deal Stage", "Probability", "Lost Reason", "Close Date", "Engagement"])
def test_outcome_columns_are_never_features(name):
    df, _ = history(100)
    df["Stage"] = "Closed"
    with pytest.raises(learn.LearnError, match="cannot be learned from"):
        learn.learn_from(df, SETTINGS, [name])


def test_unknown_learn_from_column_names_what_was_found():
    df, _ = history(100)
    with pytest.raises(learn.LearnError, match='no column "Industry".*"Lead Source"'):
        learn.learn_from(df, SETTINGS, ["Industry"])
    with pytest.raises(learn.LearnError, match="already learned from"):
        learn.learn_from(df, SETTINGS, ["Budget"])


def test_a_million_history_rows_complete_with_sane_memory():
    n = 1_000_000
    rng = np.random.default_rng(12)
    scores = {f: rng.integers(0, 6, n).astype(float) for f in FACTORS}
    z = -0.5 + 0.4 * (scores["Budget"] - 2.5)
    df = pd.DataFrame({"Opportunity ID": np.arange(n), "Amount": np.round(rng.lognormal(10, 1, n), -2), **scores,
                       "Status": np.where(rng.random(n) < 1 / (1 + np.exp(-z)), "Won", "Lost"),
                       "Lead Source": SOURCES[rng.integers(0, 5, n)]})
    frame_bytes = df.memory_usage(deep=True).sum()
    tracemalloc.start()
    model = learn.learn_from(df, SETTINGS, ["Lead Source"])
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert isinstance(model, learn.Model) and model.won + model.lost == n
    budget = next(f for f in model.features if f.name == "Budget")
    assert np.all(np.diff(budget.weights[:6]) > 0)  # the true effect rises with Budget
    # a dense one-hot matrix alone would be 1,000,000 × 52 × 8 bytes = 416 MB
    assert peak < 400e6 + 2 * frame_bytes, (peak, frame_bytes)


# ---------------------------------------------------------------- the workbook (LibreOffice recalculates)


def test_workbook_learned_probability_formula_equals_the_engine(tmp_path):
    from spreadsheet import cells, recalculate, sheet

    from rotxl.excel import workbook

    df, _ = history(300, seed=3, open_rows=14)
    df["Budget"] = df["Budget"].astype(object)
    tail = df.index[-14:]
    df.loc[tail[0], "Lead Source"] = "referral "  # case and spaces: the same level
    df.loc[tail[1], "Lead Source"] = "Trade show"  # never seen: (other)
    df.loc[tail[2], "Lead Source"] = None  # blank
    df.loc[tail[3], "Budget"] = 7  # out of range: (other)
    df.loc[tail[4], "Budget"] = 2.5
    df.loc[tail[5], "Budget"] = None
    df.loc[tail[6], "Amount"] = 10**7  # the top band
    df.loc[tail[7], "Amount"] = None
    df.loc[tail[8], "Opportunity ID"] = None  # not a deal: blank
    df.loc[tail[9], "Status"] = "open"
    df.loc[tail[10], "Lead Source"] = "A*"  # no wildcard matching
    model = learn.learn_from(df, SETTINGS, ["Lead Source"])
    model.a, model.b = 1.3, -0.2  # the formula must carry Platt's A and B as the engine does
    path = tmp_path / "learned.xlsx"
    workbook.save_workbook(workbook.build_workbook(None, learn.add_learned(df, model), SETTINGS, model=model), path)
    from test_workbook import _schema_errors

    assert _schema_errors(path) == []  # the Model sheet, its table, notes and chart open in Excel without repair
    out = recalculate([path], tmp_path / "out")[0]
    got = sheet(out, "Pipeline")
    assert list(got.columns).count(learn.LEARNED) == 1 and list(got.columns).count(learn.WHY) == 1
    at = list(got.columns).index("Engagement")  # §5: Engagement, Learned Probability, Why, Opportunity ROT
    assert list(got.columns)[at:at + 4] == ["Engagement", learn.LEARNED, learn.WHY, "Opportunity ROT"]
    want, why = model.score(df)
    assert np.isnan(want[:300]).all() and np.isnan(want[tail[8]]) and not np.isnan(np.delete(want[300:], 8)).any()
    order = workbook.reading_rows(df)  # the sheet lists open deals first (§5), table order kept otherwise
    want, why = want[order], [why[k] for k in order]
    for i, (g, w) in enumerate(zip(got[learn.LEARNED].tolist(), want)):
        if np.isnan(w):
            assert g in (None, ""), (i, g)
        else:
            assert float(g) == pytest.approx(w, rel=1e-9, abs=1e-12), (i, g, w)
    assert got[learn.WHY].fillna("").tolist() == [w or "" for w in why]
    # the Model sheet: named cells and the weights table as the model holds them
    rows = cells(out, "Model")
    flat = {r[0]: r[1] for r in rows if r and isinstance(r[0], str)}
    assert flat["Intercept"] == pytest.approx(model.intercept) and flat["A (Platt)"] == 1.3 and flat["B (Platt)"] == -0.2
    header = rows[0][7:15]
    assert header == ["Feature no.", "Feature", "Level", "Key", "Log-odds", "Odds ×", "Won", "Lost"]
    table = model.weights_table()
    got_w = [r[11] for r in rows[1:len(table) + 1]]
    np.testing.assert_allclose(got_w, table["Log-odds"], rtol=1e-12)
    np.testing.assert_allclose([r[12] for r in rows[1:len(table) + 1]], np.exp(1.3 * table["Log-odds"]), rtol=1e-9)


# ---------------------------------------------------------------- the worksheet function (xlwings' call path)


def _range(df: pd.DataFrame) -> list[list[object]]:
    """A frame as Office.js hands a range over: dates as serial numbers, blanks as None."""
    def cell(v):
        if isinstance(v, pd.Timestamp):
            return (v.date() - dt.date(1899, 12, 30)).days
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return None
        return v.item() if isinstance(v, np.generic) else v
    return [list(df.columns), *([cell(v) for v in row] for row in df.astype(object).itertuples(index=False))]


def test_learned_probability_function_spills_the_engines_scores():
    from test_functions import c, call, err

    df, _ = history(200, seed=13, open_rows=6)
    serial = (AS_OF - dt.date(1899, 12, 30)).days
    result = call("LEARNED_PROBABILITY", _range(df), _range(df.tail(6)), c("Lead Source"), c(serial))
    model = learn.learn_from(df, SETTINGS, ["Lead Source"])
    prob, why = model.score(df.tail(6))
    assert result[0] == [learn.LEARNED, learn.WHY]
    assert [r[0] for r in result[1:]] == pytest.approx(list(prob), rel=1e-12)
    assert [r[1] for r in result[1:]] == list(why)
    # too few closed deals: the message, in one cell
    short = call("LEARNED_PROBABILITY", _range(df.head(30)), _range(df.tail(6)), c(None), c(serial))
    assert short[0][0].startswith("Nothing learned") and "more" in short[0][0]
    # an outcome column named to learn from: #VALUE!
    bad = call("LEARNED_PROBABILITY", _range(df), _range(df.tail(6)), c("Status"), c(serial))
    assert bad == [[err("#VALUE!")]]


# ---------------------------------------------------------------- the "Learn from history" action (xlwings' remote Book)


def test_learn_from_history_action_writes_the_engines_scores(tmp_path):
    from spreadsheet import recalculate
    from test_macros import actions, book_of, message, payload, table

    from rotxl.excel import macros
    from rotxl.excel.workbook import build_workbook, save_workbook

    df, _ = history(120, seed=17, open_rows=8)
    df.loc[df.index[-1], "Lead Source"] = "=HYPERLINK(\"x\")"
    wb = build_workbook(None, df, SETTINGS)
    save_workbook(wb, tmp_path / "h.xlsx")
    p = payload(wb, recalculate([tmp_path / "h.xlsx"], tmp_path / "out")[0], "h.xlsx")
    pipe = wb.sheetnames.index("Pipeline")
    book = book_of(p)
    macros.learn_from_history(book)
    prompt, mode = message(book)
    assert mode == "info" and prompt.startswith("Learned from 120 closed deals") and "8 open deals" in prompt
    frame = table(p, pipe)
    model = learn.learn_from(frame, SETTINGS)
    prob, why = model.score(frame)
    added = [a["args"][2] for a in actions(book, "addTableColumn", pipe)]
    assert added == [learn.LEARNED, learn.WHY]
    block = next(a for a in actions(book, "setValues", pipe) if a["column_count"] == 2)["values"]
    assert len(block) == len(frame) == 128
    open_ = ~np.isnan(prob)  # the workbook lists the open deals first (§5): found by the engine, not by position
    assert open_.sum() == 8
    assert [r[0] for r, o in zip(block, open_) if o] == pytest.approx(list(prob[open_]), rel=1e-12)
    assert all(r == ["", ""] for r, o in zip(block, open_) if not o)
    assert [r[1] for r, o in zip(block, open_) if o] == [w for w, o in zip(why, open_) if o]
    model_sheet = next(a for a in actions(book, "addSheet"))
    assert model_sheet["args"][1] == "Model"
    # too few deals: a message, and nothing written
    few = df.copy()
    few.loc[few.index[:110], "Status"] = "Open"
    wb = build_workbook(None, few, SETTINGS)
    save_workbook(wb, tmp_path / "few.xlsx")
    book = book_of(payload(wb, recalculate([tmp_path / "few.xlsx"], tmp_path / "out2")[0], "few.xlsx"))
    macros.learn_from_history(book)
    prompt, mode = message(book)
    assert prompt.startswith("Nothing learned") and not actions(book, "setValues")


# ---------------------------------------------------------------- rotxl learn


def test_cli_learn_prints_the_evaluation_and_writes_the_scored_file(tmp_path):
    from click.testing import CliRunner

    from rotxl.cli import main
    from rotxl.data.io import read_pipeline, read_table

    df, _ = history(300, seed=19, open_rows=12)
    hist = tmp_path / "history.csv"
    df.to_csv(hist, index=False)
    out = tmp_path / "scored.xlsx"
    run = CliRunner().invoke(main, ["learn", "--history", str(hist), "--learn-from", "lead source", "--score", str(hist),
                                    "-o", str(out), "--as-of", "2026-11-01"])
    assert run.exit_code == 0, run.output
    for text in ("Learned from 300 closed deals", "Naive Bayes (Odoo-style)", "Five-factor score", "Base rate",
                 "Reliability of the learned model", "90–100%", "12 open deals with a Learned Probability"):
        assert text in run.output
    scored = read_table(out, sheet="Pipeline")  # read as written: read_pipeline would take these columns for the CRM's (§5)
    model = learn.learn_from(read_pipeline(hist), SETTINGS, ["Lead Source"])
    prob, why = model.score(read_pipeline(hist))
    np.testing.assert_allclose(scored[learn.LEARNED].to_numpy(float), prob, rtol=1e-12)
    assert scored[learn.WHY].fillna("").tolist() == [w or "" for w in why]
    assert {"Engagement", "Priority", "Issues"} <= set(scored.columns) and len(scored) == 312


def test_cli_learn_stops_with_messages(tmp_path):
    from click.testing import CliRunner

    from rotxl.cli import main

    df, _ = history(30, seed=19)
    hist = tmp_path / "history.csv"
    df.to_csv(hist, index=False)
    runner = CliRunner()
    short = runner.invoke(main, ["learn", "--history", str(hist), "--as-of", "2026-11-01"])
    assert short.exit_code == 0 and "Nothing learned" in short.output
    out = tmp_path / "scored.csv"
    short = runner.invoke(main, ["learn", "--history", str(hist), "--score", str(hist), "-o", str(out), "--as-of", "2026-11-01"])
    assert short.exit_code == 2 and "nothing was written" in short.output and not out.exists()
    bad = runner.invoke(main, ["learn", "--history", str(hist), "--learn-from", "Lost Reason"])
    assert bad.exit_code == 2 and "cannot be learned from" in bad.output
    lone = runner.invoke(main, ["learn", "--history", str(hist), "-o", str(out)])
    assert lone.exit_code == 2 and "-o needs --score" in lone.output and not out.exists()


def test_no_signal_learns_the_base_rate_and_keeps_no_platt_slope_below_zero():
    # Nothing to learn from: only the folds' slightly different win rates are left, and a
    # negative Platt slope fitted to them would turn the ranking around. It is not kept.
    rng = np.random.default_rng(0)
    df = pd.DataFrame({"Opportunity ID": range(200), "Amount": 1000.0, **{f: np.nan for f in FACTORS},
                       "Status": np.where(rng.random(200) < 0.3, "Won", "Lost")})
    df.loc[:9, "Status"] = "Open"
    model = learn.learn_from(df, SETTINGS)
    assert not model.platt_kept and (model.a, model.b) == (1.0, 0.0) and model.lam == 1e4
    rate = (df["Status"] == "Won").sum() / 190
    np.testing.assert_allclose(model.score(df)[0][:10], rate, rtol=1e-9)
