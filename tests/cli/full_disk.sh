#!/usr/bin/env bash
# A full disk: each write that fails says what and where, exits non-zero and
# loses nothing that was there before; once space is back, the same command
# works. The disk is a real tmpfs of a few MiB, mounted in a private mount
# namespace (unshare -m as root, unshare -rm otherwise), so nothing outside
# this test sees it and it goes away with the test. Without namespaces the
# test skips (exit 77) and says so.
#
# - stdout on /dev/full: exit 4 and "cannot write standard output";
# - `data add` of a snapshot that does not fit: exit 4 with the system's words
#   (No space left on device), the registry unchanged and intact, no
#   temporary file left; after freeing space it adds;
# - `predict -o FILE` that does not fit: exit 4, FILE keeps its old content
#   (written beside it, renamed only when whole), no temporary file left;
# - `serve` whose log directory fills: every request still answered 200; in
#   /metrics every accepted record is either written or dropped
#   (records = written + dropped), with write errors counted; after freeing
#   space the log writes again, a drop marker in the log reports the loss, and
#   the log reads back exactly the written records; stderr says when the
#   writes fail (with the system's reason) and when they work again.
if [ -z "${CAIRN_FULL_DISK_NS:-}" ]; then
  export CAIRN_FULL_DISK_NS=1
  if [ "$(id -u)" = 0 ] && unshare -m true 2>/dev/null; then
    exec unshare -m bash "$0" "$@"
  elif unshare -rm true 2>/dev/null; then
    exec unshare -rm bash "$0" "$@"
  fi
  echo "skip: no private mount namespace here (unshare -m and unshare -rm refused), so no small tmpfs to fill"
  exit 77
fi
. "$(dirname "$0")/lib/common.bash"
SYNTH=${CAIRN_SYNTH:?}
D="$T/disk"
L="$T/logdisk"
SP=
mkdir -p "$D" "$L"
# The mounts go before the directory holding them (the namespace would drop them anyway).
trap '[ -n "$SP" ] && kill "$SP" 2>/dev/null; umount "$L" "$D" 2>/dev/null; rm -rf "$T"' EXIT
mount -t tmpfs -o size=8m tmpfs "$D" || { echo "skip: cannot mount a tmpfs in the namespace"; exit 77; }
export CAIRN_HOME="$D/home"

# fill_leaving KIB: a filler file takes all the free space but KIB KiB.
fill_leaving() {
  rm -f "$D/fill"
  local free; free=$(df -k --output=avail "$D" | tail -1)
  [ "$free" -gt "$1" ] && dd if=/dev/zero of="$D/fill" bs=1k count=$((free - $1)) 2>/dev/null
  return 0
}
no_tmp_files() { # no_tmp_files DIR DESCRIPTION
  local left; left=$(find "$1" -name '.tmp-*' | wc -l)
  expect_eq 0 "$left" "$2: no temporary file left behind"
}

# ---- stdout on a full device -------------------------------------------------------------
"$CAIRN" init >/dev/null
run "$CAIRN" --json data ls
expect_rc 0 "data ls on an empty home"
"$CAIRN" --json data ls >/dev/full 2>"$T/err"; RC=$?; ERR=$(cat "$T/err")
expect_rc 4 "data ls --json > /dev/full"
expect_match "cannot write standard output: No space left on device" "$ERR" "stdout full: said so"

# ---- data add: a snapshot that does not fit ------------------------------------------------
"$SYNTH" churn --rows 3000 --seed 5 -o "$T/small.csv" >/dev/null
"$SYNTH" churn --rows 40000 --seed 6 -o "$T/big.csv" >/dev/null
run "$CAIRN" data add "$T/small.csv" --name churn
expect_rc 0 "data add small"
fill_leaving 400
run "$CAIRN" data add "$T/big.csv" --name big
expect_rc 4 "data add on a full disk"
expect_match "No space left on device" "$ERR" "data add: the system's reason"
run "$CAIRN" --json data ls
expect_rc 0 "the registry opens after the failed add"
expect_eq "churn" "$(json '" ".join(v["name"] for v in j)')" "data ls: only the version added before"
no_tmp_files "$CAIRN_HOME" "data add"
if command -v sqlite3 >/dev/null; then
  expect_eq ok "$(sqlite3 "$CAIRN_HOME/cairn.db" 'PRAGMA integrity_check')" "sqlite integrity after the failed add"
fi
rm -f "$D/fill"
run "$CAIRN" data add "$T/big.csv" --name big
expect_rc 0 "data add once space is back"

# ---- predict -o: output that does not fit -----------------------------------------------------
"$CAIRN" contract infer churn --label churned --entity customer_id --time signup_time --save \
  -o "$T/contract.yaml" >/dev/null 2>&1
