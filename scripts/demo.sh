#!/usr/bin/env bash
# The main job: installs what cairn needs, builds it, and runs every stage that
# exists so far on a churn-like dataset that cairn-synth generates (see
# docs/demo-data.md): ingest, re-ingest (deduplicated), schema and statistics,
# contract inference, a passing contract check, a later batch with drifted
# data, a batch with injected faults that the contract check names row by row,
# training, review, promotion, signing, batch scoring and serving, and finally
# monitoring: the later, shifted period scored into the prediction log, delayed
# labels, the monitor's alerts, HTML reports, and a rollback the running server
# follows.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
bash scripts/deps.sh
bash scripts/build.sh
CAIRN="$ROOT/build/cairn"
SYNTH="$ROOT/build/cairn-synth"
DEMO="$ROOT/demo"
export CAIRN_HOME="$DEMO/home"
rm -rf "$DEMO"
mkdir -p "$DEMO"

stage() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*"; "$@"; }

stage "1. generate a churn-like table (entity id, signup time, numbers, categories, missing values, a label, a shift after 2025-07-01)"
run "$SYNTH" churn --rows 20000 --seed 7 -o "$DEMO/churn.csv"
head -3 "$DEMO/churn.csv"

stage "2. create a home"
run "$CAIRN" init

stage "3. ingest: parse, type inference, column statistics, zstd snapshot named by its BLAKE2b hash"
run "$CAIRN" data add "$DEMO/churn.csv" --name churn
stage "   the same content again is not stored twice"
run "$CAIRN" data add "$DEMO/churn.csv" --name churn

stage "4. what was stored"
run "$CAIRN" data ls
run "$CAIRN" data show churn
run "$CAIRN" data stats churn

stage "5. infer the data contract (types, ranges, domains, keys, roles, PII) and save it with the dataset"
run "$CAIRN" contract infer churn --label churned --entity customer_id --time signup_time \
    -o "$DEMO/churn.contract.yaml" --save
sed -n '1,30p' "$DEMO/churn.contract.yaml"

stage "6. the dataset passes its own contract"
run "$CAIRN" contract check churn

stage "7. a later batch (new customers, after the shift) checked against the same contract"
run "$SYNTH" churn --rows 4000 --seed 8 --start 2025-09-01 --days 60 -o "$DEMO/batch2.csv"
run "$CAIRN" data add "$DEMO/batch2.csv" --name churn
set +e
"$CAIRN" contract check churn@2; rc=$?
set -e
echo "(exit code $rc: 1 means the contract check found errors, as it should on drifted data)"

stage "8. a copy with injected faults: an out-of-range number, an unknown category, text in a numeric column"
awk -F, -v OFS=, '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; print; next }
  NR == 6  { $col["tenure_months"] = -3 }
  NR == 11 { $col["plan"] = "platinum" }
  NR == 21 { $col["monthly_charges"] = "n/a-yet" }
  { print }' "$DEMO/churn.csv" > "$DEMO/churn_faulty.csv"
run "$CAIRN" data add "$DEMO/churn_faulty.csv" --name churn_faulty
set +e
"$CAIRN" contract check churn_faulty --contract "$DEMO/churn.contract.yaml"; rc=$?
set -e
echo "(exit code $rc; the faults were put in data rows 4, 9 and 19, counting from 0)"

stage "9. machine-readable output for scripts"
"$CAIRN" --json data show churn@1 | head -c 400; echo

stage "10. train: a pipeline spec (split by time, leakage checks, transforms, gbdt vs baseline, bootstrap intervals)"
cat > "$DEMO/churn.spec.yaml" <<'YAML'
name: churn
data: churn@1
label: churned
positive: "Yes"
entity: customer_id
time: signup_time
split: {by: time, valid: 0.1, test: 0.2}
model: {type: gbdt, rounds: 200, max_depth: 6, learning_rate: 0.1, early_stopping: 20}
seed: 42
evaluation: {metrics: [auc, logloss, brier], slices: [contract, plan], bootstrap: 500}
gates:
  auc: {min: 0.70}
  auc_vs_baseline: {min_delta: 0.05}
YAML
cat "$DEMO/churn.spec.yaml"
run "$CAIRN" train "$DEMO/churn.spec.yaml" --verbose

