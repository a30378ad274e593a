#!/usr/bin/env bash
# monitor.sh -- drift monitoring: `cairn monitor` against numpy/scipy, in one run.
#
# 0. The model: BENCH_REF_ROWS rows (default 200,000) of a 28-feature table
#    (24 numbers, 4 categories, binary label; bench/monitor_gen.c ref) added
#    to a fresh home as `monitor_ref`, trained with bench/monitor_spec.yaml
#    (split by row order: the training part, whose reference statistics the
#    run stores, is the first 70% of the rows) and promoted as
#    `bench_drift` (with --override when a gate or the review refuses).
# 1. The window: BENCH_ROWS records (default 1,000,000) of the same features
#    with drift planted in five of them, written into HOME/logs by the
#    prediction log's own writer (monitor_gen cur: model bench_drift,
#    version 1, alias production, spread over yesterday, UTC), plus the same
#    values as a float64 .npy for the peer.
# 2. Timed, alternating, BENCH_REPEAT rounds (default 3), each process under
#    /usr/bin/time -f '%e %M' (wall seconds, peak RSS KiB):
#    - cairn: `cairn --home H --json monitor bench_drift` (one window over
#      the whole log), the whole command: read and decompress the log, per-feature
#      accumulators, statistics, alerts, JSON (exit 1 = alerts raised,
#      expected here);
#    - python: `/usr/bin/python3 bench/monitor_peer.py` -- np.load of the
#      reference sample (the same training rows) and the window, then PSI
#      over the reference deciles (np.quantile + np.histogram, shares
#      floored at 1e-4) per column and over category shares, and
#      scipy.stats.ks_2samp per number column. The peer reports its load,
#      PSI and KS seconds; the whole process is timed too.
#    The log and the .npy files are read once before timing (page cache).
# 3. Flat memory (BENCH_BIG=1, the default): the log is replaced with
#    BENCH_BIG_ROWS records (default 5,000,000) and cairn is timed again;
#    its peak RSS at both sizes and their ratio are printed (target <= 1.2).
#
# Prints a table (rows, seconds, peak MB, the ratios), the verdict against
# the targets (cairn at least 10x faster than the peer's PSI + KS compute,
# peak memory at 5M within 1.2x of 1M) and a sanity check: how many of the
# planted columns each side flags with PSI >= 0.2, how many others, and the
# largest PSI difference between the two sides (the bins are the same
# deciles, so the PSIs should agree closely).
#
# Builds monitor_gen with cc into the temporary directory against the build
# tree of $CAIRN_BIN (default build/): its libcairn.a plus the pkg-config
# libraries of CMakeLists.txt. Needs a built cairn, cc, pkg-config,
# /usr/bin/time, and /usr/bin/python3 with numpy and scipy (without them the
# script says so and exits 0). Disk: about 110 MB per million records of log
# plus 224 MB per million of .npy (the 5M log: about 550 MB).
#
# Settings: CAIRN_BIN, BENCH_ROWS, BENCH_REF_ROWS, BENCH_BIG (0: skip step
# 3), BENCH_BIG_ROWS, BENCH_REPEAT, BENCH_SEED, BENCH_ENFORCE (1: exit 1 when
# a target is missed), TMPDIR.
# Exit: 0 done, 1 a run failed or a check failed (or, with BENCH_ENFORCE=1,
# a target was missed), 2 setup error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPEAT_DEFAULT=3
. "$ROOT/bench/common.sh"
REF_ROWS=${BENCH_REF_ROWS:-200000}
BIG=${BENCH_BIG:-1}
BIG_ROWS=${BENCH_BIG_ROWS:-5000000}
case $REF_ROWS in '' | *[!0-9]* | 0) die "BENCH_REF_ROWS must be a positive integer, not '$REF_ROWS'" ;; esac
case $BIG_ROWS in '' | *[!0-9]* | 0) die "BENCH_BIG_ROWS must be a positive integer, not '$BIG_ROWS'" ;; esac
case $BIG in 0 | 1) ;; *) die "BENCH_BIG must be 0 or 1, not '$BIG'" ;; esac
MODEL=bench_drift

