#!/usr/bin/python3
"""The model lifecycle of issue 4 on the shared data, through the real binary:

1. Telco churn v1 (gbdt) trained with gates declared in its spec, reviewed and
   promoted: telco@1 is production.
2. v2, a spec that is worse on the gated metric (a linear model on two weak
   columns): `review` says BLOCK, `promote` is refused (exit 1) naming the
   failed gate auc_vs_production, and production stays on version 1. The
   comparison is made on v2's own test rows, which are v1's too (same data,
   split and seed): the production AUC it reports must equal v1's recorded
   AUC to 1e-9.
3. Hotel bookings with its leaking column (reservation_status): BLOCK, refused.
4. Overrides with a reason: recorded in the audit log and shown by `models show`
   with the failed gates.
5. Rollback: telco@production goes back to version 1 at once (no training).
6. Lineage: "which dataset version trained production" is answered by
   `models show` and agrees with `data show` and `runs show`.

Skips (exit 77) without the shared data.
"""
import json
import os
import subprocess
import tempfile

import shared_env
from shared_env import check

DATA, CAIRN = shared_env.need("telco_churn.csv")


def cairn(home, *args, want=0):
    p = subprocess.run([CAIRN, "--home", home, *args], capture_output=True, text=True)
    if p.returncode != want:
        raise SystemExit(f"cairn {' '.join(args)}: exit {p.returncode}, wanted {want}\n"
                         f"stdout: {p.stdout[-2000:]}\nstderr: {p.stderr[-2000:]}")
    return p


def cj(home, *args, want=0):
    return json.loads(cairn(home, "--json", *args, want=want).stdout)


def train(home, tmp, name, spec):
    path = os.path.join(tmp, name + ".yaml")
    with open(path, "w") as f:
        f.write(spec)
    return cj(home, "train", path)


TELCO_GATES = """gates:
  auc: {min: 0.80}
  auc_vs_baseline: {min_delta: 0.05}
  auc_vs_production: {min_delta: -0.005}
  slice_auc_drop: {max: 0.10}
"""