stage "11. the same spec with a linear model, and the two runs side by side"
sed -e 's/^model: .*/model: {type: linear, l2: 1.0}/' "$DEMO/churn.spec.yaml" > "$DEMO/churn.linear.yaml"
run "$CAIRN" train "$DEMO/churn.linear.yaml"
run "$CAIRN" runs ls
A=$("$CAIRN" --json runs ls --model churn | /usr/bin/python3 -c 'import json,sys; r=json.load(sys.stdin)["runs"]; print(r[-1]["id"], r[0]["id"])')
run "$CAIRN" runs compare $A

stage "12. a leak is caught: a copy of the data with a column recorded after the outcome"
awk -F, -v OFS=, 'NR == 1 { print $0, "retention_offer"; next } { print $0, ($NF == "Yes" ? "made" : "none") }' \
    "$DEMO/churn.csv" > "$DEMO/churn_leaky.csv"
run "$CAIRN" data add "$DEMO/churn_leaky.csv" --name churn_leaky
sed -e 's/^data: churn@1/data: churn_leaky/' "$DEMO/churn.spec.yaml" > "$DEMO/churn.leaky.yaml"
"$CAIRN" train "$DEMO/churn.leaky.yaml" | sed -n '/^findings/,/^stages/p'

run_of() { # run_of DATASET_NAME MODEL_TYPE: the newest run trained on it with that model
  "$CAIRN" --json runs ls | /usr/bin/python3 -c '
import json, sys
runs = [r for r in json.load(sys.stdin)["runs"]
        if r["status"] == "succeeded" and r["dataset"]["name"] == sys.argv[1] and r["model_type"] == sys.argv[2]]
print(runs[0]["id"])' "$1" "$2"
}
GBDT=$(run_of churn gbdt)
LEAKY=$(run_of churn_leaky gbdt)

stage "13. review: the reviewer's checklist, automated (gates declared before training, baseline, calibration, leakage, reproducibility)"
run "$CAIRN" review "$GBDT"

stage "14. promote it: churn@1 becomes production (artifact written, alias moved, audit row)"
run "$CAIRN" promote "$GBDT" --model churn --reason "first release"

stage "15. the leaky run is refused, with every reason, and the refusal is audited"
set +e
"$CAIRN" promote "$LEAKY" --model churn; rc=$?
set -e
echo "(exit code $rc: 1 means the promotion was refused, as it should be)"

stage "16. the registry: versions, aliases, lineage (which data trained production), audit log"
run "$CAIRN" models show churn
run "$CAIRN" models history churn

stage "17. sign the production artifact, export it with its lineage, import it into another home that trusts the key"
run "$CAIRN" keys gen -o "$DEMO/team"
run "$CAIRN" sign churn --key "$DEMO/team.key"
run "$CAIRN" export churn -o "$DEMO/churn.art"
run "$CAIRN" --home "$DEMO/other-home" init
run "$CAIRN" --home "$DEMO/other-home" keys trust "$DEMO/team.pub"
run "$CAIRN" --home "$DEMO/other-home" import "$DEMO/churn.art"

stage "18. batch scoring through the serving code path: the later batch, rows that break the contract reported by line"
run "$CAIRN" predict churn "$DEMO/batch2.csv" -o "$DEMO/batch2.scores.csv"
head -4 "$DEMO/batch2.scores.csv"

