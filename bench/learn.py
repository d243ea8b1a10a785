"""Learned engagement speed and quality: rotxl.rules.learn against scikit-learn's LogisticRegressionCV.

Work timed, both in this process on the same 100,000 closed deals and 100,000 open ones:

- rotxl: ``learn.learn_from`` (encoding the levels from the raw frame, λ by 5-fold CV over nine
  values, the final fit, Platt's nested check, and the out-of-fold evaluation of four methods),
  then ``model.score`` on the open deals (probability and Why).
- scikit-learn: the same levels one-hot encoded (OneHotEncoder, levels under 5 deals pooled as
  infrequent), LogisticRegressionCV with the same Cs grid (C = 1/λ), KFold(5), log-loss scoring,
  lbfgs; then predict_proba on the open deals. It does less (no Platt check, no evaluation,
  no reasons), so the ratio flatters scikit-learn.

Quality: the Brier score of each on the open deals, whose outcomes are drawn from the true
probabilities (the process the history was drawn from). Target: no slower than scikit-learn,
Brier within 1%.

Run:  uv run --extra dev python bench/learn.py [N] [REPEATS]
"""

from __future__ import annotations

import datetime as dt
import statistics
import sys
import time

import numpy as np
import pandas as pd

from rotxl.rules import learn
from rotxl.rules.settings import FACTORS, Settings

AS_OF = dt.date(2026, 11, 1)
SOURCES = np.array(["Referral", "Cold call", "Web", "Event", "Partner", "Trade show", "Inbound call"])


def make_history(n_closed: int, n_open: int, seed: int = 1) -> tuple[pd.DataFrame, np.ndarray]:
    """Scores that move together with a hidden deal quality, a lead source, an amount; the first
    n_closed rows Won/Lost by the true probability, the rest Open. Returns (frame, true p)."""
    rng = np.random.default_rng(seed)
    m = n_closed + n_open
    quality = rng.normal(0, 1, m)
    scores = {f: np.clip(np.round(2.5 + 1.2 * quality + rng.normal(0, 0.8 + 0.2 * i, m)), 0, 5) for i, f in enumerate(FACTORS)}
    for f in FACTORS:
        scores[f][rng.random(m) < 0.1] = np.nan
    source = SOURCES[rng.integers(0, len(SOURCES), m)]
    amount = np.round(rng.lognormal(10, 1, m), -2)
    z = -0.8 + 1.1 * quality + np.select([source == "Referral", source == "Cold call"], [0.8, -0.8], 0.0) - 0.3 * (amount > 40000)
    p = 1 / (1 + np.exp(-z))
    status = np.where(rng.random(m) < p, "Won", "Lost").astype(object)
    status[n_closed:] = "Open"
    df = pd.DataFrame({"Opportunity ID": np.char.add("OPP-", np.arange(m).astype(str)), "Amount": amount, **scores,
                       "Status": status, "Lost Reason": "Price", "Close Date": pd.Timestamp("2026-06-01"), "Lead Source": source})
    return df, p


def run_rotxl(df: pd.DataFrame, open_rows: pd.DataFrame) -> np.ndarray:
    model = learn.learn_from(df, Settings(as_of=AS_OF), ["Lead Source"])
    prob, _ = model.score(open_rows)
    return prob


def sklearn_features(df: pd.DataFrame, edges: np.ndarray) -> pd.DataFrame:
    """The same levels as rotxl's: each score (blank its own level), the Amount quintile band, the lead source."""
    out = {f: df[f].fillna(-1).astype(int).astype(str) for f in FACTORS}
    out["Amount"] = np.searchsorted(edges, df["Amount"].to_numpy(float), side="left").astype(str)
    out["Lead Source"] = df["Lead Source"].astype(str)
    return pd.DataFrame(out)


def run_sklearn(closed: pd.DataFrame, open_rows: pd.DataFrame) -> np.ndarray:
    from sklearn.linear_model import LogisticRegressionCV
    from sklearn.model_selection import KFold
    from sklearn.preprocessing import OneHotEncoder

    edges = np.percentile(closed["Amount"].to_numpy(float), [20, 40, 60, 80])
    enc = OneHotEncoder(handle_unknown="infrequent_if_exist", min_frequency=5)
    x = enc.fit_transform(sklearn_features(closed, edges))
    y = (closed["Status"] == "Won").to_numpy(int)
    cv = LogisticRegressionCV(Cs=[1 / lam for lam in learn.LAMBDAS], cv=KFold(5), scoring="neg_log_loss",
                              solver="lbfgs", max_iter=1000, l1_ratios=(0.0,), use_legacy_attributes=False)
    cv.fit(x, y)
    return cv.predict_proba(enc.transform(sklearn_features(open_rows, edges)))[:, 1]


def timed(f, repeats: int) -> tuple[float, float, np.ndarray]:
    cpu, wall = [], []
    out = None
    for _ in range(repeats):
        c, w = time.process_time(), time.perf_counter()
        out = f()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return statistics.median(cpu), statistics.median(wall), out


def main(n: int = 100_000, repeats: int = 3) -> None:
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    df, p = make_history(n, n)
    closed, open_rows = df.iloc[:n], df.iloc[n:]
    truth = p[n:]
    outcome = (np.random.default_rng(2).random(n) < truth).astype(float)
    cpu_r, wall_r, prob_r = timed(lambda: run_rotxl(df, open_rows), repeats)
    cpu_s, wall_s, prob_s = timed(lambda: run_sklearn(closed, open_rows), repeats)
    brier = lambda q: float(np.mean((q - outcome) ** 2))  # noqa: E731
    print(f"Learned engagement: {n:,} closed deals (CV over {len(learn.LAMBDAS)} λ × 5 folds), then {n:,} open deals scored")
    print(f"  medians of {repeats}            CPU s     wall s")
    print(f"  rotxl learn + score     {cpu_r:9.2f}  {wall_r:9.2f}")
    print(f"  scikit-learn            {cpu_s:9.2f}  {wall_s:9.2f}")
    print(f"  ratio rotxl/sklearn     {cpu_r / cpu_s:9.2f}x {wall_r / wall_s:9.2f}x   (target: ≤ 1)")
    print(f"  Brier on the open deals: rotxl {brier(prob_r):.5f}, scikit-learn {brier(prob_s):.5f}, "
          f"true probabilities {brier(truth):.5f}; rotxl/sklearn {brier(prob_r) / brier(prob_s):.4f} (target: within 1%)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