[ -x "$CAIRN" ] || die "no cairn binary at $CAIRN (build first: bash scripts/build.sh, or set CAIRN_BIN)"
BUILD=$(cd "$(dirname "$CAIRN")" && pwd)
[ -r "$BUILD/libcairn.a" ] || die "no libcairn.a next to $CAIRN"
for tool in cc pkg-config; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
if [ ! -x "$GNU_TIME" ]; then
  say "bench: skipped: $GNU_TIME is missing (Debian package time)"
  exit 0
fi
if [ ! -x "$PY" ] || ! "$PY" -c 'import numpy, scipy.stats' 2>/dev/null; then
  say "bench: skipped: $PY lacks numpy or scipy (Debian packages python3-numpy, python3-scipy)"
  exit 0
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-monitor.XXXXXX")
cleanup() { if [ -n "${BENCH_KEEP:-}" ]; then echo "bench: kept $WORK" >&2; else rm -rf "$WORK"; fi; }
trap cleanup EXIT

# ---- build the generator -----------------------------------------------------------
LIBS=$(pkg-config --libs sqlite3 libcjson yaml-0.1 libzstd zlib libsodium libxxhash xgboost \
  openblas lapacke libmicrohttpd) || die "pkg-config cannot find cairn's libraries"
# shellcheck disable=SC2086
cc -O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra -I "$ROOT/include" -I "$ROOT/src" \
  "$ROOT/bench/monitor_gen.c" "$BUILD/libcairn.a" $LIBS -fopenmp -lpthread -lm \
  -o "$WORK/monitor_gen" || die "cannot build monitor_gen"

# ---- 0. the model --------------------------------------------------------------------
HOME_DIR=$WORK/home
q() { "$CAIRN" --home "$HOME_DIR" -q "$@" >>"$WORK/setup.log" 2>&1 || {
  sed 's/^/  | /' "$WORK/setup.log" >&2
  die "cairn $* failed"
}; }
say "bench: reference: $REF_ROWS rows x 28 features; training $MODEL ..."
"$WORK/monitor_gen" ref "$REF_ROWS" "$SEED" "$WORK/ref.csv" "$WORK/ref.npy" "$WORK/meta.json" ||
  die "monitor_gen ref failed"
q init
q data add "$WORK/ref.csv" --name monitor_ref
rm -f "$WORK/ref.csv"
"$CAIRN" --home "$HOME_DIR" --json train "$ROOT/bench/monitor_spec.yaml" >"$WORK/train.json" \
  2>>"$WORK/setup.log" || { sed 's/^/  | /' "$WORK/setup.log" >&2; die "cairn train failed"; }
