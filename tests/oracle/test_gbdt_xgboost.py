#!/usr/bin/python3
"""Our tree evaluator against python xgboost on the shared tabular datasets.

For each case (telco, adult, electricity and hotels; binary, multiclass and
regression) the data are encoded to numbers here: numeric columns as they
are (blanks missing), string columns as categorical codes 0..L-1 by
descending frequency (at most 30 levels, the rest one "other" code, "?" and
empty values missing). Rows are shuffled with a fixed seed and cut 70/15
into training and validation parts. The C side (gbdt_driver, via
CAIRN_GBDT_DRIVER) trains through cairn_gbdt_train with early stopping,
saves XGBoost's JSON of the exported model and our evaluator's scores on
every row. Python xgboost loads that same model file and predicts every
row; each score must equal ours to 1e-6 (relative above 1). Also checked:
the exported model has best_round + 1 rounds of trees. And the training
itself: python xgboost trains on the same rows the way its users do (a
plain DMatrix, xgboost.train with the same parameters, the validation loss
after every round) while the C side feeds XGBoost a QuantileDMatrix built
in place from the doubles; python's least-loss round must be our best round
and its model, cut there, must score every row as ours does.

Prints "N passed, M failed"; exits 1 on any failure, 77 (skip) when
xgboost, pandas, the driver or the data are missing.
"""
import os
import subprocess
import sys
import tempfile

DRIVER = os.environ.get("CAIRN_GBDT_DRIVER", "")
DATA = os.environ.get("CAIRN_SHARED_DATA", "")
if not DRIVER or not os.access(DRIVER, os.X_OK):
    print("skip: gbdt_driver not found (set CAIRN_GBDT_DRIVER)")
    sys.exit(77)
if not DATA or not os.path.isdir(DATA):
    print("skip: shared data not found (set CAIRN_SHARED_DATA)")
    sys.exit(77)
try:
    import numpy as np
    import pandas as pd
    import xgboost as xgb
except ImportError as e:
    print("skip:", e)
    sys.exit(77)

MAX_LEVELS = 30
passes = 0
failures = []


def check(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)


def encode(df, label, drop, task):
    """Numbers: (y, X, levels). Strings become frequency-ranked codes."""
    y_raw = df[label]
    if task == "binary":
        vals = y_raw.astype(str).str.strip()
        classes = sorted(vals.unique())
        assert len(classes) == 2, classes
        y = (vals == classes[1]).astype(float).to_numpy()
    elif task == "multiclass":
        vals = y_raw.astype(str).str.strip()
        classes = sorted(vals.unique())
        y = vals.map({c: i for i, c in enumerate(classes)}).astype(float).to_numpy()
    else:
        y = pd.to_numeric(y_raw, errors="coerce").astype(float).to_numpy()
    cols, levels = [], []
    for c in df.columns:
        if c == label or c in drop:
            continue
        s = df[c]
        num = pd.to_numeric(s, errors="coerce")
        if s.dtype.kind in "if" or num.notna().mean() > 0.95:
            cols.append(num.astype(float).to_numpy())
            levels.append(0)
            continue
        st = s.astype(str).str.strip()
        st = st.where(~st.isin(["?", "", "nan", "NULL"]))
        counts = st.value_counts()
        keep = sorted(counts.index, key=lambda v: (-counts[v], v))[:MAX_LEVELS]
        code = {v: i for i, v in enumerate(keep)}
        n_levels = len(keep) + (1 if len(counts) > len(keep) else 0)
        other = len(keep)
        cols.append(np.array([np.nan if pd.isna(v) else code.get(v, other) for v in st],
                             dtype=float))
        levels.append(max(n_levels, 1))
    X = np.column_stack(cols)
    ok = ~np.isnan(y)
    return y[ok], X[ok], levels


def write_csv(path, y, X):
    with open(path, "w") as f:
        for yi, row in zip(y, X):
            f.write(",".join([repr(float(yi))] + ["" if np.isnan(v) else repr(float(v))
                                                   for v in row]) + "\n")


