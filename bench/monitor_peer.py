#!/usr/bin/python3
"""The Python side of bench/monitor.sh: drift of a window against a reference
the way a numpy/scipy user computes it, one column at a time.

    monitor_peer.py META.json REF.npy REF_ROWS CUR.npy

REF.npy and CUR.npy are float64 arrays of shape (features, rows) written by
bench/monitor_gen.c (categories as their index, NaN for missing); the
reference sample is the first REF_ROWS rows of REF.npy, the training part
cairn's reference statistics describe. Missing values are dropped on both
sides first.

- Numbers: PSI over the reference deciles (np.quantile, linear
  interpolation; edges kept only when strictly above the minimum and the
  previous edge, so a column with ties gets fewer bins), counted with
  np.histogram between -inf and +inf; shares floored at 1e-4; PSI =
  sum (w - r) ln(w / r). Then scipy.stats.ks_2samp(reference, window), the
  exact two-sample Kolmogorov-Smirnov statistic on the raw values.
- Categories: PSI over the category shares (np.unique with counts on both
  sides, aligned on the reference's categories plus one "other" bin for the
  window's values the reference lacks), the same floor.

Prints one JSON object: the seconds spent loading the arrays (load_s), in
the PSI pass (psi_s), in the KS pass (ks_s), their sum (compute_s), and per
feature psi, ks and the KS p-value.
"""
import json
import sys
import time

T_START = time.perf_counter()

import numpy as np  # noqa: E402
from scipy import stats  # noqa: E402

PSI_EPS = 1e-4
DECILES = np.linspace(0.1, 0.9, 9)


def psi(ref_counts, cur_counts):
    r = np.maximum(ref_counts / ref_counts.sum(), PSI_EPS)
    w = np.maximum(cur_counts / cur_counts.sum(), PSI_EPS)
    return float(np.sum((w - r) * np.log(w / r)))


def psi_number(ref, cur):
    q = np.quantile(ref, DECILES)
    edges = []
    lo = ref.min()
    for e in q:
        if e > lo and (not edges or e > edges[-1]):
            edges.append(e)
    bins = np.concatenate(([-np.inf], edges, [np.inf]))
    ref_counts, _ = np.histogram(ref, bins=bins)
    cur_counts, _ = np.histogram(cur, bins=bins)
    return psi(ref_counts, cur_counts)


def psi_category(ref, cur):
    ref_values, ref_counts = np.unique(ref, return_counts=True)
    cur_values, cur_counts = np.unique(cur, return_counts=True)
    pos = np.searchsorted(ref_values, cur_values)
    pos = np.minimum(pos, len(ref_values) - 1)
    known = ref_values[pos] == cur_values
    aligned = np.zeros(len(ref_values) + 1)
    np.add.at(aligned, pos[known], cur_counts[known])
    aligned[-1] = cur_counts[~known].sum()
    return psi(np.append(ref_counts, 0), aligned)


def main():
    if len(sys.argv) != 5:
        sys.exit("usage: monitor_peer.py META.json REF.npy REF_ROWS CUR.npy")
    meta = json.load(open(sys.argv[1]))
    ref_rows = int(sys.argv[3])

    t0 = time.perf_counter()
    ref_all = np.load(sys.argv[2])[:, :ref_rows]
    cur_all = np.load(sys.argv[4])
    ref_cols, cur_cols = [], []
    for j in range(len(meta["features"])):
        r, c = ref_all[j], cur_all[j]
        ref_cols.append(r[~np.isnan(r)])
        cur_cols.append(c[~np.isnan(c)])
    load_s = time.perf_counter() - t0

    out = {}
    t0 = time.perf_counter()
    for j, f in enumerate(meta["features"]):
        fn = psi_number if f["kind"] == "number" else psi_category
        out[f["name"]] = {"psi": fn(ref_cols[j], cur_cols[j])}
    psi_s = time.perf_counter() - t0

    t0 = time.perf_counter()
    for j, f in enumerate(meta["features"]):
        if f["kind"] == "number":
            res = stats.ks_2samp(ref_cols[j], cur_cols[j])
            out[f["name"]]["ks"] = float(res.statistic)
            out[f["name"]]["ks_p"] = float(res.pvalue)
    ks_s = time.perf_counter() - t0

    print(json.dumps({"rows": int(cur_all.shape[1]), "ref_rows": ref_rows, "load_s": load_s,
                      "psi_s": psi_s, "ks_s": ks_s, "compute_s": psi_s + ks_s,
                      "python_s": time.perf_counter() - T_START, "features": out}))


if __name__ == "__main__":
    main()