with tempfile.TemporaryDirectory() as tmp:
    home = os.path.join(tmp, "home")
    cairn(home, "init")
    cairn(home, "data", "add", os.path.join(DATA, "telco_churn.csv"), "--name", "telco")
    cairn(home, "contract", "infer", "telco", "--label", "Churn", "--entity", "customerID",
          "--save", "-o", os.path.join(tmp, "telco.contract.yaml"))

    # 1. v1: promoted.
    v1 = train(home, tmp, "telco_v1", """name: telco
data: telco@1
label: Churn
positive: "Yes"
entity: customerID
split: {by: stratified}
seed: 42
evaluation: {slices: [Contract], bootstrap: 300}
""" + TELCO_GATES)
    v1_auc = v1["eval"]["model"]["metrics"]["auc"]["estimate"]
    check(v1["status"] == "succeeded" and v1_auc >= 0.80, f"telco v1 trained, AUC {v1_auc:.4f}")
    rv = cairn(home, "review", v1["id"])
    check("Decision: APPROVE" in rv.stdout and "BLOCK" not in rv.stdout.splitlines()[-1],
          "telco v1 review approves: " + rv.stdout.strip().splitlines()[-1])
    p = cj(home, "promote", v1["id"], "--model", "telco", "--reason", "first release")
    check(p["promoted"] and p["version"] == 1 and p["from_version"] == 0,
          f"telco v1 promoted as telco@1 (version {p['version']})")
    gates = {g["metric"]: g["status"] for g in p["review"]["gates"]}
    check(gates.get("auc_vs_production") == "n/a" and gates.get("auc") == "pass",
          f"first promotion: production gates n/a, auc passes ({gates})")

    # 2. v2: worse on the gated metric -> refused.
    v2 = train(home, tmp, "telco_v2", """name: telco
data: telco@1
label: Churn
positive: "Yes"
entity: customerID
split: {by: stratified}
seed: 42
features: {include: [gender, PhoneService]}
model: {type: linear}
evaluation: {slices: [Contract], bootstrap: 300}
""" + TELCO_GATES)
    v2_auc = v2["eval"]["model"]["metrics"]["auc"]["estimate"]
    check(v2_auc < v1_auc - 0.05, f"telco v2 is worse: AUC {v2_auc:.4f} < {v1_auc:.4f}")
    r = cj(home, "review", v2["id"], want=1)
    check(r["decision"] == "BLOCK", "telco v2 review: BLOCK")
    comp = (r.get("production") or {}).get("comparison") or {}
    auc_c = (comp.get("metrics") or {}).get("auc") or {}
    check(abs(auc_c.get("production", -1) - v1_auc) < 1e-9 and
          abs(auc_c.get("candidate", -1) - v2_auc) < 1e-9,
          "comparison on the same test rows: production AUC there equals v1's recorded AUC")
    check(auc_c.get("hi", 1) < 0, f"v2's AUC loss is beyond its paired interval [{auc_c.get('lo')}, {auc_c.get('hi')}]")
    p = cairn(home, "promote", v2["id"], "--model", "telco", want=1)
    check("auc_vs_production" in p.stderr and "refused" in p.stderr,
          "promotion of v2 refused, naming auc_vs_production")
    m = cj(home, "models", "show", "telco")
    prod = [a for a in m["aliases"] if a["alias"] == "production"]
    check(len(m["versions"]) == 1 and prod and prod[0]["version"] == 1,
          "after the refusal: one version, production still 1")

    # 3. hotel bookings with its leak -> BLOCK.
    cairn(home, "data", "add", os.path.join(DATA, "hotel_bookings.csv.gz"), "--name", "hotels")
    h = train(home, tmp, "hotels", """name: hotels
data: hotels
label: is_canceled
positive: 1
split: {by: stratified}
evaluation: {bootstrap: 100}
gates:
  auc: {min: 0.80}
""")
    r = cj(home, "review", h["id"], want=1)
    crit_cols = [f["column"] for f in r["critical"]]
    check(r["decision"] == "BLOCK" and "reservation_status" in crit_cols,
          f"hotels review: BLOCK with reservation_status critical ({crit_cols})")
    p = cairn(home, "promote", h["id"], "--model", "hotels", want=1)
    check("reservation_status" in p.stderr, "hotels promotion refused, naming the leak")

    # 4. overrides, recorded.
    p = cj(home, "promote", v2["id"], "--model", "telco", "--override", "exec sign-off, ticket 1234")
    check(p["promoted"] and p["overridden"] and p["version"] == 2 and p["from_version"] == 1,
          "telco v2 promoted by override as telco@2")
    m = cj(home, "models", "show", "telco")
    ov = m["overrides"]
    check(len(ov) == 1 and "ticket 1234" in (ov[0]["reason"] or "") and ov[0]["verdict"] == "BLOCK"
          and any(g["metric"] == "auc_vs_production" and g["status"] == "fail" for g in ov[0]["gates"]),
          "models show lists the override with its reason, BLOCK and the failed gate")
    text = cairn(home, "models", "show", "telco").stdout
    check("override" in text and "ticket 1234" in text, "models show (text) shows the override")
    p = cj(home, "promote", h["id"], "--model", "hotels", "--override", "demo only")
    check(p["overridden"], "hotels promoted by override")
    hist = cj(home, "models", "history", "hotels")["history"]
    check([e["action"] for e in hist] == ["refused", "override"],
          f"hotels history: refused then override ({[e['action'] for e in hist]})")

    # 5. rollback, at once.
    r = cj(home, "rollback", "telco", "--reason", "v2 underperforms")
    check(r["from_version"] == 2 and r["to_version"] == 1, "rollback telco: 2 -> 1")
    m = cj(home, "models", "show", "telco")
    prod = [a for a in m["aliases"] if a["alias"] == "production"][0]
    check(prod["version"] == 1, "telco@production is version 1 again")
    hist = cj(home, "models", "history", "telco")["history"]
    check([e["action"] for e in hist] == ["promote", "refused", "override", "rollback"],
          f"telco audit log: {[e['action'] for e in hist]}")
    check(hist[-1]["reason"] == "v2 underperforms" and hist[-1]["user"], "rollback reason and user recorded")

    # 6. lineage: which dataset version trained production?
    pv = [v for v in m["versions"] if v["version"] == prod["version"]][0]
    ds = cj(home, "data", "show", "telco@1")
    run = cj(home, "runs", "show", pv["run"])
    check(pv["dataset"]["name"] == "telco" and pv["dataset"]["version"] == 1
          and pv["dataset"]["hash"] == ds["hash"] == run["dataset"]["hash"] and pv["run"] == v1["id"],
          f"production was trained by {pv['run']} on telco@1 ({ds['hash'][:16]}...)")
    art = os.path.join(tmp, "prod.art")
    e = cj(home, "export", "telco", "-o", art)
    check(e["artifact"] == pv["artifact"], "the exported production artifact is the registered one")

shared_env.finish()
