#!/usr/bin/python3
"""The linear and baseline learners of src/learn against scikit-learn.

Random standardised data (n = 200..2000, d = 3..30, with strongly correlated
and near-duplicate columns, optional sample weights, l2 from 0.01 to 10):
binary logistic regression against LogisticRegression(C=1/l2, lbfgs),
multinomial against LogisticRegression(multi_class='multinomial'), ridge
against Ridge(alpha=l2). The scikit-learn fits use tol=1e-10 and
max_iter=10000; both sides are then near the exact optimum, so weights and
intercepts must agree to 1e-4 (absolute) and predictions (probabilities or
values, computed by sklearn's predict_proba / predict) to 1e-6. Our
objective value must also be no larger than sklearn's (plus rounding).
The baseline is checked against numpy (weighted share of class 1, class
frequencies, mean). The same comparisons run on the shared telco data
(numeric columns standardised here) when CAIRN_SHARED_DATA is present.

Each case goes through the C code via linear_driver (CAIRN_LINEAR_DRIVER),
which also round-trips the model through its byte format before predicting.
Prints "N passed, M failed"; exits 1 on any failure, 77 (skip) when sklearn
or the driver is missing.
"""
import os
import subprocess
import sys
import time
import warnings

DRIVER = os.environ.get("CAIRN_LINEAR_DRIVER", "")
if not DRIVER or not os.access(DRIVER, os.X_OK):
    print("skip: linear_driver not found (set CAIRN_LINEAR_DRIVER)")
    sys.exit(77)


def _import_sklearn():
    for attempt in range(2):
        try:
            import numpy  # noqa: F401
            import sklearn.linear_model  # noqa: F401
            return True
        except ImportError:
            if attempt == 0:
                time.sleep(60)
    return False


if not _import_sklearn():
    print("skip: python3-sklearn / python3-numpy not installed")
    sys.exit(77)

import numpy as np  # noqa: E402
from sklearn.linear_model import LogisticRegression, Ridge  # noqa: E402

warnings.simplefilter("ignore")

BINARY, MULTICLASS, REGRESSION = 1, 2, 3
W_TOL, P_TOL = 1e-4, 1e-6
SOLVER = os.environ.get("CAIRN_SKLEARN_SOLVER", "newton-cg")

passes = 0
failures = []


def check(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)


def run_driver(mode, task, X, y, k, l2, sw=None, tol=1e-10, max_iter=10000):
    n, d = X.shape
    lines = ["%s %d %d %d %d %r %r %d %d" % (mode, task, n, d, k, l2, tol, max_iter,
                                             0 if sw is None else 1)]
    for i in range(n):
        row = [repr(float(v)) for v in X[i]] + [repr(float(y[i]))]
        if sw is not None:
            row.append(repr(float(sw[i])))
        lines.append(" ".join(row))
    r = subprocess.run([DRIVER], input="\n".join(lines) + "\n", capture_output=True, text=True)
    if r.returncode != 0:
        return None, r.stderr.strip()
    out = r.stdout.split("\n")
    n_iter, conv = (int(t) for t in out[0].split())
    kk = k if task == MULTICLASS else 1
    W = np.array([[float(t) for t in out[1 + c].split()] for c in range(kk)]).reshape(kk, d)
    b = np.array([float(t) for t in out[1 + kk].split()])
    P = np.array([[float(t) for t in out[2 + kk + i].split()] for i in range(n)])
    return dict(n_iter=n_iter, converged=conv, W=W, b=b, P=P), ""


def standardise(X):
    sd = X.std(axis=0)
    sd[sd == 0] = 1.0
    return (X - X.mean(axis=0)) / sd