read -r RUN TRAIN_ROWS < <("$PY" -c '
import json, sys
d = json.load(open(sys.argv[1]))
print(d["id"], d["refstats"]["rows"])' "$WORK/train.json") || die "cannot read the run record"
if ! "$CAIRN" --home "$HOME_DIR" -q promote "$RUN" --model "$MODEL" --reason "monitor benchmark" \
  >>"$WORK/setup.log" 2>&1; then
  q promote "$RUN" --model "$MODEL" --override "bench"
fi

# ---- 1. the window -----------------------------------------------------------------------
# Yesterday, UTC: the log holds one day of traffic ending at today's midnight.
NOW_S=$(date -u +%s)
START_S=$(((NOW_S / 86400 - 1) * 86400))
make_window() {   # make_window ROWS NPY|-
  rm -rf "$HOME_DIR/logs"
  "$WORK/monitor_gen" cur "$1" "$SEED" "$START_S" "$HOME_DIR/logs" "$MODEL" "$2" ||
    die "monitor_gen cur failed"
  cat "$HOME_DIR"/logs/seg-* >/dev/null
}
say "bench: window: $ROWS records into the prediction log ($TRAIN_ROWS reference rows) ..."
make_window "$ROWS" "$WORK/cur.npy"
cat "$WORK/ref.npy" "$WORK/cur.npy" >/dev/null
LOG_MB=$(du -sm "$HOME_DIR/logs" | cut -f1)

# timed TAG CMD...: /usr/bin/time into $WORK/TAG.time, stdout into $WORK/TAG.out.
# cairn monitor exits 1 when it raises alerts, which the planted drift does.
timed() {
  local tag=$1 rc=0
  shift
  "$GNU_TIME" -f '%e %M' -o "$WORK/$tag.time" "$@" >"$WORK/$tag.out" 2>"$WORK/$tag.err" || rc=$?
  if [ "$rc" -gt 1 ] || { [ "$rc" -eq 1 ] && [ "$tag" = "${tag#cairn}" ]; }; then
    sed 's/^/  | /' "$WORK/$tag.err" >&2
    say "bench: FAILED: $tag exited $rc"
    exit 1
  fi
}
CAIRN_MON=("$CAIRN" --home "$HOME_DIR" --json monitor "$MODEL")
PEER=("$PY" "$ROOT/bench/monitor_peer.py" "$WORK/meta.json" "$WORK/ref.npy" "$TRAIN_ROWS"
  "$WORK/cur.npy")

say ""
for round in $(seq 1 "$REPEAT"); do
  timed "cairn.$round" "${CAIRN_MON[@]}"
  timed "peer.$round" "${PEER[@]}"
  say "round $round: cairn $(tail -n 1 "$WORK/cairn.$round.time" | cut -d' ' -f1) s," \
    "python $(tail -n 1 "$WORK/peer.$round.time" | cut -d' ' -f1) s"
done

# ---- 3. flat memory ----------------------------------------------------------------------
if [ "$BIG" = 1 ]; then
  rm -f "$WORK/cur.npy"
  say "bench: window: $BIG_ROWS records (flat-memory check) ..."
  make_window "$BIG_ROWS" -
  BIG_LOG_MB=$(du -sm "$HOME_DIR/logs" | cut -f1)
  timed cairn.big "${CAIRN_MON[@]}"
else
  BIG_LOG_MB=0
fi

# ---- the table, the ratios, the checks ---------------------------------------------------
"$PY" - "$WORK" "$REPEAT" "$ROWS" "$BIG" "$BIG_ROWS" "$LOG_MB" "$BIG_LOG_MB" "$ENFORCE" <<'EOF'
import json
import statistics
import sys

work, repeat, rows, big, big_rows, log_mb, big_log_mb, enforce = sys.argv[1:]
repeat, rows, big_rows = int(repeat), int(rows), int(big_rows)
big, enforce = big == "1", enforce == "1"
PSI_FLAG = 0.2


def timing(tag):
    wall, kib = open(f"{work}/{tag}.time").read().split()[-2:]
    return float(wall), int(kib) / 1024 * 1.048576      # MB = 10^6 bytes


def cairn_features(tag):
    """name -> {"psi", "ks"} from the `cairn monitor --json` document (one window)."""
    doc = json.load(open(f"{work}/{tag}.out"))
    groups = [g for g in doc["windows"] if not g["shadow"]]
    if len(groups) != 1:
        sys.exit(f"bench: FAILED: cairn monitor gave {len(groups)} windows, expected 1")
    out = {f["name"]: {"psi": f["psi"], "ks": f["ks"]} for f in groups[0]["features"]}
    return doc, groups[0], out


med = statistics.median
c_wall = [timing(f"cairn.{r}") for r in range(1, repeat + 1)]
p_wall = [timing(f"peer.{r}") for r in range(1, repeat + 1)]
peer = [json.load(open(f"{work}/peer.{r}.out")) for r in range(1, repeat + 1)]
c_s, c_mb = med(w for w, _ in c_wall), med(m for _, m in c_wall)
p_s, p_mb = med(w for w, _ in p_wall), med(m for _, m in p_wall)
p_psi, p_ks = med(p["psi_s"] for p in peer), med(p["ks_s"] for p in peer)
p_load, p_compute = med(p["load_s"] for p in peer), med(p["compute_s"] for p in peer)

print()
print(f"{rows:,} records x 28 features against {peer[0]['ref_rows']:,} reference rows "
      f"(log {log_mb} MB zstd), median of {repeat}")
print(f"{'':28} {'wall s':>8} {'peak MB':>9}")
print(f"{'cairn monitor (total)':28} {c_s:8.2f} {c_mb:9.1f}")
print(f"{'cairn: the pass (its seconds)':28} {med(json.load(open(f'{work}/cairn.{r}.out'))['seconds'] for r in range(1, repeat + 1)):8.2f}")
print(f"{'python: np.load':28} {p_load:8.2f}")
print(f"{'python: PSI (numpy)':28} {p_psi:8.2f}")
print(f"{'python: KS (scipy)':28} {p_ks:8.2f}")
print(f"{'python: PSI + KS compute':28} {p_compute:8.2f}")
print(f"{'python (total process)':28} {p_s:8.2f} {p_mb:9.1f}")
print()
ratio_compute, ratio_total = p_compute / c_s, p_s / c_s
print(f"ratio python/cairn: {ratio_compute:.1f}x (PSI + KS compute only, target >= 10x), "
      f"{ratio_total:.1f}x (whole process); peak memory {p_mb / c_mb:.1f}x")

failed, missed = [], []
if ratio_compute < 10:
    missed.append(f"cairn is {ratio_compute:.1f}x faster than the PSI + KS compute (target >= 10x)")
if big:
    b_s, b_mb = timing("cairn.big")
    print(f"flat memory: cairn peak {c_mb:.1f} MB at {rows:,} records ({c_s:.2f} s), "
          f"{b_mb:.1f} MB at {big_rows:,} ({b_s:.2f} s, log {big_log_mb} MB): "
          f"ratio {b_mb / c_mb:.2f} (target <= 1.2)")
    if b_mb / c_mb > 1.2:
        missed.append(f"peak memory grew {b_mb / c_mb:.2f}x from {rows:,} to {big_rows:,} records")
    _, bgroup, _ = cairn_features("cairn.big")
    if bgroup.get("rows") != big_rows:
        failed.append(f"cairn monitor counted {bgroup.get('rows')} rows, expected {big_rows}")

# Sanity: both sides measure the same thing.
meta = json.load(open(f"{work}/meta.json"))
drifted = set(meta["drifted"])
doc, group, cf = cairn_features("cairn.1")
pf = peer[0]["features"]
if group.get("rows") != rows:
    failed.append(f"cairn monitor counted {group.get('rows')} rows, expected {rows}")
missing = [f["name"] for f in meta["features"] if cf.get(f["name"], {}).get("psi") is None]
if missing:
    failed.append(f"cairn monitor reports no PSI for {', '.join(missing)}")
names = [f["name"] for f in meta["features"]]
numbers = [f["name"] for f in meta["features"] if f["kind"] == "number"]


def flagged(feats):
    return {n for n in names if (feats.get(n, {}).get("psi") or 0) >= PSI_FLAG}


c_flag, p_flag = flagged(cf), flagged(pf)
print(f"planted drift ({', '.join(sorted(drifted))}) flagged with PSI >= {PSI_FLAG}: "
      f"cairn {len(c_flag & drifted)}/{len(drifted)}, python {len(p_flag & drifted)}/{len(drifted)}; "
      f"other columns flagged: cairn {len(c_flag - drifted)}, python {len(p_flag - drifted)}")
if not missing:
    dpsi = max(abs(cf[n]["psi"] - pf[n]["psi"]) for n in names)
    worst = max(names, key=lambda n: abs(cf[n]["psi"] - pf[n]["psi"]))
    ks = [abs(cf[n]["ks"] - pf[n]["ks"]) for n in numbers if cf[n].get("ks") is not None]
    print(f"largest |PSI cairn - PSI python|: {dpsi:.2e} ({worst}); "
          f"largest |KS binned - KS exact|: {max(ks) if ks else float('nan'):.4f}")
    print("per planted column (PSI cairn / python, KS cairn / python): " + "; ".join(
        f"{n} {cf[n]['psi']:.3f}/{pf[n]['psi']:.3f}"
        + (f", {cf[n]['ks']:.3f}/{pf[n]['ks']:.3f}" if n in numbers else "")
        for n in sorted(drifted)))
if c_flag != drifted or p_flag != drifted:
    failed.append("a side flags a different set of columns than the planted drift")

for m in missed:
    print(f"bench: target missed: {m}")
for f in failed:
    print(f"bench: FAILED: {f}")
if failed or (enforce and missed):
    sys.exit(1)
print("bench: checks passed" + ("" if missed else ", all targets met"))
EOF