def run_case(name, df, label, drop, task, n_classes=0):
    y, X, levels = encode(df, label, drop, task)
    if task == "multiclass":
        n_classes = int(y.max()) + 1
    rng = np.random.default_rng(7)
    idx = rng.permutation(len(y))
    n_tr, n_va = int(0.7 * len(y)), int(0.15 * len(y))
    tr, va = idx[:n_tr], idx[n_tr:n_tr + n_va]
    with tempfile.TemporaryDirectory() as d:
        write_csv(f"{d}/train.csv", y[tr], X[tr])
        write_csv(f"{d}/valid.csv", y[va], X[va])
        write_csv(f"{d}/all.csv", y, X)
        r = subprocess.run([DRIVER, task, str(n_classes), ",".join(map(str, levels)),
                            f"{d}/train.csv", f"{d}/valid.csv", f"{d}/all.csv", d],
                           capture_output=True, text=True)
        check(r.returncode == 0, f"{name}: driver failed: {r.stderr.strip()}")
        if r.returncode != 0:
            return
        ours = np.loadtxt(f"{d}/pred.csv", delimiter=",", ndmin=2)
        best, run, n_trees = map(int, open(f"{d}/log.txt").read().split())
        booster = xgb.Booster(model_file=f"{d}/model.json")
    per_round = n_classes if task == "multiclass" else 1
    check(n_trees == (best + 1) * per_round and best < run,
          f"{name}: {n_trees} trees for best round {best} of {run}")
    types = ["c" if lv else "q" for lv in levels]
    dm = xgb.DMatrix(X.astype(np.float32), missing=np.nan, feature_types=types,
                     enable_categorical=True)
    want = booster.predict(dm).astype(np.float64).reshape(len(y), -1)
    check(want.shape == ours.shape, f"{name}: shapes {want.shape} vs {ours.shape}")
    if want.shape != ours.shape:
        return
    diff = np.abs(ours - want) / np.maximum(1.0, np.abs(want))
    bad = int((diff > 1e-6).sum())
    check(bad == 0, f"{name}: {bad} scores differ by more than 1e-6 (max {diff.max():.3g})")
    # The same training in python: a plain DMatrix and xgboost.train.
    objective, metric = {"binary": ("binary:logistic", "logloss"),
                         "multiclass": ("multi:softprob", "mlogloss"),
                         "regression": ("reg:squarederror", "rmse")}[task]
    params = {"booster": "gbtree", "tree_method": "hist", "objective": objective,
              "eval_metric": metric, "nthread": 2, "seed": 42, "max_depth": 6, "eta": 0.2,
              "min_child_weight": 1, "subsample": 1, "colsample_bytree": 1, "lambda": 1,
              "alpha": 0, "max_bin": 256, "base_score": 0.5, "verbosity": 0}
    if task == "multiclass":
        params["num_class"] = n_classes
    dtr = xgb.DMatrix(X[tr], y[tr], missing=np.nan, feature_types=types, enable_categorical=True)
    dva = xgb.DMatrix(X[va], y[va], missing=np.nan, feature_types=types, enable_categorical=True)
    history = {}
    py_booster = xgb.train(params, dtr, run, evals=[(dva, "valid")], evals_result=history,
                           verbose_eval=False)
    py_best = int(np.argmin(history["valid"][metric]))
    check(py_best == best, f"{name}: python's best round {py_best}, ours {best}")
    py_want = py_booster.predict(dm, iteration_range=(0, best + 1)).astype(np.float64)
    py_want = py_want.reshape(len(y), -1)
    py_diff = np.abs(ours - py_want) / np.maximum(1.0, np.abs(py_want))
    py_bad = int((py_diff > 1e-6).sum())
    check(py_bad == 0, f"{name}: {py_bad} scores differ from python-trained xgboost by more "
          f"than 1e-6 (max {py_diff.max():.3g})")
    print(f"{name}: {len(y)} rows, {X.shape[1]} features, best round {best} of {run}, "
          f"max difference {diff.max():.3g}, from python-trained {py_diff.max():.3g}",
          flush=True)


def main():
    paths = {k: os.path.join(DATA, v) for k, v in {
        "telco": "telco_churn.csv", "adult": "adult_train.csv",
        "electricity": "electricity.csv", "hotels": "hotel_bookings.csv.gz"}.items()}
    for p in paths.values():
        if not os.path.exists(p):
            print("skip: missing", p)
            sys.exit(77)
    telco = pd.read_csv(paths["telco"], dtype=str, keep_default_na=False)
    run_case("telco/binary", telco, "Churn", {"customerID"}, "binary")
    run_case("telco/multiclass", telco, "Contract", {"customerID", "Churn"}, "multiclass")
    adult = pd.read_csv(paths["adult"], skipinitialspace=True, dtype=str,
                        keep_default_na=False)
    adult.columns = [c.strip() for c in adult.columns]
    run_case("adult/binary", adult, "incomes", set(), "binary")
    run_case("adult/multiclass", adult, "relationship", {"incomes"}, "multiclass")
    elec = pd.read_csv(paths["electricity"])
    run_case("electricity/binary", elec, "class", {"date"}, "binary")
    hotels = pd.read_csv(paths["hotels"], dtype=str, keep_default_na=False)
    hotels = hotels.sample(n=min(20000, len(hotels)), random_state=3)
    leak = {"reservation_status", "reservation_status_date"}
    run_case("hotels/binary", hotels, "is_canceled", leak, "binary")
    run_case("hotels/regression", hotels, "adr", leak | {"is_canceled"}, "regression")
    print(f"{passes} passed, {len(failures)} failed")
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
