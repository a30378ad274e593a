#!/usr/bin/python3
"""train_peer.py -- the Python side of bench/train.sh.

    train_peer.py SPEC.yaml DATA.csv

Does with pandas, xgboost and scikit-learn what `cairn data add DATA.csv`
followed by `cairn train SPEC.yaml` does, the way a Python user would write
it. The spec (bench/train_spec.yaml) gives the columns, the split and the
model parameters, so both sides train the same model:

  read      pandas.read_csv of the whole file
  prepare   parse the time column, split by time (a stable sort on it; the
            last `test` fraction of rows is test, the `valid` fraction
            before it validation, and a run of equal times at a boundary
            stays in one part, moved to the nearer edge as cairn does), the
            label as 1 where it equals `positive`; features: every column
            but the entity, the time and the label (or features.include,
            less features.exclude), numbers as they are (missing values stay
            NaN, XGBoost handles them), strings as pandas categories for
            XGBoost's native categorical splits
  matrix    xgboost.DMatrix of the training part (and of the validation
            part when the spec asks for early stopping)
  train     xgboost.train, tree_method hist, the spec's parameters; with
            early_stopping > 0, logloss on the validation part after every
            round, stopping after that many rounds without improvement and
            keeping the rounds up to the least loss (the earliest on ties),
            which is cairn's rule; without it, every round is kept
  predict   the test part with that model
  metrics   scikit-learn roc_auc_score, log_loss, brier_score_loss

Prints one JSON object: per-phase wall seconds, row counts, the best round
and the test metrics. Exit 0, or 2 with a message for a spec it does not
support (only binary tasks split by time) or unusable data.
"""
import argparse
import json
import os
import sys
import time


def die(msg):
    print(f"train_peer: {msg}", file=sys.stderr)
    sys.exit(2)


def boundary_fix(key, lo, n, b):
    """cairn's rule for a cut at b in sorted keys: never split a run of
    equal keys; move to the run's nearer edge (its start on a tie), or to
    the other edge when the nearer one would empty a side of [lo, n)."""
    if b <= lo or b >= n or key[b - 1] != key[b]:
        return b
    start, end = b, b
    while start > lo and key[start - 1] == key[b]:
        start -= 1
    while end < n and key[end] == key[b]:
        end += 1
    start_ok, end_ok = start > lo, end < n
    if start_ok and (b - start <= end - b or not end_ok):
        return start
    if end_ok:
        return end
    return start


