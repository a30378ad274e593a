#!/usr/bin/python3
"""Real drift on the electricity data (Elec2), through the real binary.

Train on the first year by row order (17,520 half-hours), batch-score the rest
with --log (each row logged at its own half-hour, with a request id), add its
labels by request id, and monitor by calendar month. What is known of this
data: vicprice, vicdemand and transfer are constant in the first 17,424 rows
(Victoria's data was missing and filled in), and vary afterwards. So:

1. every month after training raises a feature_drift ALERT for each of the
   three (their reference is a single value: KS sees it even where PSI, with
   one bin, cannot);
2. every month reports the model's AUC with a bootstrap interval that holds
   the estimate, next to the AUC at training time;
3. independent oracles on one month: PSI recomputed with numpy from the
   training part (refstats' decile bins) equals cairn's to 1e-9, and scipy's
   exact ks_2samp statistic D lies within cairn's documented bound
   (ks - 1/n <= D <= ks + ks_bound);
4. labels: every scored row joins its label, and a window's labelled count is
   its row count.

Skips (exit 77) without the shared data.
"""
import csv
import datetime
import json
import os
import subprocess
import tempfile

import numpy as np
from scipy import stats

import shared_env
from shared_env import check

DATA, CAIRN = shared_env.need("electricity.csv")
SRC = os.path.join(DATA, "electricity.csv")