cat >"$T/spec.yaml" <<'EOF'
name: churn
data: churn@1
label: churned
positive: "Yes"
entity: customer_id
time: signup_time
evaluation: {bootstrap: 20}
model: {type: gbdt, rounds: 20, max_depth: 3}
EOF
run "$CAIRN" --json train "$T/spec.yaml"
expect_rc 0 "train"
run_id=$(json 'j["id"]')
run "$CAIRN" promote "$run_id" --model churn --override "test setup"
expect_rc 0 "promote"
"$SYNTH" churn --rows 20000 --seed 7 -o "$T/score.csv" >/dev/null
echo "old predictions" >"$D/out.csv"
fill_leaving 100
run "$CAIRN" predict churn "$T/score.csv" -o "$D/out.csv"
expect_rc 4 "predict -o on a full disk"
expect_match "No space left on device" "$ERR" "predict -o: the system's reason"
expect_eq "old predictions" "$(cat "$D/out.csv")" "predict -o: the old file is untouched"
no_tmp_files "$D" "predict -o"
rm -f "$D/fill"
run "$CAIRN" --json predict churn "$T/score.csv" -o "$D/out.csv"
expect_rc 0 "predict -o once space is back"
expect_eq "$(json 'j["scored"] + 1')" "$(wc -l <"$D/out.csv")" "predict -o: header and every scored row"
rm -f "$D/out.csv"

# ---- serve: the log directory fills up -------------------------------------------------------
mount -t tmpfs -o size=1m tmpfs "$L"
mkdir "$L/logs"
dd if=/dev/zero of="$L/fill" bs=1k count=600 2>/dev/null
"$CAIRN" serve --model churn --port 0 --threads 2 --log-dir "$L/logs" --log-flush 0.05 --poll 0.2 \
  >"$T/serve.out" 2>"$T/serve.err" &
SP=$!
port=
for _ in $(seq 100); do
  port=$(sed -n 's/.*listening on http:\/\/127.0.0.1:\([0-9]*\).*/\1/p' "$T/serve.out" | head -1)
  [ -n "$port" ] && break
  sleep 0.1
done
[ -n "$port" ] || fail "serve did not start: $(cat "$T/serve.err")"
# load N: N one-row predictions on one kept-alive connection; prints the status counts.
load() {
  $PY - "$port" "$1" "$T/small.csv" <<'EOF'
import collections, csv, http.client, json, sys
port, n, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
with open(path) as f:
    rd = csv.DictReader(f)
    row = next(rd)
row.pop("churned", None)
def val(v):
    if v == "":
        return None
    if v in ("true", "false"):
        return v == "true"
    for t in (int, float):
        try:
            return t(v)
        except ValueError:
            pass
    return v
body = json.dumps({"instances": [{k: val(v) for k, v in row.items()}]}).encode()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
seen = collections.Counter()
for i in range(n):
    c.request("POST", "/v1/models/churn:predict", body=body, headers={"Content-Type": "application/json"})
    r = c.getresponse()
    r.read()
    seen[r.status] += 1
print(" ".join(f"{k}:{v}" for k, v in sorted(seen.items())))
EOF
}
metric() { curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m {print $2}'; }
expect_eq "200:3000" "$(load 3000)" "requests answered while the log's disk fills"
sleep 0.5
rec=$(metric cairn_log_records_total); wr=$(metric cairn_log_written_total)
dr=$(metric cairn_log_dropped_total); we=$(metric cairn_log_write_errors_total)
expect_eq "$rec" "$((wr + dr))" "every record written or dropped ($wr + $dr of $rec)"
[ "$dr" -gt 0 ] && ok || fail "records lost to the full disk are counted as dropped ($dr)"
[ "$we" -gt 0 ] && ok || fail "write errors are counted ($we)"
rm -f "$L/fill"
expect_eq "200:500" "$(load 500)" "requests answered after space is back"
sleep 0.5
wr2=$(metric cairn_log_written_total); dr2=$(metric cairn_log_dropped_total)
rec2=$(metric cairn_log_records_total)
[ "$wr2" -gt "$wr" ] && ok || fail "the log writes again once space is back ($wr -> $wr2)"
expect_eq "$rec2" "$((wr2 + dr2))" "still every record written or dropped"
kill -TERM "$SP"
wait "$SP"
SP=
ERR=$(cat "$T/serve.err")
expect_match "prediction log: [0-9]+ write error\(s\), [0-9]+ record\(s\) dropped so far; latest: .*No space left on device" \
  "$ERR" "serve says on stderr that the log's writes fail, and why"
expect_match "prediction log: writing again" "$ERR" "serve says when the log writes again"
# A failed segment leaves no file and burns no segment number (numbers 1 and 2 only).
top=$(ls "$L/logs" | sed -n 's/^seg-0*\([0-9][0-9]*\)-.*/\1/p' | sort -n | tail -1)
[ "${top:-0}" -le 2 ] && ok || fail "segment numbers are not burnt by failed attempts (highest $top)"
run "$CAIRN" --json logs show --log-dir "$L/logs"
expect_rc 0 "logs show"
counts=$(printf '%s\n' "$OUT" | $PY -c '
import json, sys
recs = [json.loads(l) for l in sys.stdin if l.strip()]
print(sum(1 for r in recs if "dropped" not in r), sum(r.get("dropped", 0) for r in recs))')
expect_eq "$wr2" "${counts% *}" "the log reads back exactly the records written"
marked=${counts#* }
[ "$marked" -ge "$dr" ] && [ "$marked" -le "$dr2" ] && ok ||
  fail "drop markers in the log report the records lost ($marked; dropped $dr before, $dr2 after)"
finish