def frac_rows(n, frac):
    r = int((n * frac + 0.5) // 1)
    return max(0, min(n, r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("spec")
    ap.add_argument("csv")
    args = ap.parse_args()
    import yaml
    with open(args.spec) as f:
        spec = yaml.safe_load(f)
    split = spec.get("split") or {}
    model = spec.get("model") or {}
    features = spec.get("features") or {}
    if spec.get("task", "binary") != "binary" or split.get("by", "time") != "time" or \
            not spec.get("time") or model.get("type", "gbdt") != "gbdt":
        die(f"{args.spec}: only binary gbdt specs split by time are supported")
    label, positive, time_col = spec["label"], str(spec["positive"]), spec["time"]
    entity = spec.get("entity")
    valid_frac, test_frac = split.get("valid", 0.1), split.get("test", 0.2)
    threads = model.get("threads", 0) or os.cpu_count()
    rounds = model.get("rounds", 100)
    early = model.get("early_stopping", 0)
    params = {
        "booster": "gbtree", "tree_method": "hist", "objective": "binary:logistic",
        "eval_metric": "logloss", "nthread": threads, "seed": spec.get("seed", 42),
        "max_depth": model.get("max_depth", 6), "eta": model.get("learning_rate", 0.1),
        "max_bin": model.get("max_bin", 256),
        "min_child_weight": model.get("min_child_weight", 1.0),
        "subsample": model.get("subsample", 1.0),
        "colsample_bytree": model.get("colsample_bytree", 1.0),
        "lambda": model.get("lambda", 1.0), "alpha": model.get("alpha", 0.0),
        "base_score": 0.5, "verbosity": 0,
    }

    import numpy as np
    import pandas as pd
    import xgboost as xgb
    from sklearn.metrics import brier_score_loss, log_loss, roc_auc_score

    phases = {}
    t_start = time.perf_counter()
    t = t_start

    def lap(name):
        nonlocal t
        now = time.perf_counter()
        phases[name] = round(now - t, 3)
        t = now

    df = pd.read_csv(args.csv)
    lap("read")

    for c in [label, time_col] + ([entity] if entity else []) + \
            list(features.get("include") or []) + list(features.get("exclude") or []):
        if c not in df.columns:
            die(f"{args.csv}: no column '{c}'")
    when = pd.to_datetime(df[time_col], utc=True)
    if when.isna().any():
        die(f"{args.csv}: null times in '{time_col}'")
    key = when.to_numpy(dtype="datetime64[ns]").view("int64")
    order = np.argsort(key, kind="stable")
    skey = key[order]
    n = len(df)
    b_test = boundary_fix(skey, 0, n, n - frac_rows(n, test_frac))
    n_valid = frac_rows(n, valid_frac)
    b_valid = boundary_fix(skey, 0, b_test, b_test - n_valid if b_test >= n_valid else 0)
    y = (df[label].astype(str) == positive).to_numpy(dtype=np.float64)
    if features.get("include"):
        cols = list(features["include"])
    else:
        cols = [c for c in df.columns if c not in (label, entity, time_col)]
    cols = [c for c in cols if c not in (features.get("exclude") or [])]
    X = df[cols].copy()
    for c in X.columns:
        if X[c].dtype == object:
            X[c] = X[c].astype("category")
    parts = {"train": order[:b_valid], "valid": order[b_valid:b_test], "test": order[b_test:]}
    Xp = {k: X.iloc[v] for k, v in parts.items()}
    yp = {k: y[v] for k, v in parts.items()}
    lap("prepare")

    # As cairn: the validation part is scored after every round only for
    # early stopping; without it every round is kept.
    use_valid = early > 0 and len(parts["valid"]) > 0
    dtrain = xgb.DMatrix(Xp["train"], yp["train"], enable_categorical=True, nthread=threads)
    evals = []
    if use_valid:
        dvalid = xgb.DMatrix(Xp["valid"], yp["valid"], enable_categorical=True, nthread=threads)
        evals = [(dvalid, "valid")]
    lap("matrix")

    history = {}
    booster = xgb.train(params, dtrain, rounds, evals=evals, evals_result=history,
                        verbose_eval=False, early_stopping_rounds=early if use_valid else None)
    if use_valid:
        valid_logloss = history["valid"]["logloss"]
        rounds_run, best = len(valid_logloss), int(np.argmin(valid_logloss))
    else:
        rounds_run, best = rounds, rounds - 1
    lap("train")

    dtest = xgb.DMatrix(Xp["test"], enable_categorical=True, nthread=threads)
    p = booster.predict(dtest, iteration_range=(0, best + 1))
    lap("predict")

    metrics = {
        "auc": float(roc_auc_score(yp["test"], p)),
        "logloss": float(log_loss(yp["test"], p)),
        "brier": float(brier_score_loss(yp["test"], p)),
    }
    lap("metrics")

    print(json.dumps({
        "tool": "python",
        "versions": {"pandas": pd.__version__, "xgboost": xgb.__version__,
                     "numpy": np.__version__},
        "rows": {k: int(len(v)) for k, v in parts.items()},
        "features": int(X.shape[1]),
        "threads": threads,
        "rounds_run": rounds_run,
        "best_round": best,
        "phases_s": phases,
        "total_s": round(time.perf_counter() - t_start, 3),
        "test": metrics,
    }))


if __name__ == "__main__":
    main()
