#!/usr/bin/env bash
# serve.sh -- the serving benchmarks, each side by side with its peer in one run.
#
# 1. In process (bench/serve_inproc.c): cairn's tree evaluator against
#    XGBoost's C predictor (nthread=1) on one and the same 200-tree, depth-6
#    model (trained by XGBoost in the program, converted with cairn's own
#    importer, predictions checked equal to 1e-6 before timing): single-row
#    latency (median, p99) and 10,000-row batch throughput, with the ratios;
#    then the whole public path (cairn_model_predict: contract, transform,
#    trees) on the artifact of step 0.
# 2. Over HTTP on 127.0.0.1, wrk (2 threads, 64 connections, BENCH_SECONDS
#    each, after a 2 s untimed warm-up) POSTing one-row bodies in cairn's
#    format, {"instances":[{...}]}, taken in turn from 200 rows of the table
#    (bench/serve_post.lua), to:
#    - `cairn serve` with the prediction log on (the default) and --threads
#      = the server's CPUs (below);
#    - Flask (Werkzeug, app.run(threaded=True)) + xgboost (serve_peer_flask.py);
#    - FastAPI on uvicorn with 2 worker processes + xgboost (serve_peer_fastapi.py),
#      with uvloop and httptools when installed (the table says which);
#    - the ceiling: serve_bare.c, libmicrohttpd behind cairn's own front
#      (src/serve/listen.c, the same thread count), answering a fixed reply
#      (HTTP alone).
#    Client and server on CPUs of their own: the CPUs this script may use are
#    split in two halves, every server is started under taskset on the first,
#    wrk on the second (as a client on another machine: neither preempts the
#    other, and each server gets the same CPUs). BENCH_PIN=0 shares all of them.
#    bare and cairn run in BENCH_HTTP_ROUNDS alternating rounds (default 3):
#    the table shows each one's median round, the cairn/bare ratio is the
#    median of the rounds' ratios.
#    It prints req/s, p50 and p99 for each and the ratios cairn/fastest
#    Python and cairn/bare, the CPU time per request of the bare and cairn
#    servers in each round, and checks that cairn answered every request
#    with a 2xx (wrk's "Non-2xx" count and socket errors) and dropped no
#    prediction-log record (cairn_log_dropped_total from /metrics after the
#    run); a failed check is exit 1.
#
# 0. The model: BENCH_ROWS rows (default 50,000) of `cairn-synth churn`
#    (seed BENCH_SEED), added to a fresh home with its inferred contract
#    saved, trained with a gbdt of 200 rounds, depth 6, learning rate 0.1,
#    no early stopping (the spec is written below), promoted as `churn` and
#    exported. The Python peers cannot load cairn's artifact: they serve an
#    XGBoost booster trained by serve_peer_flask.py on the same CSV with the
#    same 200 rounds and depth 6 (the same 12 inputs, strings as pandas
#    categories). Not the same trees, but the same count and depth, which is
#    what scoring costs; the HTTP part compares throughput only.
#
# Builds serve_inproc and serve_bare itself, with cc into the temporary
# directory, against the build tree of $CAIRN_BIN (default build/):
# its libcairn.a plus the pkg-config libraries of CMakeLists.txt. Needs a
# built cairn and cairn-synth (bash scripts/build.sh), cc, pkg-config, wrk,
# curl, and for the peers /usr/bin/python3 with flask, fastapi, uvicorn,
# pandas and xgboost (without them the HTTP peers are skipped, said so).
#
# The client shares the machine with the server: on a 2-core machine each
# gets one core, so absolute numbers are modest; the ratios are the point.
# Every server is started and stopped by its PID.
#
# Settings: BENCH_SECONDS (wrk duration per server and round, default 15),
# BENCH_HTTP_ROUNDS (default 3), BENCH_PIN (0: client and servers share every
# CPU, unpinned), BENCH_PEERS (0: skip
# the Python peers, for quick cairn/bare runs), BENCH_CLIENT_BATCH (1: wrk runs
# under SCHED_BATCH, its wake-ups no longer preempting the server), BENCH_ROWS,
# BENCH_SEED, CAIRN_BIN, CAIRN_SYNTH, TMPDIR, BENCH_ENFORCE (1: also exit 1
# when cairn is under 5x faster single-row in process).
# Exit: 0 done, 1 a check failed, 2 setup error.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
REPEAT_DEFAULT=1
BENCH_ROWS=${BENCH_ROWS:-50000}
. "$ROOT/bench/common.sh"
DURATION=${BENCH_SECONDS:-15}
HTTP_ROUNDS=${BENCH_HTTP_ROUNDS:-3}
case $HTTP_ROUNDS in '' | *[!0-9]* | 0) die "BENCH_HTTP_ROUNDS must be a positive integer, not '$HTTP_ROUNDS'" ;; esac
case $DURATION in '' | *[!0-9]* | 0) die "BENCH_SECONDS must be a positive integer, not '$DURATION'" ;; esac
CONNECTIONS=64
WRK_THREADS=2
CPUS=$(nproc 2>/dev/null || echo 2)

