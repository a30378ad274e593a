#!/usr/bin/python3
"""The metrics of src/eval against scikit-learn, scipy and numpy.

Random inputs with many ties (scores rounded to one or two decimals, exact 0
and 1 probabilities, all-equal scores), sizes 0..5 and larger, imbalanced
labels, thresholds equal to a score, regression labels with zeros and
constant labels, multiclass k = 3..5 with rows that do not sum to one and
classes that never occur. Each case goes through the C functions via the
metrics_driver program (CAIRN_METRICS_DRIVER), and every value must equal the
oracle's to 1e-9 (absolute below 1, relative above); where docs/metrics.md
says a metric is undefined the C side must give NaN, and where sklearn uses a
convention instead (R2 of constant labels, average precision without
positives) the expectation is NaN as documented. The bootstrap is replayed in
Python: its generator (splitmix64 -> xoshiro256**, rejection sampling) is
re-implemented here, each resample's AUC comes from sklearn, and the interval
from numpy.percentile.

Prints "N passed, M failed"; exits 1 on any failure, 77 (skip) when sklearn
or the driver is missing.
"""
import math
import os
import subprocess
import sys
import time
import warnings
from fractions import Fraction

DRIVER = os.environ.get("CAIRN_METRICS_DRIVER", "")
if not DRIVER or not os.access(DRIVER, os.X_OK):
    print("skip: metrics_driver not found (set CAIRN_METRICS_DRIVER)")
    sys.exit(77)


def _import_sklearn():
    # python3-sklearn may be in the middle of being installed on a fresh
    # machine; one retry after a pause avoids a spurious skip.
    for attempt in range(2):
        try:
            import numpy  # noqa: F401
            import scipy.stats  # noqa: F401
            import sklearn.metrics  # noqa: F401
            return True
        except ImportError:
            if attempt == 0:
                time.sleep(60)
    return False


if not _import_sklearn():
    print("skip: python3-sklearn / python3-scipy / python3-numpy not installed")
    sys.exit(77)

import numpy as np  # noqa: E402
import scipy.stats  # noqa: E402
from sklearn import metrics as skm  # noqa: E402

warnings.simplefilter("ignore")

passes = 0
failures = []


def close(got, want, tol=1e-9):
    if math.isnan(want):
        return math.isnan(got)
    if math.isinf(want):
        return got == want
    return abs(got - want) <= tol * max(1.0, abs(want))


def check(cond, what):
    global passes
    if cond:
        passes += 1
    else:
        failures.append(what)
        print("FAIL:", what, flush=True)


def check_value(case, name, got, want):
    check(close(got, want), f"{case}: {name} = {got!r}, expected {want!r}")


def sk(fn, *args, **kw):
    """sklearn's value, NaN where it raises (undefined input)."""
    try:
        return float(fn(*args, **kw))
    except ValueError:
        return float("nan")


def parse(line):
    kind, *toks = line.split()
    out = {}
    for t in toks:
        k, v = t.split("=")
        out[k] = float(v)
    return kind, out


# ---- xoshiro256** / splitmix64, as documented in docs/metrics.md ------------------
M64 = (1 << 64) - 1


class Rng:
    def __init__(self, seed):
        x = seed & M64
        self.s = []
        for _ in range(4):
            x = (x + 0x9E3779B97F4A7C15) & M64
            z = x
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
            self.s.append(z ^ (z >> 31))

    def next(self):
        s = self.s
        rotl = lambda x, k: ((x << k) | (x >> (64 - k))) & M64  # noqa: E731
        result = (rotl((s[1] * 5) & M64, 7) * 9) & M64
        t = (s[1] << 17) & M64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = rotl(s[3], 45)
        return result

    def below(self, bound):
        cut = (1 << 64) % bound
        while True:
            r = self.next()
            if r >= cut:
                return r % bound


# ---- case generation ------------------------------------------------------------------
rng = np.random.default_rng(20261123)


def binary_case(n, prevalence, decimals, mode):
    y = (rng.random(n) < prevalence).astype(int)
    if mode == "equal":
        s = np.full(n, 0.37)
    elif mode == "perfect":
        s = np.where(y == 1, 0.9, 0.1) + 0.0
    elif mode == "inverted":
        s = np.where(y == 1, 0.1, 0.9) + 0.0
    else:
        s = np.clip(rng.normal(0.35 + 0.3 * y, 0.25), 0, 1)
        s = np.round(s, decimals)
    if mode == "extremes" and n:
        s[rng.random(n) < 0.2] = 0.0
        s[rng.random(n) < 0.2] = 1.0
    return s, y