def cairn(home, *args, want=(0,)):
    p = subprocess.run([CAIRN, "--home", home, *args], capture_output=True, text=True)
    if p.returncode not in want:
        raise SystemExit(f"cairn {' '.join(args)}: exit {p.returncode}, wanted {want}\n"
                         f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


FIRST_YEAR = 365 * 48
STUCK = ("vicprice", "vicdemand", "transfer")

with tempfile.TemporaryDirectory(dir=os.environ.get("CAIRN_TEST_TMP")) as tmp:
    home = os.path.join(tmp, "home")
    with open(SRC) as f:
        rows = list(csv.reader(f))
    header, data = rows[0], rows[1:]
    t0 = datetime.datetime(1996, 5, 7, tzinfo=datetime.timezone.utc)

    def ts(i):
        return (t0 + datetime.timedelta(minutes=30 * i)).strftime("%Y-%m-%dT%H:%M:%SZ")

    with open(os.path.join(tmp, "train.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "rid"] + header)
        for i, r in enumerate(data[:FIRST_YEAR]):
            w.writerow([ts(i), f"r{i}"] + r)
    with open(os.path.join(tmp, "rest.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["ts", "rid"] + header[:-1])
        for i, r in enumerate(data[FIRST_YEAR:], FIRST_YEAR):
            w.writerow([ts(i), f"r{i}"] + r[:-1])
    with open(os.path.join(tmp, "labels.csv"), "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["request_id", "class"])
        for i, r in enumerate(data[FIRST_YEAR:], FIRST_YEAR):
            w.writerow([f"r{i}", r[-1]])
    spec = os.path.join(tmp, "elec.yaml")
    with open(spec, "w") as f:
        f.write("name: elec\ndata: elec@1\nlabel: class\npositive: UP\ntime: ts\n"
                "split: {by: time, valid: 0.1, test: 0.2}\n"
                "features: {exclude: [rid, date]}\n"
                "model: {type: gbdt, rounds: 100, max_depth: 6, learning_rate: 0.1}\n"
                "evaluation: {bootstrap: 200}\n")

    cairn(home, "init", "-q")
    cairn(home, "data", "add", os.path.join(tmp, "train.csv"), "--name", "elec", "-q")
    cairn(home, "train", spec, "-q")
    run = json.loads(cairn(home, "--json", "runs", "ls").stdout)["runs"][0]
    cairn(home, "promote", run["id"], "--model", "elec", "--override", "drift test", "-q")
    cairn(home, "predict", "elec", os.path.join(tmp, "rest.csv"), "--log", "--time", "ts",
          "--id", "rid", "-o", os.path.join(tmp, "scores.csv"))
    cairn(home, "labels", "add", os.path.join(tmp, "labels.csv"), "--key", "request_id",
          "--label", "class")
    p = cairn(home, "--json", "monitor", "elec", "--window", "1mo", want=(1,))
    mon = json.loads(p.stdout)

    n_rest = len(data) - FIRST_YEAR
    check(mon["log"]["model_records"] == n_rest,
          f"every scored row is in the log ({mon['log']['model_records']} of {n_rest})")
    check(mon["labels"]["joined"] == n_rest, f"every row joins its label ({mon['labels']['joined']})")
    wins = [w for w in mon["windows"] if not w["shadow"]]
    check(len(wins) == 20, f"20 calendar months from 1997-05 to 1998-12 ({len(wins)})")
    check(sum(w["rows"] for w in wins) == n_rest, "the months hold every row")
    check(all(w["labelled"] == w["rows"] for w in wins), "each month is fully labelled")

    # 1. the stuck columns alert in every month after training
    alerts = {(a["window"], a["subject"]) for a in mon["alerts"]
              if a["kind"] == "feature_drift" and a["severity"] == "alert"}
    for col in STUCK:
        months = [w["start"] for w in wins if (w["start"], col) in alerts]
        check(len(months) == len(wins),
              f"{col}: feature_drift alert in {len(months)} of {len(wins)} months")
    check(p.returncode == 1 and mon["severity"] == "alert", "exit 1 with severity alert")

    # 2. performance per month with intervals, against training
    ok = True
    for w in wins:
        auc = [m for m in w["metrics"] if m["name"] == "auc"]
        if not auc:
            ok = False
            continue
        m = auc[0]
        ok = ok and m["lo"] <= m["value"] <= m["hi"] and m["train"] is not None \
            and abs(m["drop"] - (m["train"] - m["value"])) < 1e-12
    check(ok, "every month: AUC with a bootstrap interval holding it, and its drop vs training")
    drops = [a for a in mon["alerts"] if a["kind"] == "performance"]
    check(len(drops) >= 1, f"the AUC drop raises performance alerts ({len(drops)})")

    # 3. oracles on one month (1998-01): the training part is the first train rows
    split = json.loads(cairn(home, "--json", "runs", "show", run["id"]).stdout)
    n_train = split["split"]["rows"]["train"] if "split" in split else None
    cols = {h: i for i, h in enumerate(header)}
    train_part = np.array([[float(r[cols[c]]) for c in ("nswprice", "vicprice", "nswdemand")]
                           for r in data[:n_train]])
    win = next(w for w in wins if w["start"].startswith("1998-01"))
    jan = [i for i in range(FIRST_YEAR, len(data)) if ts(i).startswith("1998-01")]
    cur = np.array([[float(data[i][cols[c]]) for c in ("nswprice", "vicprice", "nswdemand")]
                    for i in jan])
    for k, col in enumerate(("nswprice", "vicprice", "nswdemand")):
        f = next(x for x in win["features"] if x["name"] == col)
        ref, now = train_part[:, k], cur[:, k]
        # refstats' bins: deciles (type 7) strictly above the minimum and the previous edge
        edges = []
        for q in np.quantile(ref, np.arange(1, 10) / 10):
            if q > ref.min() and (not edges or q > edges[-1]):
                edges.append(q)
        rc = np.bincount(np.searchsorted(edges, ref, side="right"), minlength=len(edges) + 1)
        wc = np.bincount(np.searchsorted(edges, now, side="right"), minlength=len(edges) + 1)
        r_sh = np.maximum(rc / rc.sum(), 1e-4)
        w_sh = np.maximum(wc / wc.sum(), 1e-4)
        psi = float(np.sum((w_sh - r_sh) * np.log(w_sh / r_sh)))
        check(abs(psi - f["psi"]) < 1e-9, f"{col} 1998-01: PSI {f['psi']:.6f} = numpy {psi:.6f}")
        d = stats.ks_2samp(ref, now).statistic
        lo, hi = f["ks"] - 1.0 / len(ref), f["ks"] + f["ks_bound"]
        check(lo - 1e-12 <= d <= hi + 1e-12,
              f"{col} 1998-01: scipy KS {d:.4f} within [{lo:.4f}, {hi:.4f}]")

    # the human report names the stuck columns too
    txt = cairn(home, "monitor", "elec", "--window", "1mo", want=(1,)).stdout
    check(all(c in txt for c in STUCK) and "ALERT" in txt, "the terminal report lists them")

shared_env.finish()