[ -x "$CAIRN" ] || die "no cairn binary at $CAIRN (build first: bash scripts/build.sh, or set CAIRN_BIN)"
[ -x "$SYNTH" ] || die "no cairn-synth binary at $SYNTH (build first, or set CAIRN_SYNTH)"
BUILD=$(cd "$(dirname "$CAIRN")" && pwd)
[ -r "$BUILD/libcairn.a" ] || die "no libcairn.a next to $CAIRN"
for tool in cc pkg-config wrk curl taskset; do
  command -v "$tool" >/dev/null || die "$tool is not installed"
done
HAVE_PEERS=1
if [ "${BENCH_PEERS:-1}" = 0 ]; then
  HAVE_PEERS=0
  say "bench: BENCH_PEERS=0: HTTP peers skipped"
elif [ ! -x "$PY" ] || ! "$PY" -c 'import flask, fastapi, uvicorn, pandas, xgboost' 2>/dev/null; then
  HAVE_PEERS=0
  say "bench: note: /usr/bin/python3 lacks flask, fastapi, uvicorn, pandas or xgboost: HTTP peers skipped"
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/cairn-bench-serve.XXXXXX")
SERVER_PID=
stop_server() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
cleanup() {
  stop_server
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- build the two C programs ------------------------------------------------
LIBS=$(pkg-config --libs sqlite3 libcjson yaml-0.1 libzstd zlib libsodium libxxhash xgboost \
  openblas lapacke libmicrohttpd) || die "pkg-config cannot find cairn's libraries"
CFLAGS="-O2 -std=c11 -D_GNU_SOURCE -Wall -Wextra"
# shellcheck disable=SC2086
cc $CFLAGS -I "$ROOT/include" -I "$ROOT/src" "$ROOT/bench/serve_inproc.c" "$BUILD/libcairn.a" \
  $LIBS -fopenmp -lpthread -lm -o "$WORK/serve_inproc" || die "cannot build serve_inproc"
# shellcheck disable=SC2086
cc $CFLAGS -I "$ROOT/src" "$ROOT/bench/serve_bare.c" "$ROOT/src/serve/listen.c" \
  $(pkg-config --libs libmicrohttpd) -lpthread -o "$WORK/serve_bare" ||
  die "cannot build serve_bare"

# ---- 0. the model ------------------------------------------------------------------
HOME_DIR=$WORK/home
CSV=$WORK/churn.csv
say "bench: $ROWS rows of cairn-synth churn --seed $SEED; training the 200-tree model ..."
"$SYNTH" churn --rows "$ROWS" --seed "$SEED" -o "$CSV" || die "cairn-synth failed"
cat >"$WORK/spec.yaml" <<'EOF'
name: churn
data: churn
label: churned
positive: "Yes"
entity: customer_id
time: signup_time
split: {by: time, valid: 0.1, test: 0.2}
model: {type: gbdt, rounds: 200, max_depth: 6, learning_rate: 0.1, early_stopping: 0}
seed: 42
evaluation: {metrics: [auc], bootstrap: 0}
EOF
q() { "$CAIRN" --home "$HOME_DIR" -q "$@" >>"$WORK/setup.log" 2>&1 || {
  sed 's/^/  | /' "$WORK/setup.log" >&2
  die "cairn $* failed"
}; }
q init
q data add "$CSV" --name churn
q contract infer churn --label churned --entity customer_id --time signup_time \
  -o "$WORK/contract.yaml" --save
"$CAIRN" --home "$HOME_DIR" --json train "$WORK/spec.yaml" >"$WORK/train.json" 2>>"$WORK/setup.log" ||
  { sed 's/^/  | /' "$WORK/setup.log" >&2; die "cairn train failed"; }
RUN=$("$PY" -c 'import json, sys; print(json.load(open(sys.argv[1]))["id"])' "$WORK/train.json")
q promote "$RUN" --model churn --reason "serve benchmark"
q export churn -o "$WORK/churn.art"

# ---- 1. in process ---------------------------------------------------------------------
say ""
say "== 1. in process: $WORK/serve_inproc churn.art churn.csv"
INPROC_RC=0
"$WORK/serve_inproc" "$WORK/churn.art" "$CSV" | tee "$WORK/inproc.out" || INPROC_RC=$?
[ "$INPROC_RC" -eq 0 ] || { say "bench: FAILED: serve_inproc exited $INPROC_RC"; exit 1; }

# ---- 2. over HTTP ------------------------------------------------------------------------
# 200 one-row bodies: the model's 12 inputs (all but the entity, the time and
# the label), typed as the contract has them; empty cells are null.
"$PY" - "$CSV" "$WORK/bodies.txt" <<'EOF'
import csv, json, sys
drop = {"customer_id", "signup_time", "churned"}
with open(sys.argv[1], newline="") as f, open(sys.argv[2], "w") as out:
    for i, row in enumerate(csv.DictReader(f)):
        if i == 200:
            break
        inst = {}
        for k, v in row.items():
            if k in drop:
                continue
            if v == "":
                inst[k] = None
            elif v in ("true", "false"):
                inst[k] = v == "true"
            else:
                try:
                    inst[k] = int(v)
                except ValueError:
                    try:
                        inst[k] = float(v)
                    except ValueError:
                        inst[k] = v
        out.write(json.dumps({"instances": [inst]}, separators=(",", ":")) + "\n")
EOF
export BENCH_BODIES=$WORK/bodies.txt
FIRST_BODY=$(head -n 1 "$BENCH_BODIES")
PREDICT_PATH=/v1/models/churn:predict

free_port() {
  "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_ready NAME URL: polls with the first body until a 200 (60 s at most).
wait_ready() {
  local name=$1 url=$2 i
  for i in $(seq 1 600); do
    if [ "$(curl -s -o "$WORK/first.$name" -w '%{http_code}' -H 'Content-Type: application/json' \
      --data-binary "$FIRST_BODY" "$url" 2>/dev/null)" = 200 ]; then
      return 0
    fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  sed 's/^/  | /' "$WORK/$name.stderr" >&2 || true
  die "the $name server did not answer 200 at $url"
}

# cpu_ticks PID: the process's user and kernel CPU time so far, in clock ticks
# (fields 14 and 15 of /proc/PID/stat, counted after the command name's ')').
cpu_ticks() {
  sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | awk '{print $12, $13}'
}

# load NAME URL [cpu]: warm-up, then the timed wrk run into $WORK/NAME.wrk. With cpu,
# also the server's CPU time per request over the timed run (one process: SERVER_PID).
load() {
  local name=$1 url=$2 cpu=${3:-} t0 t1
  "${WRK[@]}" -t "$WRK_THREADS" -c "$CONNECTIONS" -d 2s -s "$ROOT/bench/serve_post.lua" "$url" >/dev/null
  [ -n "$cpu" ] && t0=$(cpu_ticks "$SERVER_PID")
  "${WRK[@]}" -t "$WRK_THREADS" -c "$CONNECTIONS" -d "${DURATION}s" --latency \
    -s "$ROOT/bench/serve_post.lua" "$url" >"$WORK/$name.wrk"
  [ -n "$cpu" ] && t1=$(cpu_ticks "$SERVER_PID")
  printf '%-8s ' "$name:"
  grep -E 'Requests/sec' "$WORK/$name.wrk" | tr -s ' ' | tr -d '\n'
  if [ -n "$cpu" ] && [ -n "$t0" ] && [ -n "$t1" ]; then
    awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" \
      -v n="$(awk '/requests in/ {print $1}' "$WORK/$name.wrk")" 'BEGIN {
        split(a, x, " "); split(b, y, " ");
        if (n > 0) printf "  server CPU %.1f us a request (user %.1f, kernel %.1f)",
          (y[1] + y[2] - x[1] - x[2]) * 1e6 / hz / n, (y[1] - x[1]) * 1e6 / hz / n,
          (y[2] - x[2]) * 1e6 / hz / n }'
  fi
  echo
}

# The CPUs this script may run on, split: servers on the first half, wrk on the rest.
read -r -a CPU_LIST <<<"$("$PY" -c 'import os; print(*sorted(os.sched_getaffinity(0)))')"
SRV=()
WRK=(wrk)
SERVER_CPUS=$CPUS
if [ "${BENCH_PIN:-1}" != 0 ] && [ "${#CPU_LIST[@]}" -ge 2 ]; then
  half=$((${#CPU_LIST[@]} / 2))
  SERVER_SET=$(IFS=,; echo "${CPU_LIST[*]:0:half}")
  CLIENT_SET=$(IFS=,; echo "${CPU_LIST[*]:half}")
  SRV=(taskset -c "$SERVER_SET")
  WRK=(taskset -c "$CLIENT_SET" wrk)
  SERVER_CPUS=$half
  PLACE="servers on CPU(s) $SERVER_SET, wrk on CPU(s) $CLIENT_SET"
else
  PLACE="$CPUS CPUs shared by client and server"
fi

# BENCH_CLIENT_BATCH=1: wrk runs under SCHED_BATCH, so that its wake-ups do not preempt
# the server it measures (closer to a client on a machine of its own); every server alike.
if [ "${BENCH_CLIENT_BATCH:-0}" = 1 ]; then
  command -v chrt >/dev/null || die "BENCH_CLIENT_BATCH=1 needs chrt (util-linux)"
  WRK=(chrt -b 0 "${WRK[@]}")
  PLACE="$PLACE, wrk under SCHED_BATCH"
fi

say ""
say "== 2. over HTTP: wrk -t $WRK_THREADS -c $CONNECTIONS -d ${DURATION}s --latency -s bench/serve_post.lua (BENCH_BODIES = 200 one-row bodies), $PLACE"
NAMES=()

# bare and cairn alternate for HTTP_ROUNDS rounds: the machine's speed drifts by tens of
# percent within minutes, so each ratio is taken from neighbouring runs, and the table
# shows each server's median round.
for round in $(seq 1 "$HTTP_ROUNDS"); do
  PORT=$(free_port)
  "${SRV[@]}" "$WORK/serve_bare" "$PORT" "$SERVER_CPUS" >"$WORK/bare.stdout" 2>"$WORK/bare.stderr" &
  SERVER_PID=$!
  wait_ready bare "http://127.0.0.1:$PORT$PREDICT_PATH"
  load "bare.$round" "http://127.0.0.1:$PORT$PREDICT_PATH" cpu
  stop_server

  PORT=$(free_port)
  "${SRV[@]}" "$CAIRN" --home "$HOME_DIR" serve --model churn --port "$PORT" --threads "$SERVER_CPUS" \
    >"$WORK/cairn.stdout" 2>"$WORK/cairn.stderr" &
  SERVER_PID=$!
  wait_ready cairn "http://127.0.0.1:$PORT$PREDICT_PATH"
  load "cairn.$round" "http://127.0.0.1:$PORT$PREDICT_PATH" cpu
  curl -s "http://127.0.0.1:$PORT/metrics" >"$WORK/cairn.$round.metrics" ||
    die "cannot read cairn's /metrics"
  stop_server
done
NAMES+=(bare cairn)

if [ "$HAVE_PEERS" = 1 ]; then
  "$PY" "$ROOT/bench/serve_peer_flask.py" train "$CSV" "$WORK/peer_model.json" >"$WORK/peer_train.out" ||
    die "serve_peer_flask.py train failed"

  PORT=$(free_port)
  "${SRV[@]}" "$PY" "$ROOT/bench/serve_peer_flask.py" serve "$WORK/peer_model.json" "$PORT" \
    >"$WORK/flask.stdout" 2>"$WORK/flask.stderr" &
  SERVER_PID=$!
  wait_ready flask "http://127.0.0.1:$PORT$PREDICT_PATH"
  load flask "http://127.0.0.1:$PORT$PREDICT_PATH"
  stop_server
  NAMES+=(flask)

  # uvicorn's fast event loop and HTTP parser when installed (as uvicorn[standard]
  # deploys it; scripts/deps.sh installs both): 5.6x the req/s of asyncio + h11 here.
  BENCH_FASTAPI_STACK=$("$PY" -c 'import importlib.util as u
print(("uvloop" if u.find_spec("uvloop") else "asyncio") + "+" +
      ("httptools" if u.find_spec("httptools") else "h11"))')
  export BENCH_FASTAPI_STACK
  PORT=$(free_port)
  BENCH_PEER_MODEL=$WORK/peer_model.json "${SRV[@]}" "$PY" -m uvicorn serve_peer_fastapi:app \
    --app-dir "$ROOT/bench" --host 127.0.0.1 --port "$PORT" --workers 2 --no-access-log \
    --log-level warning >"$WORK/fastapi.stdout" 2>"$WORK/fastapi.stderr" &
  SERVER_PID=$!
  wait_ready fastapi "http://127.0.0.1:$PORT$PREDICT_PATH"
  load fastapi "http://127.0.0.1:$PORT$PREDICT_PATH"
  stop_server
  NAMES+=(fastapi)
fi

# The table, the ratios and the checks.
"$PY" - "$WORK" "$ENFORCE" "${NAMES[@]}" <<'EOF'
import os
import re
import sys

work, enforce, names = sys.argv[1], sys.argv[2] == "1", sys.argv[3:]
UNIT = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def ms(text):
    m = re.fullmatch(r"([0-9.]+)(us|ms|s|m)", text)
    return float(m.group(1)) * UNIT[m.group(2)]


def parse(name):
    text = open(f"{work}/{name}.wrk").read()
    r = {"rps": float(re.search(r"Requests/sec:\s*([0-9.]+)", text).group(1)),
         "requests": int(re.search(r"(\d+) requests in", text).group(1))}
    for pct in ("50", "99"):
        r["p" + pct] = ms(re.search(rf"^\s*{pct}(?:\.000)?%\s+(\S+)", text, re.M).group(1))
    m = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    r["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    r["sockerr"] = sum(int(g) for g in m.groups()) if m else 0
    return r


import glob
import statistics

# bare and cairn ran in alternating rounds: each server's median round for the table,
# every round for the checks, and the ratio of each round's pair.
rounds = {n: [parse(f"{n}.{k}") for k in range(1, len(glob.glob(f"{work}/{n}.*.wrk")) + 1)]
          for n in ("bare", "cairn")}
res = {}
for n in names:
    if n in rounds:
        rs = sorted(rounds[n], key=lambda r: r["rps"])
        res[n] = dict(rs[(len(rs) - 1) // 2])
        res[n]["non2xx"] = sum(r["non2xx"] for r in rounds[n])
        res[n]["sockerr"] = sum(r["sockerr"] for r in rounds[n])
    else:
        res[n] = parse(n)
label = {"cairn": "cairn serve (log on)", "bare": "bare libmicrohttpd",
         "flask": "Flask threaded + xgboost",
         "fastapi": "FastAPI/uvicorn x2 + xgboost"}
if os.environ.get("BENCH_FASTAPI_STACK"):
    print(f"fastapi: uvicorn on {os.environ['BENCH_FASTAPI_STACK']}")
print()
print(f"{'server':30} {'req/s':>10} {'p50 ms':>9} {'p99 ms':>9} {'requests':>10} "
      f"{'non-2xx':>8} {'sock err':>8}")
for n in names:
    r = res[n]
    print(f"{label[n]:30} {r['rps']:10.0f} {r['p50']:9.2f} {r['p99']:9.2f} {r['requests']:10d} "
          f"{r['non2xx']:8d} {r['sockerr']:8d}")
print()
c = res["cairn"]
py = [n for n in ("flask", "fastapi") if n in res]
if py:
    best = max(py, key=lambda n: res[n]["rps"])
    print(f"ratio cairn/fastest Python ({best}): req/s {c['rps'] / res[best]['rps']:.1f}x, "
          f"p99 {res[best]['p99'] / c['p99']:.1f}x lower")
pair = [cr["rps"] / br["rps"] for br, cr in zip(rounds["bare"], rounds["cairn"])]
print(f"ratio cairn/bare: req/s {statistics.median(pair):.2f}, median of {len(pair)} rounds "
      f"({', '.join(f'{x:.2f}' for x in pair)}; the share of the HTTP ceiling cairn keeps "
      f"with validation, scoring and the log)")
def p99s(n):
    return ", ".join("%.2f" % r["p99"] for r in rounds[n])


print(f"p99 per round: bare {p99s('bare')} ms; cairn {p99s('cairn')} ms")

round_metrics = [open(f).read() for f in sorted(glob.glob(f"{work}/cairn.*.metrics"))]
metrics = "".join(round_metrics)


def metric(name):
    # summed over the rounds' servers
    ms_ = re.findall(rf"^{name} (\S+)$", metrics, re.M)
    return sum(float(x) for x in ms_) if ms_ else None


dropped, records = metric("cairn_log_dropped_total"), metric("cairn_log_records_total")
print(f"cairn prediction log: {records:.0f} records, {dropped:.0f} dropped"
      if dropped is not None and records is not None else "cairn prediction log: no metrics")
peaks = [re.findall(r"^cairn_log_ring_(peak_bytes|bytes) (\S+)$", text, re.M)
         for text in round_metrics]
print("cairn log buffer peak per round: " +
      ", ".join("%.1f of %.0f MiB" % (float(d["peak_bytes"]) / 2**20, float(d["bytes"]) / 2**20)
                for d in (dict(p) for p in peaks) if "peak_bytes" in d and "bytes" in d))
# Closed segments still uncompressed when each round ended: from 8 on (compress_backlog),
# the log's backlog thread compresses beside the requests at normal priority, which shows
# in that round's p99 (docs/prediction-log.md).
def per_round(name):
    return ", ".join("%.0f" % float(v[0]) for v in
                     (re.findall(rf"^{name} (\S+)$", text, re.M) for text in round_metrics) if v)


print(f"cairn log per round: segments uncompressed at the end "
      f"{per_round('cairn_log_segments_uncompressed')}; compressed beside the requests "
      f"{per_round('cairn_log_backlog_compressions_total')} (from 8 waiting on)")
failed = []
if c["non2xx"] or c["sockerr"]:
    failed.append(f"cairn answered {c['non2xx']} non-2xx responses, {c['sockerr']} socket errors")
if dropped is None or dropped != 0:
    failed.append(f"cairn_log_dropped_total is {dropped}")
inproc = open(f"{work}/inproc.out").read()
m = re.search(r"ratio xgboost/cairn: median ([0-9.]+)x", inproc)
if enforce and m and float(m.group(1)) < 5:
    failed.append(f"single-row in process only {m.group(1)}x faster (BENCH_ENFORCE=1)")
for f in failed:
    print(f"bench: FAILED: {f}")
if failed:
    sys.exit(1)
print("bench: checks passed (cairn: every response 2xx, no log record dropped)")
EOF
