#!/usr/bin/env bash
# train.sh -- times `cairn data add` + `cairn train` against the same work in
# Python (bench/train_peer.py: pandas.read_csv, the same time split,
# xgboost.train with the same parameters and thread count, scikit-learn
# metrics) on the churn table of `cairn-synth churn`, side by side in one run.
# The model is bench/train_spec.yaml; the peer reads that file too. Wall time
# and peak resident memory of every process come from GNU time
# (`/usr/bin/time -v`); cairn's wall time is the add plus the train, its peak
# the larger of the two. Test AUC: cairn's from the run record that
# `cairn train --json` prints (.eval.model.metrics.auc.estimate), the peer's
# from scikit-learn. R rounds (BENCH_REPEAT, default 1), each one cairn run
# (in a fresh home, made untimed with `cairn init`) then one Python run; the
# table gives medians. The last lines are the verdict against the targets:
# cairn at most 0.85x Python's wall time and 0.6x its peak memory, test AUCs
# within 0.002. See bench/README.md.
#
# Builds nothing: it uses $CAIRN_BIN (default build/cairn) and $CAIRN_SYNTH
# (default build/cairn-synth). Input: a BENCH_ROWS-row churn table (default
# 1,000,000 rows, about 110 MB, seed BENCH_SEED, default 1) generated into a
# temporary directory that is removed at the end.
# Exit: 0 (also when skipped for missing Python packages or GNU time), 1 a run
# failed or the AUCs differ by more than 0.002 (or, under BENCH_ENFORCE=1, a
# speed or memory target was missed), 2 setup error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SPEC=$ROOT/bench/train_spec.yaml
PEER=$ROOT/bench/train_peer.py
REPEAT_DEFAULT=1
. "$ROOT/bench/common.sh"

if [ ! -x "$PY" ] || ! "$PY" -c 'import pandas, xgboost, sklearn, yaml' 2>/dev/null; then
  say "bench: skipped: /usr/bin/python3 lacks pandas, xgboost, scikit-learn or PyYAML"
  say "       (apt-get install python3-pandas python3-xgboost python3-sklearn python3-yaml)"
  exit 0
fi
if [ ! -x "$GNU_TIME" ]; then
  say "bench: skipped: GNU time is not installed (apt-get install time)"
  exit 0
fi
[ -x "$CAIRN" ] ||
  die "no cairn binary at $CAIRN (build first: bash scripts/build.sh, or set CAIRN_BIN)"
