#!/usr/bin/python3
"""`cairn monitor` and `cairn labels` through the real binary, on synthetic churn
data whose later signups are shifted (cairn-synth: prices +15%, data usage +30%,
a new device smart_tv).

1. Planted drift: monthly_charges alerts, data_usage_gb warns; device shows unseen
   categories; untouched columns do not alert.
2. A version change mid-window (churn@1 scores the first part of each month,
   churn@2 the rest): both versions listed, each month split into one group per
   version, rows and labels counted per version.
3. Entity labels (customer_id + time) stored before their predictions join on
   the next monitor run; adding the same file again counts duplicates and
   stores nothing twice.
4. Rows refused by the contract are logged and reported (rejected_rows).
5. A torn segment tail is skipped and reported (damaged_log).
6. Records the log drops (tiny ring, test hook) are reported exactly:
   dropped + logged = scored.
7. --on-alert runs with the summary in its environment; exit 1 on alert, 0
   without; thresholds from the spec's monitor: section and from flags.
"""
import datetime
import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile

CAIRN = os.environ.get("CAIRN_BIN", "")
SYNTH = os.environ.get("CAIRN_SYNTH", "")
if not CAIRN or not SYNTH:
    print("CAIRN_BIN / CAIRN_SYNTH not set")
    sys.exit(2)
failures = []
TMP = tempfile.mkdtemp(dir=os.environ.get("CAIRN_TEST_TMP"))
HOME = os.path.join(TMP, "home")


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


# CAIRN_MONITOR_BIN: another build of cairn for the `monitor` commands only (CI runs
# them under ThreadSanitizer: the monitor reads the log on several threads).
MONITOR_BIN = os.environ.get("CAIRN_MONITOR_BIN") or CAIRN


def cairn(*args, want=(0,), env=None):
    binary = MONITOR_BIN if "monitor" in args else CAIRN
    p = subprocess.run([binary, "--home", HOME, *args], capture_output=True, text=True,
                       env=env)
    if p.returncode not in want:
        raise SystemExit(f"cairn {' '.join(args)}: exit {p.returncode}, wanted {want}\n"
                         f"stdout: {p.stdout[-3000:]}\nstderr: {p.stderr[-3000:]}")
    return p


def cj(*args, want=(0,)):
    return json.loads(cairn("--json", *args, want=want).stdout)


def read_csv(path):
    with open(path) as f:
        header = f.readline().rstrip("\n").split(",")
        return header, [ln.rstrip("\n").split(",") for ln in f]


def write_csv(path, header, rows):
    with open(path, "w") as f:
        f.write(",".join(header) + "\n")
        for r in rows:
            f.write(",".join(r) + "\n")