bin_cases = []
for n in [0, 1, 2, 3, 4, 5, 7, 10, 37, 200, 1500]:
    for prevalence in [0.03, 0.3, 0.5, 0.95]:
        for decimals, mode in [(2, "random"), (1, "random"), (2, "extremes"), (2, "equal"),
                               (2, "perfect"), (2, "inverted"), (6, "random")]:
            if n > 200 and mode in ("perfect", "inverted", "equal"):
                continue
            s, y = binary_case(n, prevalence, decimals, mode)
            t = float(s[rng.integers(n)]) if n and rng.random() < 0.5 else 0.5
            nbins = 10 if rng.random() < 0.8 else int(rng.integers(1, 25))
            bin_cases.append((s, y, t, nbins))
        # Scores on and next to the ECE bin edges i/nbins (where floor(p *
        # nbins) can land in the wrong bin).
        for nbins in [3, 7, 10, 13]:
            edges = np.arange(nbins + 1) / nbins
            pool = np.concatenate([edges, np.nextafter(edges, -1), np.nextafter(edges, 2)])
            pool = pool[(pool >= 0) & (pool <= 1)]
            s = rng.choice(pool, size=n)
            y = (rng.random(n) < prevalence).astype(int)
            t = float(s[rng.integers(n)]) if n else 0.5
            bin_cases.append((s, y, t, nbins))


def reg_case(n, mode):
    y = np.round(rng.normal(10, 4, n), 1)
    if mode == "zeros" and n:
        y[rng.integers(n)] = 0.0
    if mode == "constant":
        y = np.full(n, 3.5)
    pred = np.round(y + rng.normal(0, 2, n), 1 if mode == "ties" else 6)
    if mode == "const_pred":
        pred = np.full(n, 1.25)
    return pred, y


reg_cases = []
for n in [0, 1, 2, 3, 4, 5, 9, 50, 1000]:
    for mode in ["plain", "ties", "zeros", "constant", "const_pred"]:
        reg_cases.append(reg_case(n, mode))


def mc_case(n, k, mode):
    p = rng.dirichlet(np.ones(k) * 0.7, size=n) if n else np.zeros((0, k))
    if mode == "rounded":
        p = np.round(p, 1)  # argmax ties, zeros (clipped), rows not summing to 1
    if mode == "equal":
        p = np.full((n, k), 1.0 / k)
    weights = np.array([0.6] + [0.4 / (k - 1)] * (k - 1))
    if mode == "missing":
        weights = np.array([0.5, 0.5] + [0.0] * (k - 2))
    y = rng.choice(k, size=n, p=weights)
    return p, y, k


mc_cases = []
for n in [1, 2, 3, 4, 5, 11, 300]:
    for k in [3, 4, 5]:
        for mode in ["plain", "rounded", "equal", "missing"]:
            mc_cases.append(mc_case(n, k, mode))

boot_cases = []
for n, nboot, seed in [(40, 200, 1), (15, 300, 7), (6, 100, 12345678901234567), (120, 150, 0)]:
    s, y = binary_case(n, 0.4, 2, "random")
    boot_cases.append((s, y, nboot, seed))

# ---- run the driver --------------------------------------------------------------------
lines = []
for s, y, t, nbins in bin_cases:
    lines.append(f"bin {len(s)} {t!r} {nbins}")
    lines.extend(f"{float(a)!r} {int(b)}" for a, b in zip(s, y))
for pred, y in reg_cases:
    lines.append(f"reg {len(y)}")
    lines.extend(f"{float(a)!r} {float(b)!r}" for a, b in zip(pred, y))
for p, y, k in mc_cases:
    lines.append(f"mc {len(y)} {k}")
    lines.extend(" ".join(repr(float(v)) for v in row) + f" {int(c)}" for row, c in zip(p, y))
for s, y, nboot, seed in boot_cases:
    lines.append(f"boot {len(s)} {nboot} {seed}")
    lines.extend(f"{float(a)!r} {int(b)}" for a, b in zip(s, y))

proc = subprocess.run([DRIVER], input="\n".join(lines) + "\n", capture_output=True, text=True)
if proc.returncode != 0:
    print("FAIL: metrics_driver exited", proc.returncode, proc.stderr)
    sys.exit(1)
results = [parse(l) for l in proc.stdout.splitlines()]
expected_count = len(bin_cases) + len(reg_cases) + len(mc_cases) + len(boot_cases)
check(len(results) == expected_count, f"driver answered {len(results)} of {expected_count} cases")
it = iter(results)