[ -x "$SYNTH" ] || die "no cairn-synth binary at $SYNTH (build first, or set CAIRN_SYNTH)"
[ -r "$SPEC" ] || die "no spec at $SPEC"
# The dataset name the spec trains on (`data: NAME`, perhaps NAME@N).
DATA_NAME=$("$PY" -c '
import sys, yaml
print(str(yaml.safe_load(open(sys.argv[1]))["data"]).split("@")[0])' "$SPEC") ||
  die "cannot read the dataset name from $SPEC"

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-train.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

CSV=$WORK/churn.csv
say "bench: generating $ROWS rows with cairn-synth churn --seed $SEED ..."
"$SYNTH" churn --rows "$ROWS" --seed "$SEED" -o "$CSV" || die "cairn-synth failed"
CSV_BYTES=$(stat -c %s "$CSV")
# Both sides read the file from the page cache: read it once before timing.
cat "$CSV" >/dev/null

# timed NAME CMD... : runs CMD under GNU time -v; stdout to $WORK/NAME.stdout,
# and "WALL_SECONDS PEAK_KIB CPU_SECONDS" appended to $WORK/NAME.times.
timed() {
  local name=$1
  shift
  if ! "$GNU_TIME" -v -o "$WORK/time.out" "$@" >"$WORK/$name.stdout" 2>"$WORK/$name.stderr"; then
    printf 'bench: error: the %s run failed: %s\n' "$name" "$*" >&2
    tail -n 20 "$WORK/$name.stderr" | sed 's/^/  | /' >&2 || true
    exit 1
  fi
  awk -F': ' '
    /Elapsed \(wall clock\) time/ {
      n = split($NF, p, ":"); s = 0
      for (i = 1; i <= n; i++) s = s * 60 + p[i]
    }
    /User time \(seconds\)|System time \(seconds\)/ { cpu += $NF }
    /Maximum resident set size/ { kib = $NF }
    END { printf "%.2f %d %.2f\n", s, kib, cpu }' "$WORK/time.out" >>"$WORK/$name.times"
}

run_cairn() {
  local home=$WORK/home
  rm -rf "$home"
  "$CAIRN" --home "$home" init >/dev/null 2>"$WORK/init.stderr" ||
    { sed 's/^/  | /' "$WORK/init.stderr" >&2; die "cairn init failed"; }
  timed cairn_add "$CAIRN" --home "$home" data add "$CSV" --name "$DATA_NAME"
  timed cairn_train "$CAIRN" --home "$home" train "$SPEC" --json
  cp "$WORK/cairn_train.stdout" "$WORK/cairn_train.json"
  rm -rf "$home"
}

run_python() {
  timed python "$PY" "$PEER" "$SPEC" "$CSV"
  cp "$WORK/python.stdout" "$WORK/python.json"
}

CPUS=$(nproc 2>/dev/null || echo '?')
CAIRN_VERSION=$("$CAIRN" --version 2>/dev/null | head -n 1 || true)
PY_VERSIONS=$("$PY" -c '
import pandas, xgboost, sklearn
print(f"pandas {pandas.__version__}, xgboost {xgboost.__version__}, "
      f"scikit-learn {sklearn.__version__}")')
say "bench: $CSV ($CSV_BYTES bytes), $REPEAT round(s), $CPUS CPUs, spec $SPEC"
say "bench: ${CAIRN_VERSION:-cairn (version unknown)} vs $PY_VERSIONS"

for name in cairn_add cairn_train python; do : >"$WORK/$name.times"; done
for r in $(seq 1 "$REPEAT"); do
  run_cairn
  run_python
  read -r a_s a_kib _ <<<"$(tail -n 1 "$WORK/cairn_add.times")"
  read -r t_s t_kib _ <<<"$(tail -n 1 "$WORK/cairn_train.times")"
  read -r p_s p_kib _ <<<"$(tail -n 1 "$WORK/python.times")"
  printf 'round %d: cairn add %s s %s KiB, train %s s %s KiB | python %s s %s KiB\n' \
    "$r" "$a_s" "$a_kib" "$t_s" "$t_kib" "$p_s" "$p_kib"
done

# Medians, AUCs, the table and the verdict. MB = 10^6 bytes; GNU time's
# maximum resident set size is in KiB.
"$PY" - "$WORK" "$ENFORCE" <<'EOF'
import json
import statistics
import sys

work, enforce = sys.argv[1], sys.argv[2] == "1"


def times(name):
    rows = [line.split() for line in open(f"{work}/{name}.times") if line.strip()]
    s = statistics.median(float(r[0]) for r in rows)
    mb = statistics.median(int(r[1]) for r in rows) * 1024 / 1e6
    cpu = statistics.median(float(r[2]) for r in rows)
    return max(s, 0.01), mb, cpu  # GNU time has 10 ms resolution


def load_json(path, what):
    text = open(path).read()
    try:
        return json.loads(text)
    except ValueError:
        for line in reversed(text.splitlines()):
            try:
                return json.loads(line)
            except ValueError:
                continue
    sys.exit(f"bench: error: {what} printed no JSON (see {path})")


add_s, add_mb, add_cpu = times("cairn_add")
train_s, train_mb, train_cpu = times("cairn_train")
py_s, py_mb, py_cpu = times("python")
c_s, c_mb, c_cpu = add_s + train_s, max(add_mb, train_mb), add_cpu + train_cpu
record = load_json(f"{work}/cairn_train.json", "cairn train --json")
peer = load_json(f"{work}/python.json", "train_peer.py")
try:
    c_auc = float(record["eval"]["model"]["metrics"]["auc"]["estimate"])
except (KeyError, TypeError, ValueError):
    sys.exit("bench: error: no .eval.model.metrics.auc.estimate in cairn's run record")
p_auc = float(peer["test"]["auc"])

print()
print(f"{'':14} {'wall s':>9} {'cpu s':>9} {'peak MB':>9} {'test AUC':>10}")
print(f"{'cairn add':14} {add_s:9.2f} {add_cpu:9.2f} {add_mb:9.1f}")
print(f"{'cairn train':14} {train_s:9.2f} {train_cpu:9.2f} {train_mb:9.1f} {c_auc:10.5f}")
print(f"{'cairn total':14} {c_s:9.2f} {c_cpu:9.2f} {c_mb:9.1f} {c_auc:10.5f}")
print(f"{'python':14} {py_s:9.2f} {py_cpu:9.2f} {py_mb:9.1f} {p_auc:10.5f}")
print()
stages = record.get("stages") or []
if stages:
    text = ", ".join(f"{st.get('stage')} {float(st.get('seconds', 0)):.2f}" for st in stages)
    print(f"cairn train stages (s, last round): {text}")
phases = ", ".join(f"{k} {v:.2f}" for k, v in peer["phases_s"].items())
print(f"python phases (s, last round): {phases}; best round {peer['best_round']} "
      f"of {peer['rounds_run']}, {peer['features']} features, {peer['threads']} threads")
wall_ratio, mem_ratio, auc_diff = c_s / py_s, c_mb / py_mb, c_auc - p_auc
print(f"ratio cairn/python: wall {wall_ratio:.2f} (target <= 0.85), "
      f"peak memory {mem_ratio:.2f} (target <= 0.60)")
print(f"AUC difference cairn - python: {auc_diff:+.5f} (limit +-0.002)")
missed = [what for what, bad in (("wall", wall_ratio > 0.85), ("memory", mem_ratio > 0.60))
          if bad]
if abs(auc_diff) > 0.002:
    print("bench: FAILED: the test AUCs differ by more than 0.002")
    sys.exit(1)
if missed:
    print(f"bench: target missed: {', '.join(missed)}" +
          (" (BENCH_ENFORCE=1)" if enforce else " (reported, not enforced)"))
    sys.exit(1 if enforce else 0)
print("bench: all targets met")
EOF