try:
    ref_csv = os.path.join(TMP, "ref.csv")
    cur_csv = os.path.join(TMP, "cur.csv")
    subprocess.run([SYNTH, "churn", "--rows", "6000", "--seed", "3", "--start", "2024-01-01",
                    "--days", "540", "-o", ref_csv], check=True)
    subprocess.run([SYNTH, "churn", "--rows", "3000", "--seed", "4", "--start", "2025-07-01",
                    "--days", "92", "-o", cur_csv], check=True)
    cairn("init")
    cairn("data", "add", ref_csv, "--name", "churn")
    # No contract: the shifted rows (new device, higher prices) would be refused by one,
    # and this test wants them scored and their drift seen. Refused rows come from
    # values the transform cannot read (part 4).
    base = ('name: churn\ndata: churn@1\nlabel: churned\npositive: "Yes"\n'
            "entity: customer_id\ntime: signup_time\nevaluation: {bootstrap: 50}\n")

    def train(name, spec):
        path = os.path.join(TMP, name + ".yaml")
        with open(path, "w") as f:
            f.write(spec)
        return cj("train", path)["id"]

    r1 = train("v1", base + "model: {type: gbdt, rounds: 40, max_depth: 4}\n")
    r2 = train("v2", base + "model: {type: linear}\n")
    cairn("promote", r1, "--model", "churn", "--override", "test")
    cairn("promote", r2, "--model", "churn", "--alias", "shadow", "--override", "test")

    header, rows = read_csv(cur_csv)
    ti, li, ei = header.index("signup_time"), header.index("churned"), header.index("customer_id")
    feat_header = [h for h in header if h != "churned"]

    def strip(r):
        return [v for h, v in zip(header, r) if h != "churned"]

    # 3. labels first: entity + a time one day after signup (the outcome's time)
    lab = os.path.join(TMP, "labels.csv")
    with open(lab, "w") as f:
        f.write("customer_id,churned,observed_at\n")
        for r in rows:
            day = r[ti][:10]
            f.write(f"{r[ei]},{r[li]},{day}T23:59:59Z\n")
    a1 = cj("labels", "add", lab, "--key", "customer_id", "--label", "churned",
            "--time", "observed_at")
    check(a1["added"] == len(rows), f"labels stored before any prediction ({a1['added']})")
    a2 = cj("labels", "add", lab, "--key", "customer_id", "--label", "churned",
            "--time", "observed_at")
    check(a2["added"] == 0 and a2["duplicates"] == len(rows),
          f"the same file again: {a2['duplicates']} duplicates, nothing added")

    # 2. per month, the first half scored by churn@1, the rest by churn@2
    rows.sort(key=lambda r: r[ti])
    by_month = {}
    for r in rows:
        by_month.setdefault(r[ti][:7], []).append(r)
    p1, p2 = [], []
    for m, rs in sorted(by_month.items()):
        p1 += rs[: len(rs) // 2]
        p2 += rs[len(rs) // 2:]
    f1, f2 = os.path.join(TMP, "part1.csv"), os.path.join(TMP, "part2.csv")
    write_csv(f1, feat_header, [strip(r) for r in p1])
    write_csv(f2, feat_header, [strip(r) for r in p2])
    common = ["--log", "--time", "signup_time", "--entity", "customer_id", "--id", "customer_id",
              "-o", os.path.join(TMP, "s.csv")]
    cairn("predict", "churn@1", f1, *common)
    cairn("predict", "churn@2", f2, *common)

    mon = cj("monitor", "churn", "--window", "1mo", want=(1,))
    vers = sorted(v["version"] for v in mon["versions"])
    check(vers == [1, 2], f"both versions are listed ({vers})")
    months = sorted(by_month)
    for m in months:
        gs = [w for w in mon["windows"] if w["start"].startswith(m) and not w["shadow"]]
        n1 = sum(1 for r in p1 if r[ti].startswith(m))
        n2 = sum(1 for r in p2 if r[ti].startswith(m))
        got = {w["version"]: w["rows"] for w in gs}
        check(got == {1: n1, 2: n2}, f"{m}: split by version {got} == {{1: {n1}, 2: {n2}}}")
        lab_ok = all(w["labelled"] == w["rows"] for w in gs)
        check(lab_ok, f"{m}: every row joined its (earlier stored) label, per version")
        check(all(any(x["name"] == "auc" for x in w["metrics"]) for w in gs),
              f"{m}: metrics per version")
    check(mon["labels"]["joined"] == len(rows), f"labels joined: {mon['labels']['joined']}")

    # 1. planted drift
    drift = {(a["subject"]) for a in mon["alerts"]
             if a["kind"] == "feature_drift" and a["severity"] == "alert"}
    check("monthly_charges" in drift, "monthly_charges (prices +15%) alerts")
    warned = {a["subject"] for a in mon["alerts"] if a["kind"] == "feature_drift"}
    check("data_usage_gb" in warned, "data_usage_gb (+30%, a wide column) at least warns")
    check("region" not in drift and "age" not in drift, "untouched columns do not alert")
    w0 = next(w for w in mon["windows"] if w["version"] == 1)
    dev = next(f for f in w0["features"] if f["name"] == "device")
    check(dev["unseen_share"] > 0.02, f"device: unseen categories (smart_tv) {dev['unseen_share']:.3f}")
    other = [b for b in dev["bins"] if b["bin"] == "(other)"]
    check(other and other[0]["current"] > other[0]["reference"], "device: (other) bin grows")

    # The same result read by one thread and by three (one share of the segments each):
    # equal up to the rounding of pooled means.
    def canon(d):
        d.pop("seconds", None)
        for w in d["windows"]:
            for f in w["features"] + ([w["prediction"]] if w["prediction"] else []):
                for k in ("mean", "std"):
                    if f[k] is not None:
                        f[k] = round(f[k], 9)
        return json.dumps(d, sort_keys=True)
    one = cj("monitor", "churn", "--window", "1mo", "--threads", "1", want=(1,))
    three = cj("monitor", "churn", "--window", "1mo", "--threads", "3", want=(1,))
    check(one["log"]["segments"] >= 2, f"the log has {one['log']['segments']} segments")
    check(canon(one) == canon(three), "one reader and three readers give the same result")
    # Closed segments hold blocks (format version 2), which the monitor reads column by
    # column; record by record (a test hook) it must find the same.
    if shutil.which("zstd"):
        zs = sorted(f for f in os.listdir(os.path.join(HOME, "logs")) if f.endswith(".zst"))
        raw = subprocess.run(["zstd", "-dc", os.path.join(HOME, "logs", zs[0])],
                             capture_output=True).stdout
        check(raw[:8] == b"CAIRNPLG" and raw[8] == 2, "closed segments are blocks (version 2)")
    rec = json.loads(cairn("--json", "monitor", "churn", "--window", "1mo", "--threads", "1",
                           want=(1,), env={**os.environ, "CAIRN_TEST_PLOG_NO_BLOCKS": "1"}).stdout)
    check(canon(rec) == canon(one), "the monitor reads blocks and records alike")

    txt = cairn("monitor", "churn", "--window", "1mo", want=(1,)).stdout
    check("monthly_charges" in txt and "the version changed" in txt,
          "terminal report: drifting feature and the version change")

    # 4. refused rows
    bad = [strip(r) for r in rows[:40]]
    pi = feat_header.index("monthly_charges")
    for r in bad:
        r[pi] = "not-a-number"
    fbad = os.path.join(TMP, "bad.csv")
    write_csv(fbad, feat_header, bad)
    cairn("predict", "churn@1", fbad, *common, want=(0, 1))
    m2 = cj("monitor", "churn", want=(1,))
    rej = sum(w["rejected"] for w in m2["windows"])
    check(rej == 40, f"40 refused rows are logged and counted ({rej})")
    check(any(a["kind"] == "rejected_rows" for a in m2["alerts"]), "rejected_rows is raised")
    logs = [json.loads(ln) for ln in cairn("--json", "logs", "show", "--model", "churn")
            .stdout.splitlines()]
    check(sum(1 for x in logs if x.get("rejected")) == 40, "logs show marks them rejected")

    # 5. a torn tail: a segment copied uncompressed, then its blocks again, cut short
    logdir = os.path.join(HOME, "logs")
    segs = sorted(s for s in os.listdir(logdir) if s.endswith(".plog.zst"))
    raw = subprocess.run(["zstd", "-dc", os.path.join(logdir, segs[0])], capture_output=True,
                         check=True).stdout
    torn = os.path.join(TMP, "tornlog")
    os.makedirs(torn)
    shutil.copy(os.path.join(logdir, segs[0]), os.path.join(torn, "seg-000001-x.plog.zst"))
    with open(os.path.join(torn, "seg-000002-x.plog"), "wb") as f:
        f.write(raw + raw[16:-7])
    m3 = cj("monitor", "churn", "--log-dir", torn, want=(0, 1))
    check(m3["log"]["damaged_records"] >= 1, f"torn tail reported ({m3['log']['damaged_records']})")
    check(any(a["kind"] == "damaged_log" for a in m3["alerts"]), "damaged_log is raised")
    # Damage counts in the range it came about in: after the segment's last good record,
    # or, in a segment with none, at its file's time (here set to 2001).
    with open(os.path.join(torn, "seg-000003-x.plog"), "wb") as f:
        f.write(raw[:16 + 9])   # the header, then a block cut short
    os.utime(os.path.join(torn, "seg-000003-x.plog"), (978307200, 978307200))
    last = m3["last_record"][:10]
    after = datetime.date.fromisoformat(last) + datetime.timedelta(days=1)

    def damaged(*rng):
        m = cj("monitor", "churn", "--log-dir", torn, *rng, want=(0, 1))
        return m["log"]["damaged_records"], any(a["kind"] == "damaged_log" for a in m["alerts"])

    check(damaged() == (2, True), f"an open range counts both damaged segments ({damaged()})")
    check(damaged("--since", "2020-01-01") == (1, True),
          "damage with no good record before it goes by the file's time (2001: before --since)")
    check(damaged("--since", after.isoformat()) == (0, False),
          f"damage after records older than --since {after} is not this range's")
    check(damaged("--until", "2020-01-01") == (1, True) and
          damaged("--since", "2000-01-01", "--until", "2020-01-01") == (1, True),
          "the 2001 damage is in a range that ends in 2020; the 2025 one is not")

    # 6. dropped records: a tiny ring that never waits
    dropdir = os.path.join(TMP, "droplog")
    env = dict(os.environ, CAIRN_TEST_LOG_RING="3000")
    big = os.path.join(TMP, "big.csv")
    write_csv(big, feat_header, [strip(r) for r in rows] * 4)
    cairn("predict", "churn@1", big, "--log", "--log-dir", dropdir, "-o", os.devnull, env=env)
    # -o onto a device writes to it; an earlier version renamed a file over it (as root,
    # that replaced /dev/null itself).
    check(stat.S_ISCHR(os.stat(os.devnull).st_mode), f"{os.devnull} is still a device")
    m4 = cj("monitor", "churn", "--log-dir", dropdir, want=(0, 1))
    got = m4["log"]["dropped_records"] + m4["log"]["model_records"]
    check(m4["log"]["dropped_records"] > 0, f"the log dropped records ({m4['log']['dropped_records']})")
    check(got == 4 * len(rows), f"dropped + logged = scored ({got} == {4 * len(rows)})")
    check(any(a["kind"] == "dropped_records" and a["severity"] == "alert" for a in m4["alerts"]),
          "dropped_records alerts")

    # 7. --on-alert, exit codes, thresholds from flags and from the spec
    out = os.path.join(TMP, "hook.txt")
    cairn("monitor", "churn", "--on-alert",
          f'echo "$CAIRN_ALERT_MODEL $CAIRN_ALERT_COUNT $CAIRN_ALERT_KINDS" > {out}; '
          f'test -s "$CAIRN_ALERT_JSON" && echo json >> {out}', want=(1,))
    with open(out) as f:
        hook = f.read().split()
    check(hook[0] == "churn" and int(hook[1]) > 0 and "feature_drift" in hook[2]
          and hook[-1] == "json", f"--on-alert got the summary: {' '.join(hook)}")
    quiet = ["--psi-warn", "99", "--psi-alert", "100", "--ks-warn", "1", "--ks-alert", "1"]
    m5 = cj("monitor", "churn", "--until", "2025-10-15", *quiet, want=(0, 1))
    check(not any(a["kind"] == "feature_drift" and a["statistic"] in ("psi", "ks")
                  for a in m5["alerts"]), "flags raise the PSI and KS thresholds")
    # The noise gate: on daily windows, --noise-p 0 judges the levels alone; the default
    # (0.01) leaves out what sampling noise explains, and never judges more severely.
    rank = {"nodata": 0, "ok": 1, "warn": 2, "alert": 3}
    def feats(m):
        return {(w["start"], w["version"], w["shadow"], f["name"]): f for w in m["windows"]
                for f in w["features"] + ([w["prediction"]] if w["prediction"] else [])}
    small = ["--window", "1d", "--all", "--min-rows", "10"]   # 16 to 33 rows a day
    gated = feats(cj("monitor", "churn", *small, want=(0, 1)))
    plain = feats(cj("monitor", "churn", *small, "--noise-p", "0", want=(0, 1)))
    check(gated.keys() == plain.keys() and len(gated) > 20, f"{len(gated)} daily features")
    check(all(f["noise"]["psi"] > 0 for f in gated.values() if f["psi"] is not None),
          "every computed PSI has a noise level")
    check(all(v == 0 for f in plain.values() for v in f["noise"].values() if v is not None),
          "--noise-p 0: no noise levels")
    check(all(rank[gated[k]["severity"]] <= rank[plain[k]["severity"]] for k in gated),
          "the gate never raises a severity")
    quieted = [k for k in gated if rank[gated[k]["severity"]] < rank[plain[k]["severity"]]]
    check(quieted and all(gated[k][st] < gated[k]["noise"][st] for k in quieted
                          for st in ("psi", "js") if plain[k][st] is not None
                          and plain[k][st] >= 0.1 and gated[k][st] >= 0.1),
          f"{len(quieted)} daily features quieted, each below its noise level")
    r3 = train("v3", base + "model: {type: gbdt, rounds: 20, max_depth: 3}\n"
               "monitor: {psi_warn: 99, psi_alert: 100, ks_warn: 1, ks_alert: 1, js_warn: 1,\n"
               "          js_alert: 1, missing_warn: 1, missing_alert: 1, perf_warn: 1,\n"
               "          perf_alert: 1, rejected_warn: 1, rejected_alert: 1}\n")
    cairn("promote", r3, "--model", "churn", "--override", "test")
    m6 = cj("monitor", "churn", want=(0, 1))
    check(not any(a["kind"] in ("feature_drift", "rejected_rows") for a in m6["alerts"]),
          "the production spec's monitor: section sets the thresholds")
    m7 = cj("monitor", "churn", "--psi-alert", "0.2", "--psi-warn", "0.1", want=(1,))
    check(any(a["kind"] == "feature_drift" for a in m7["alerts"]), "a flag overrides the spec")
    m8 = cj("monitor", "churn", "--since", "2030-01-01", want=(0,))
    check(m8["severity"] == "nodata" and not m8["windows"], "an empty range: no data, exit 0")
    check(cairn("monitor", "nosuch", want=(3,)).returncode == 3, "an unknown model: exit 3")
    check(cairn("monitor", "churn", "--window", "3x", want=(2,)).returncode == 2,
          "a bad window: exit 2")
    check(cairn("labels", "add", lab, "--key", "customer_id", "--label", "nosuch",
                "--time", "observed_at", want=(3,)).returncode == 3, "labels: a missing column: exit 3")
finally:
    if not os.environ.get("KEEP"):
        shutil.rmtree(TMP, ignore_errors=True)
    else:
        print("kept", TMP)

if failures:
    print(f"{len(failures)} check(s) failed")
    sys.exit(1)
print("all checks passed")