# ---- binary -----------------------------------------------------------------------------
for ci, (s, y, t, nbins) in enumerate(bin_cases):
    kind, r = next(it)
    case = f"bin#{ci} n={len(s)} pos={int(y.sum())} t={t}"
    n = len(s)
    nan = float("nan")
    check_value(case, "auc", r["auc"], sk(skm.roc_auc_score, y, s) if n else nan)
    # Average precision: NaN without positives (sklearn warns and returns 0).
    ap = sk(skm.average_precision_score, y, s) if y.sum() > 0 else nan
    check_value(case, "pr_auc", r["pr_auc"], ap)
    check_value(case, "logloss", r["logloss"],
                sk(skm.log_loss, y, s, eps=1e-15, labels=[0, 1]) if n else nan)
    check_value(case, "brier", r["brier"],
                sk(skm.brier_score_loss, y, s, pos_label=1) if n else nan)
    pred = (s >= t).astype(int)
    if n:
        tn, fp, fn, tp = skm.confusion_matrix(y, pred, labels=[0, 1]).ravel()
        check_value(case, "accuracy", r["accuracy"], skm.accuracy_score(y, pred))
        check_value(case, "precision", r["precision"],
                    skm.precision_score(y, pred, zero_division=0))
        check_value(case, "recall", r["recall"], skm.recall_score(y, pred, zero_division=0))
        check_value(case, "f1", r["f1"], skm.f1_score(y, pred, zero_division=0))
        check((r["tp"], r["fp"], r["tn"], r["fn"]) == (tp, fp, tn, fn),
              f"{case}: confusion {r['tp'], r['fp'], r['tn'], r['fn']} != {tp, fp, tn, fn}")
    else:
        check(math.isnan(r["accuracy"]) and r["precision"] == 0 and r["recall"] == 0
              and r["f1"] == 0, f"{case}: empty confusion metrics {r}")
    # Max-F1 threshold by brute force over the distinct scores with exact fractions.
    best_t, best_f = nan, None
    if n and y.sum() > 0:
        for cand in np.unique(s):
            pr = s >= cand
            tp_ = int((pr & (y == 1)).sum())
            f = Fraction(2 * tp_, tp_ + int(pr.sum()) + int(y.sum()))
            if best_f is None or f > best_f:
                best_f, best_t = f, float(cand)
    check_value(case, "max_f1_threshold", r["max_f1_threshold"], best_t)
    # ECE with numpy: edges i/nbins, last bin closed.
    if n:
        edges = np.arange(nbins + 1) / nbins
        b = np.clip(np.searchsorted(edges, s, side="right") - 1, 0, nbins - 1)
        ece = 0.0
        for i in range(nbins):
            m = b == i
            check(r[f"count{i}"] == m.sum(), f"{case}: ECE bin {i} count {r[f'count{i}']} != {m.sum()}")
            if m.any():
                ece += m.sum() / n * abs(s[m].mean() - y[m].mean())
    else:
        ece = nan
    check_value(case, "ece", r["ece"], ece)

# ---- regression ---------------------------------------------------------------------------
for ci, (pred, y) in enumerate(reg_cases):
    kind, r = next(it)
    n = len(y)
    case = f"reg#{ci} n={n}"
    nan = float("nan")
    check_value(case, "rmse", r["rmse"],
                sk(skm.mean_squared_error, y, pred, squared=False) if n else nan)
    check_value(case, "mae", r["mae"], sk(skm.mean_absolute_error, y, pred) if n else nan)
    # R2: NaN for constant labels (documented); sklearn's force_finite=False
    # gives nan or -inf there, its default 1.0 or 0.0.
    constant = n == 0 or bool(np.all(y == y[0]))
    r2 = nan if constant else sk(skm.r2_score, y, pred)
    check_value(case, "r2", r["r2"], r2)
    mape = nan if n == 0 or np.any(y == 0) else sk(skm.mean_absolute_percentage_error, y, pred)
    check_value(case, "mape", r["mape"], mape)
    if n >= 2 and not np.all(pred == pred[0]) and not np.all(y == y[0]):
        rho = float(scipy.stats.spearmanr(pred, y).correlation)
    else:
        rho = nan
    check_value(case, "spearman", r["spearman"], rho)

# ---- multiclass -----------------------------------------------------------------------------
for ci, (p, y, k) in enumerate(mc_cases):
    kind, r = next(it)
    case = f"mc#{ci} n={len(y)} k={k}"
    am = np.argmax(p, axis=1)
    check_value(case, "accuracy", r["accuracy"], skm.accuracy_score(y, am))
    check_value(case, "macro_f1", r["macro_f1"],
                skm.f1_score(y, am, average="macro", labels=list(range(k)), zero_division=0))
    check_value(case, "logloss", r["logloss"],
                sk(skm.log_loss, y, p, eps=1e-15, labels=list(range(k))))

# ---- bootstrap --------------------------------------------------------------------------------
for ci, (s, y, nboot, seed) in enumerate(boot_cases):
    kind, r = next(it)
    case = f"boot#{ci} n={len(s)} B={nboot} seed={seed}"
    g = Rng(seed)
    vals = []
    for _ in range(nboot):
        idx = [g.below(len(s)) for _ in range(len(s))]
        ys = y[idx]
        if ys.min() != ys.max():
            vals.append(skm.roc_auc_score(ys, s[idx]))
    check_value(case, "estimate", r["estimate"], skm.roc_auc_score(y, s))
    check(r["n_valid"] == len(vals), f"{case}: n_valid {r['n_valid']} != {len(vals)}")
    lo, hi = np.percentile(vals, [2.5, 97.5]) if vals else (float("nan"),) * 2
    check_value(case, "lo", r["lo"], float(lo))
    check_value(case, "hi", r["hi"], float(hi))

print(f"{passes} passed, {len(failures)} failed")
sys.exit(1 if failures else 0)
