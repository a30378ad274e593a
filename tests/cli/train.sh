#!/usr/bin/env bash
# cairn train end to end on generated data: a run is stored with its metrics,
# intervals, slices, findings and state; the same spec, data and seed give the
# same model bytes and metrics; --seed changes them; PII columns are dropped
# unless allowed; a run that fails is stored as failed with its error; spec
# errors name their line; non-terminal output is only the result.
. "$(dirname "$0")/lib/common.bash"
SYNTH=${CAIRN_SYNTH:?}
"$CAIRN" init >/dev/null
"$SYNTH" churn --rows 4000 --seed 5 -o "$T/churn.csv" >/dev/null
# A copy with an e-mail column (PII by its values).
awk -F, -v OFS=, 'NR == 1 { print $0, "email"; next } { print $0, "user" NR "@example.com" }' \
  "$T/churn.csv" > "$T/churn_pii.csv"
"$CAIRN" data add "$T/churn.csv" --name churn >/dev/null
"$CAIRN" data add "$T/churn_pii.csv" --name churnpii >/dev/null

cat > "$T/spec.yaml" <<'YAML'
name: churn
data: churn
label: churned
positive: "Yes"
entity: customer_id
time: signup_time
model: {type: gbdt, rounds: 30, max_depth: 4, early_stopping: 5}
evaluation: {metrics: [auc, logloss, brier], slices: [plan, tenure_months], bootstrap: 200}
gates:
  auc: {min: 0.6}
YAML

run "$CAIRN" train "$T/spec.yaml"
expect_rc 0 "train succeeds"
expect_match 'auc' "$OUT" "text output names the metrics"
[ -z "$ERR" ] && ok || fail "non-terminal train writes nothing to stderr without --verbose: $ERR"

run "$CAIRN" --json train "$T/spec.yaml"
expect_rc 0 "train --json"
R1=$(json 'j["id"]')
expect_match '^r-[0-9a-f]{12}$' "$R1" "run id format"
expect_eq "succeeded" "$(json 'j["status"]')" "status"
expect_eq "time" "$(json 'j["split"]["by"]')" "time column given: split by time"
expect_eq "True" "$(json '0.5 < j["eval"]["model"]["metrics"]["auc"]["estimate"] <= 1')" "model AUC"
expect_eq "True" "$(json 'abs(j["eval"]["baseline"]["metrics"]["auc"]["estimate"] - 0.5) < 1e-9')" "baseline AUC is 0.5"
expect_eq "True" "$(json 'all(m["lo"] <= m["estimate"] <= m["hi"] for k, m in j["eval"]["model"]["metrics"].items() if m["estimate"] is not None and m["lo"] is not None)')" "intervals hold their estimates"
expect_eq "True" "$(json 'j["split"]["rows"]["train"] + j["split"]["rows"]["valid"] + j["split"]["rows"]["test"] == 4000')" "every row in one part"
expect_eq "True" "$(json '{s["column"] for s in j["eval"]["model"]["slices"]} == {"plan", "tenure_months"}')" "slices for both columns"
expect_eq "True" "$(json 'sum(s["n"] for s in j["eval"]["model"]["slices"] if s["column"] == "plan") == j["split"]["rows"]["test"]')" "plan slices cover the test part"
expect_eq "True" "$(json 'j["eval"]["threshold"]["chosen_on"] == "valid" and 0 <= j["eval"]["threshold"]["value"] <= 1')" "threshold chosen on validation"
expect_eq "True" "$(json 'len(j["eval"]["model"]["calibration"]) == 10')" "reliability table"
expect_eq "True" "$(json 'j["states"]["model_bytes"] > 0 and j["states"]["transform_bytes"] > 0 and j["states"]["baseline_bytes"] > 0')" "trained state stored"
expect_eq "True" "$(json 'j["dataset"]["name"] == "churn" and j["dataset"]["version"] == 1 and len(j["dataset"]["hash"]) == 64')" "dataset version and hash recorded"
expect_eq "True" "$(json 'len(j["code_version"]) > 0 and "xgboost" in j["build"] and "compiler" in j["build"]')" "code version and build info"
expect_eq "True" "$(json '[s["stage"] for s in j["stages"]][:8] == ["spec","load","resolve","split","leakage","transform","train","baseline"]')" "stage durations"
expect_eq "True" "$(json 'j["gates"] == [{"metric": "auc", "op": "min", "value": 0.6}]')" "gates as declared"
expect_eq "True" "$(json 'j["spec_text"].startswith("name: churn")')" "spec verbatim"
expect_eq "True" "$(json 'j["spec"]["seed"] == 42 and j["seed"] == 42')" "default seed"
H1=$(json 'j["states"]["state_hash"]'); M1=$(json 'json.dumps(j["eval"])')

# Reproducible: the same spec, data and seed give the same bytes and metrics.
run "$CAIRN" --json train "$T/spec.yaml"
expect_eq "$H1" "$(json 'j["states"]["state_hash"]')" "same model bytes on a second run"
expect_eq "$M1" "$(json 'json.dumps(j["eval"])')" "same metrics on a second run"
R2=$(json 'j["id"]')
[ "$R1" != "$R2" ] && ok || fail "each run has its own id"
# --seed overrides the spec.
run "$CAIRN" --json train "$T/spec.yaml" --seed 7
expect_eq "7 7" "$(json 'j["seed"], j["spec"]["seed"]' | tr -d '(),')" "--seed recorded"
# Thread count does not change the model.
run "$CAIRN" --json train "$T/spec.yaml" --threads 1
expect_eq "$H1" "$(json 'j["states"]["state_hash"]')" "one thread gives the same model bytes"