stage "19. serve it: HTTP on 127.0.0.1, real requests with curl, the reply names the model version"
"$CAIRN" serve --port 0 > "$DEMO/serve.out" 2> "$DEMO/serve.err" &
SERVE_PID=$!
for _ in $(seq 1 100); do grep -q listening "$DEMO/serve.out" 2>/dev/null && break; sleep 0.1; done
cat "$DEMO/serve.out"
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DEMO/serve.out")
ROW=$(/usr/bin/python3 - "$DEMO/churn.csv" <<'PY'
import csv, json, sys
r = next(csv.DictReader(open(sys.argv[1])))
r.pop("churned")
def typed(v):
    if v == "": return None
    if v in ("true", "false"): return v == "true"
    for t in (int, float):
        try: return t(v)
        except ValueError: pass
    return v
print(json.dumps({"instances": [{k: typed(v) for k, v in r.items()}], "request_id": "demo-1"}))
PY
)
echo "\$ curl -s -X POST http://127.0.0.1:$PORT/v1/models/churn:predict -d '$ROW'"
curl -s -X POST "http://127.0.0.1:$PORT/v1/models/churn:predict" -d "$ROW"; echo
echo "\$ curl -s -X POST .../v1/models/churn:predict -d '{\"instances\": [{\"tenure_months\": -3}]}'   # breaks the contract"
curl -s -X POST "http://127.0.0.1:$PORT/v1/models/churn:predict" -d '{"instances": [{"tenure_months": -3}]}' | head -c 400; echo
echo "\$ curl -s http://127.0.0.1:$PORT/metrics | grep cairn_predictions_total"
curl -s "http://127.0.0.1:$PORT/metrics" | grep '^cairn_predictions_total'
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"
echo "(server stopped by SIGTERM, exit $?: in-flight requests drained, the log flushed)"
run "$CAIRN" logs show --limit 3

stage "20. the later, shifted period scored as a backfill: each row logged at its own signup time, keyed by customer"
run "$CAIRN" predict churn "$DEMO/batch2.csv" --log --time signup_time --entity customer_id \
    --id customer_id -o "$DEMO/batch2.scores.csv" 2>&1 | tail -3

stage "21. the outcomes arrive later: delayed labels, joined by customer and time (twice: duplicates are counted, not doubled)"
run "$CAIRN" labels add "$DEMO/batch2.csv" --key customer_id --label churned --time signup_time
run "$CAIRN" labels add "$DEMO/batch2.csv" --key customer_id --label churned --time signup_time

stage "22. monitor by month: the planted drift (prices up, data usage up, a new device), refused rows, performance with intervals; exit 1 = alert"
set +e
"$CAIRN" monitor churn --window 1mo --on-alert 'echo "on-alert hook: $CAIRN_ALERT_COUNT alerts ($CAIRN_ALERT_KINDS) for $CAIRN_ALERT_MODEL"'; rc=$?
set -e
echo "(exit code $rc: 1 means something alerts, as it should on this period)"

stage "23. self-contained HTML reports (inline SVG and CSS, no scripts): the run, and the monitoring"
run "$CAIRN" report "$GBDT" -o "$DEMO/run.html"
run "$CAIRN" report monitor churn --window 1mo -o "$DEMO/drift.html"
ls -l "$DEMO/run.html" "$DEMO/drift.html"

stage "24. a second version goes to production while the server runs; then roll back: no retraining, the server follows"
"$CAIRN" serve --port 0 --poll 0.5 > "$DEMO/serve.out" 2> "$DEMO/serve.err" &
SERVE_PID=$!
for _ in $(seq 1 100); do grep -q listening "$DEMO/serve.out" 2>/dev/null && break; sleep 0.1; done
PORT=$(sed -n 's/.*127\.0\.0\.1:\([0-9]*\).*/\1/p' "$DEMO/serve.out")
LINEAR=$(run_of churn linear)
run "$CAIRN" promote "$LINEAR" --model churn --override "demo: a second version to roll back from" -q
sleep 1.5
echo "\$ curl -s -X POST http://127.0.0.1:$PORT/v1/models/churn:predict -d '{... \"request_id\": \"demo-2\"}'"
curl -s -X POST "http://127.0.0.1:$PORT/v1/models/churn:predict" -d "${ROW/demo-1/demo-2}"; echo
run "$CAIRN" rollback churn --reason "demo: the monitor alerted"
sleep 1.5
echo "\$ curl -s -X POST http://127.0.0.1:$PORT/v1/models/churn:predict -d '{... \"request_id\": \"demo-3\"}'"
curl -s -X POST "http://127.0.0.1:$PORT/v1/models/churn:predict" -d "${ROW/demo-1/demo-3}"; echo
run "$CAIRN" models history churn --limit 3
kill -TERM "$SERVE_PID"; wait "$SERVE_PID"
echo "(server stopped by SIGTERM, exit $?)"

stage "done: home in $CAIRN_HOME (cairn.db, objects/, logs/); reports in $DEMO/run.html and $DEMO/drift.html"