def make_X(rng, n, d):
    # Latent factors mixed into d columns (correlated), plus a near-duplicate.
    r = max(2, d // 2)
    Z = rng.standard_normal((n, r))
    A = rng.standard_normal((r, d))
    X = Z @ A + 0.3 * rng.standard_normal((n, d))
    X[:, -1] = X[:, 0] + 0.05 * rng.standard_normal(n)
    return standardise(X)


def objective(task, W, b, X, y, sw, l2):
    s = np.ones(len(y)) if sw is None else sw
    Z = X @ W.T + b
    if task == BINARY:
        z = Z[:, 0]
        t = 2 * y - 1
        return float(np.sum(s * np.logaddexp(0, -t * z)) + 0.5 * l2 * np.sum(W * W))
    if task == MULTICLASS:
        lse = np.logaddexp.reduce(Z, axis=1)
        return float(np.sum(s * (lse - Z[np.arange(len(y)), y.astype(int)]))
                     + 0.5 * l2 * np.sum(W * W))
    return float(np.sum(s * (y - Z[:, 0]) ** 2) + l2 * np.sum(W * W))


def compare(name, task, X, y, k, l2, sw=None):
    got, msg = run_driver("fit", task, X, y, k, l2, sw)
    if got is None:
        check(False, "%s: driver failed: %s" % (name, msg))
        return
    check(got["converged"] == 1, "%s: converged (n_iter %d)" % (name, got["n_iter"]))
    if task == REGRESSION:
        ref = Ridge(alpha=l2, tol=1e-12, solver="cholesky").fit(X, y, sample_weight=sw)
        W_ref = ref.coef_.reshape(1, -1)
        b_ref = np.array([ref.intercept_])
        P_ref = ref.predict(X).reshape(-1, 1)
    else:
        kw = dict(C=1.0 / l2, tol=1e-10, max_iter=10000, solver=SOLVER)
        if task == MULTICLASS:
            kw["multi_class"] = "multinomial"
        ref = LogisticRegression(**kw).fit(X, y.astype(int), sample_weight=sw)
        W_ref = ref.coef_
        b_ref = ref.intercept_.copy()
        P_ref = ref.predict_proba(X)
        if task == BINARY:
            P_ref = P_ref[:, 1:2]
        else:
            b_ref -= b_ref.mean()  # the softmax gauge: both sides centred
    dw = float(np.max(np.abs(got["W"] - W_ref)))
    db = float(np.max(np.abs(got["b"] - b_ref)))
    dp = float(np.max(np.abs(got["P"] - P_ref)))
    check(dw <= W_TOL, "%s: weights differ by %.3g" % (name, dw))
    check(db <= W_TOL, "%s: intercepts differ by %.3g" % (name, db))
    check(dp <= P_TOL, "%s: predictions differ by %.3g" % (name, dp))
    f_got = objective(task, got["W"], got["b"], X, y, sw, l2)
    f_ref = objective(task, W_ref, b_ref, X, y, sw, l2)
    check(f_got <= f_ref + 1e-9 * max(1.0, abs(f_ref)),
          "%s: objective %.17g above sklearn's %.17g" % (name, f_got, f_ref))


def compare_baseline(name, task, X, y, k, sw=None):
    got, msg = run_driver("base", task, X, y, k, 0.0, sw)
    if got is None:
        check(False, "%s: driver failed: %s" % (name, msg))
        return
    s = np.ones(len(y)) if sw is None else sw
    if task == MULTICLASS:
        want = np.array([np.sum(s[y == c]) for c in range(k)]) / np.sum(s)
    else:
        want = np.array([np.sum(s * y) / np.sum(s)])
    d = float(np.max(np.abs(got["P"] - want)))
    check(d <= 1e-12, "%s: baseline differs by %.3g" % (name, d))
    check(float(np.max(np.abs(got["W"]))) == 0.0 if got["W"].size else True,
          "%s: baseline weights not zero" % name)


def random_cases(rng):
    for case in range(18):
        n = int(rng.integers(200, 2001))
        d = int(rng.integers(3, 31))
        l2 = float(rng.choice([0.01, 0.1, 1.0, 10.0]))
        X = make_X(rng, n, d)
        sw = rng.uniform(0.2, 3.0, n) if case % 3 == 2 else None
        task = (BINARY, MULTICLASS, REGRESSION)[case % 3 if case % 3 != 2 else case % 2]
        task = (BINARY, MULTICLASS, REGRESSION)[(case // 3) % 3] if case % 3 == 2 else \
            (BINARY, MULTICLASS, REGRESSION)[case % 3]
        beta = rng.standard_normal(d) / np.sqrt(d) * 2
        name = "random %d (task %d n=%d d=%d l2=%g w=%s)" % (case, task, n, d, l2, sw is not None)
        if task == BINARY:
            p = 1 / (1 + np.exp(-(X @ beta + 0.5)))
            y = (rng.uniform(size=n) < p).astype(float)
            k = 2
        elif task == MULTICLASS:
            k = int(rng.integers(3, 6))
            B = rng.standard_normal((k, d)) / np.sqrt(d) * 2
            Z = X @ B.T
            P = np.exp(Z - Z.max(axis=1, keepdims=True))
            P /= P.sum(axis=1, keepdims=True)
            y = np.array([rng.choice(k, p=P[i]) for i in range(n)], dtype=float)
            if len(np.unique(y)) < k:
                y[:k] = np.arange(k)
        else:
            y = X @ beta + 3.0 + rng.standard_normal(n)
            k = 1
        compare(name, task, X, y, k, l2, sw)
        compare_baseline("baseline " + name, task, X, y, k, sw)


def separable_case(rng):
    # Perfectly separable labels: only the L2 term keeps the weights finite.
    n, d = 300, 5
    X = standardise(rng.standard_normal((n, d)))
    y = (X[:, 0] + X[:, 1] > 0).astype(float)
    compare("separable binary", BINARY, X, y, 2, 0.1)


def telco_cases():
    base = os.environ.get("CAIRN_SHARED_DATA", "")
    path = os.path.join(base, "telco_churn.csv")
    if not base or not os.path.exists(path):
        print("note: shared telco data missing, skipping those cases")
        return
    import csv
    rows = list(csv.DictReader(open(path, newline="")))
    rows = [r for r in rows if r["TotalCharges"].strip() != ""]
    cols = ["SeniorCitizen", "tenure", "MonthlyCharges", "TotalCharges"]
    X = standardise(np.array([[float(r[c]) for c in cols] for r in rows]))
    y = np.array([1.0 if r["Churn"] == "Yes" else 0.0 for r in rows])
    compare("telco churn binary", BINARY, X, y, 2, 1.0)
    compare_baseline("telco churn baseline", BINARY, X, y, 2)
    contracts = sorted(set(r["Contract"] for r in rows))
    yc = np.array([float(contracts.index(r["Contract"])) for r in rows])
    compare("telco contract multinomial", MULTICLASS, X, yc, len(contracts), 1.0)
    compare_baseline("telco contract baseline", MULTICLASS, X, yc, len(contracts))
    Xr = X[:, [0, 1, 3]]
    yr = np.array([float(r["MonthlyCharges"]) for r in rows])
    compare("telco monthly charges ridge", REGRESSION, Xr, yr, 1, 1.0)
    compare_baseline("telco monthly charges baseline", REGRESSION, Xr, yr, 1)


def main():
    rng = np.random.default_rng(20261123)
    random_cases(rng)
    separable_case(rng)
    telco_cases()
    print("%d passed, %d failed" % (passes, len(failures)))
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