# --verbose prints the stages on stderr.
run "$CAIRN" train "$T/spec.yaml" --verbose
expect_match 'transform' "$ERR" "--verbose lists stages"

# On a terminal (a pseudo-terminal from script(1)): stage lines and a boosting bar with rate and ETA.
if command -v script >/dev/null; then
  TERM=dumb script -qec "\"$CAIRN\" train \"$T/spec.yaml\"" /dev/null > "$T/tty.out" 2>&1
  expect_match 'boosting \[.*rounds/s +ETA' "$(tr '\r' '\n' < "$T/tty.out")" "progress bar with rate and ETA on a terminal"
  expect_match 'leakage +[0-9.]+ s' "$(cat "$T/tty.out")" "a line per stage on a terminal"
else
  echo "note: script(1) not found; terminal progress not tested"
fi

# Linear model with one-hot features; regression and multiclass tasks.
sed -e 's/model: .*/model: {type: linear, l2: 1.0}/' "$T/spec.yaml" > "$T/linear.yaml"
run "$CAIRN" --json train "$T/linear.yaml"
expect_rc 0 "linear trains"
expect_eq "True" "$(json 'j["model_type"] == "linear" and j["eval"]["model"]["metrics"]["auc"]["estimate"] > 0.6')" "linear model learns"
cat > "$T/reg.yaml" <<'YAML'
name: charges
data: churn
label: total_charges
task: regression
time: signup_time
features: {exclude: [customer_id, churned]}
model: {rounds: 40, max_depth: 4}
evaluation: {bootstrap: 100}
YAML
run "$CAIRN" --json train "$T/reg.yaml"
expect_rc 0 "regression trains"
expect_eq "True" "$(json 'j["eval"]["model"]["metrics"]["r2"]["estimate"] > 0.5 and "rmse" in j["eval"]["model"]["metrics"]')" "regression metrics"
cat > "$T/mc.yaml" <<'YAML'
name: plans
data: churn
label: plan
task: multiclass
split: {by: stratified, allow_time_leak: true}
time: signup_time
features: {exclude: [customer_id]}
model: {rounds: 20, max_depth: 3}
evaluation: {bootstrap: 50}
YAML
run "$CAIRN" --json train "$T/mc.yaml"
expect_rc 0 "multiclass trains"
expect_eq "True" "$(json 'set(j["eval"]["model"]["metrics"]) >= {"accuracy","macro_f1","logloss"} and len(j["eval"]["classes"]) >= 3')" "multiclass metrics and classes"
expect_eq "True" "$(json 'any(f["code"] == "random_split_with_time" for f in j["findings"])')" "random split on timed data is a finding"

# PII: the e-mail column is dropped, unless allowed (then a finding).
sed -e 's/^data: churn/data: churnpii/' "$T/spec.yaml" > "$T/pii.yaml"
run "$CAIRN" --json train "$T/pii.yaml"
expect_eq '["email"]' "$(json 'json.dumps(j["split"]["dropped_pii"])')" "PII column dropped"
expect_eq "False" "$(json '"email" in j["spec"]["features"]["columns"] and "email" not in j["split"]["dropped_pii"]')" "email not a feature"
printf 'features: {exclude: [customer_id], allow_pii: [email]}\n' >> "$T/pii.yaml"
run "$CAIRN" --json train "$T/pii.yaml"
expect_eq "True" "$(json 'any(f["code"] == "pii_feature" and f["column"] == "email" for f in j["findings"])')" "allowed PII is a finding"

# A leak: a copy of the label as a feature is named critical.
awk -F, -v OFS=, 'NR == 1 { print $0, "outcome_code"; next } { print $0, ($NF == "Yes" ? 1 : 0) }' \
  "$T/churn.csv" > "$T/leak.csv"
"$CAIRN" data add "$T/leak.csv" --name leaky >/dev/null
sed -e 's/^data: churn/data: leaky/' "$T/spec.yaml" > "$T/leak.yaml"
run "$CAIRN" --json train "$T/leak.yaml"
expect_eq "True" "$(json 'any(f["code"] == "single_feature_leak" and f["severity"] == "critical" and f["column"] == "outcome_code" for f in j["findings"])')" "leaking feature named critical"
expect_eq "True" "$(json 'any(f["code"] == "implausible_test_score" and f["severity"] == "high" for f in j["findings"])')" "implausibly perfect test score found"

# Failures: a spec error names its line; a missing column fails the run, which is stored.
printf 'name: x\ndata: churn\nlabel: churned\npositive: "Yes"\nmodle: {}\n' > "$T/bad.yaml"
run "$CAIRN" train "$T/bad.yaml"
expect_rc 3 "unknown key"
expect_match 'bad.yaml:5' "$ERR" "unknown key names its line"
sed -e 's/^label: churned/label: nope/' "$T/spec.yaml" > "$T/nolabel.yaml"
run "$CAIRN" train "$T/nolabel.yaml"
expect_rc 3 "missing label column"
expect_match "nope" "$ERR" "missing column named"
expect_match "recorded as r-" "$ERR" "failed run recorded"
run "$CAIRN" --json runs ls --status failed
expect_eq "True" "$(json 'len(j["runs"]) >= 2 and all(r["status"] == "failed" and r["error"] for r in j["runs"])')" "failed runs listed with their error"
sed -e 's/^data: churn/data: nosuch/' "$T/spec.yaml" > "$T/nodata.yaml"
run "$CAIRN" train "$T/nodata.yaml"
expect_rc 3 "unknown dataset"
run "$CAIRN" train "$T/missing.yaml"
expect_rc 3 "missing spec file"
run "$CAIRN" train "$T/spec.yaml" --seed -1
expect_rc 2 "bad --seed"
run "$CAIRN" train
expect_rc 2 "no spec"
finish
