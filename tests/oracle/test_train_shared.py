#!/usr/bin/python3
"""Quality bars of `cairn train` with default model settings on the shared data
(issue 3), through the real binary:

- Adult, trained on the train file and tested on the test file: AUC >= 0.925.
  The two files are put one after the other (the test file's labels lose
  their trailing full stop) and split by row order so that the test part is
  exactly the test file's 16,281 rows.
- electricity, split by row order (last 20% test): AUC >= 0.85.
- Telco churn, stratified split, seed 42: AUC >= 0.83.
- hotel bookings: the `reservation_status` leak is found and named critical.

The bars are checked on the test AUC each run records (the metric itself is
checked against scikit-learn in test_metrics_sklearn.py). Skips (exit 77)
without the shared data.
"""
import json
import os
import subprocess
import tempfile

import shared_env
from shared_env import check

DATA, CAIRN = shared_env.need("adult_train.csv")


def cairn(home, *args):
    p = subprocess.run([CAIRN, "--home", home, *args], capture_output=True, text=True)
    if p.returncode != 0:
        raise SystemExit(f"cairn {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p.stdout


def train(home, tmp, name, spec):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(spec)
    return json.loads(cairn(home, "--json", "train", path))


def auc_of(run):
    m = run["eval"]["model"]["metrics"]["auc"]
    return m["estimate"], m["lo"], m["hi"]


with tempfile.TemporaryDirectory() as tmp:
    home = os.path.join(tmp, "home")
    cairn(home, "init")

    # Adult: train file then test file, labels without the trailing dot.
    adult = os.path.join(tmp, "adult.csv")
    with open(adult, "w") as out:
        with open(os.path.join(DATA, "adult_train.csv")) as f:
            out.write(f.read().rstrip("\n") + "\n")
        with open(os.path.join(DATA, "adult_test.csv")) as f:
            next(f)
            for line in f:
                line = line.rstrip("\n")
                if line:
                    out.write((line[:-1] if line.endswith(".") else line) + "\n")
    cairn(home, "data", "add", adult, "--name", "adult", "--na", "?")
    r = train(home, tmp, "adult", """name: adult
data: adult
label: incomes
positive: ">50K"
split: {by: order, valid: 0.1, test: 0.333333}
""")
    check(r["split"]["rows"]["test"] == 16281, f"adult: test part is the test file ({r['split']['rows']['test']} rows)")
    est, lo, hi = auc_of(r)
    check(est >= 0.925, f"adult train -> test AUC {est:.4f} >= 0.925")
    check(lo <= est <= hi, f"adult AUC interval [{lo:.4f}, {hi:.4f}] holds it")

    cairn(home, "data", "add", os.path.join(DATA, "electricity.csv"), "--name", "electricity")
    r = train(home, tmp, "elec", """name: electricity
data: electricity
label: class
positive: UP
split: {by: order, test: 0.2}
""")
    est, lo, hi = auc_of(r)
    check(r["split"]["rows"]["test"] == 9062, f"electricity: last 20% is test ({r['split']['rows']['test']})")
    check(est >= 0.85, f"electricity by order AUC {est:.4f} >= 0.85")

    cairn(home, "data", "add", os.path.join(DATA, "telco_churn.csv"), "--name", "telco")
    r = train(home, tmp, "telco", """name: telco
data: telco
label: Churn
positive: "Yes"
entity: customerID
split: {by: stratified}
seed: 42
""")
    est, lo, hi = auc_of(r)
    check(r["split"]["by"] == "stratified", "telco: stratified split")
    check(est >= 0.83, f"telco stratified seed 42 AUC {est:.4f} >= 0.83")

    cairn(home, "data", "add", os.path.join(DATA, "hotel_bookings.csv.gz"), "--name", "hotels")
    r = train(home, tmp, "hotels", """name: hotels
data: hotels
label: is_canceled
positive: 1
split: {by: stratified}
evaluation: {bootstrap: 200}
""")
    crit = [f for f in r["findings"] if f["severity"] == "critical" and f["code"] == "single_feature_leak"]
    check(any(f["column"] == "reservation_status" for f in crit),
          "hotels: reservation_status leak named critical (" + ", ".join(f["column"] for f in crit) + ")")

shared_env.finish()
