#!/usr/bin/env bash
# runs ls / show / compare against real runs made by `cairn train`: three
# succeeded runs (gbdt max_depth 3 and 5 under one model name, a linear model
# under another) and one that fails on a missing label column. Checks the
# filters and the metric sort against the metrics the JSON reports, that
# `show` text and JSON agree with `ls`, that `compare` lists exactly the
# setting that differs and deltas equal to B - A computed here from the two
# `show --json` outputs, prefix lookup, the exit codes of unknown runs (3)
# and bad usage (2), findings grouped by severity on a leaky dataset, and a
# record whose JSON columns were damaged in the database (it must still print).
. "$(dirname "$0")/lib/common.bash"
SYNTH=${CAIRN_SYNTH:?}
"$CAIRN" init >/dev/null

# An empty home lists nothing, politely.
run "$CAIRN" runs ls; expect_rc 0 "ls on an empty home"
expect_match 'no runs yet' "$OUT" "friendly empty line"
run "$CAIRN" --json runs ls; expect_eq 0 "$(json 'len(j["runs"])')" "empty json list"

"$SYNTH" churn --rows 3000 --seed 5 -o "$T/churn.csv" >/dev/null
"$CAIRN" data add "$T/churn.csv" --name churn >/dev/null
run "$CAIRN" --json data show churn@1; DATA_HASH=$(json 'j["hash"]')

spec() { # spec FILE NAME MODEL LABEL
  cat > "$1" <<EOF
name: $2
data: churn
label: $4
positive: "Yes"
entity: customer_id
time: signup_time
model: $3
evaluation: {slices: [plan], bootstrap: 200}
EOF
}
spec "$T/a.yaml" churn "{type: gbdt, rounds: 20, max_depth: 3}" churned
spec "$T/b.yaml" churn "{type: gbdt, rounds: 20, max_depth: 5}" churned
spec "$T/c.yaml" churn_linear "{type: linear}" churned
spec "$T/bad.yaml" churn_bad "{type: gbdt, rounds: 20}" no_such_column

train() { # train SPEC WANT_RC: sets ID
  run "$CAIRN" --json train "$1"
  expect_rc "$2" "train $(basename "$1")"
  ID=$(json 'j["id"]' 2>/dev/null)
  expect_match '^r-[0-9a-f]{12}$' "$ID" "train $(basename "$1") gives a run id"
}
train "$T/a.yaml" 0; A=$ID
train "$T/b.yaml" 0; B=$ID
train "$T/c.yaml" 0; C=$ID
train "$T/bad.yaml" 3; BAD=$ID

# ---- ls ----
run "$CAIRN" --json runs ls; expect_rc 0 "ls --json"
LS=$OUT
expect_eq 4 "$(json 'len(j["runs"])')" "four runs listed"
expect_eq "$(printf '%s\n' "$A" "$B" "$BAD" "$C" | sort | tr '\n' ' ')" \
  "$(json '" ".join(sorted(r["id"] for r in j["runs"])) + " "')" "the trained ids"
run "$CAIRN" --json runs ls --model churn
expect_eq "$(printf '%s\n' "$A" "$B" | sort | tr '\n' ' ')" \
  "$(json '" ".join(sorted(r["id"] for r in j["runs"])) + " "')" "--model churn"
run "$CAIRN" --json runs ls --model churn_linear; expect_eq "$C" "$(json '" ".join(r["id"] for r in j["runs"])')" "--model churn_linear"
run "$CAIRN" --json runs ls --status failed
expect_eq "$BAD failed" "$(json '" ".join(r["id"] + " " + r["status"] for r in j["runs"])')" "--status failed"
expect_eq "True" "$(json 'j["runs"][0]["eval"] is None and bool(j["runs"][0]["error"])')" "a failed run has an error and no eval"
run "$CAIRN" --json runs ls --status succeeded; expect_eq 3 "$(json 'len(j["runs"])')" "--status succeeded"
run "$CAIRN" --json runs ls --limit 2; expect_eq 2 "$(json 'len(j["runs"])')" "--limit 2"

# --sort: the order must equal the metric order computed here from the unsorted list
# (runs without the metric last).
order() { # order METRIC DESC(1|0): ids by the metric as the unsorted --json reports it
  printf '%s' "$LS" | $PY -c "
import json, sys
runs = json.load(sys.stdin)['runs']
def est(r):
    m = [x['estimate'] for x in r['metrics'] if x['name'] == '$1' and x['estimate'] is not None]
    return m[0] if m else None
have = [r for r in runs if est(r) is not None]
have.sort(key=est, reverse=bool($2))
print(' '.join(r['id'] for r in have + [r for r in runs if est(r) is None]))"
}
for m in "auc 1" "logloss 0" "brier 0"; do
  set -- $m
  run "$CAIRN" --json runs ls --sort "$1"; expect_rc 0 "ls --sort $1"
  expect_eq "$(order "$1" "$2")" "$(json '" ".join(r["id"] for r in j["runs"])')" "--sort $1 order"
done
run "$CAIRN" --json runs ls --sort auc --status succeeded --limit 1
expect_eq "$(order auc 1 | cut -d' ' -f1)" "$(json 'j["runs"][0]["id"]')" "best auc with --limit 1"

run "$CAIRN" runs ls; expect_rc 0 "ls text"
for id in "$A" "$B" "$C" "$BAD"; do expect_match "$id" "$OUT" "ls text lists $id"; done
expect_match 'churn@1' "$OUT" "ls text shows the dataset version"
expect_match 'auc 0\.[0-9]{4}' "$OUT" "ls text shows the main metric"
run "$CAIRN" runs ls --sort auc; expect_match 'AUC' "$OUT" "ls text has the sort column"
run "$CAIRN" runs ls --model nobody; expect_rc 0 "ls with no match"
expect_match 'no runs match' "$OUT" "friendly no-match line"

# ---- show ----
run "$CAIRN" --json runs show "$A"; expect_rc 0 "show --json"
SA=$OUT
expect_eq "$A churn succeeded gbdt churn@1 $DATA_HASH" \
  "$(json '" ".join(str(x) for x in (j["id"], j["model"], j["status"], j["model_type"], j["dataset"]["ref"], j["dataset"]["hash"]))')" "show fields"
# Every field ls gives equals show's (ls carries no states and no spec text).
same=$(printf '%s\n%s' "$LS" "$SA" | $PY -c "
import json, sys
ls_text, show_text = sys.stdin.read().split('\n', 1)
show = json.loads(show_text)
row = [r for r in json.loads(ls_text)['runs'] if r['id'] == show['id']][0]
bad = [k for k in row if k != 'states' and row[k] != show.get(k)]
if row['states']['state_hash'] != show['states']['state_hash']:
    bad.append('state_hash')
print('ok' if not bad else 'differ: ' + ','.join(bad))")
expect_eq ok "$same" "show --json agrees with ls --json"
expect_eq "$(cat "$T/a.yaml")" "$(json 'j["spec_text"]')" "spec text verbatim"
expect_eq "True True True" "$(json 'j["states"]["model_bytes"] > 0, j["states"]["transform_bytes"] > 0, len(j["states"]["state_hash"]) == 64' | tr -d '(),')" "states summarised"
expect_eq "dict dict list" "$(json '" ".join(type(j[k]).__name__ for k in ("spec", "eval", "stages"))')" "JSON columns embedded as JSON"
expect_eq "3" "$(json 'j["spec"]["model"]["max_depth"]')" "resolved spec inside"

run "$CAIRN" runs show "$A"; expect_rc 0 "show text"
SHOW_TEXT=$OUT
expect_match "^run $A" "$SHOW_TEXT" "header names the run"
for m in auc logloss brier; do
  want=$(OUT=$SA json "'%.4f' % [x['estimate'] for x in j['metrics'] if x['name'] == '$m'][0]")
  expect_match "^$m +$want \[" "$SHOW_TEXT" "show text has $m = $want with its interval"
done
expect_match 'slices by plan' "$SHOW_TEXT" "slice table"
expect_match 'threshold 0\.[0-9]{4}' "$SHOW_TEXT" "threshold"
expect_match 'TP [0-9]' "$SHOW_TEXT" "confusion counts"
expect_match 'stages ' "$SHOW_TEXT" "stages"
expect_match 'split +time' "$SHOW_TEXT" "split kind"
expect_match 'contract none' "$SHOW_TEXT" "no contract saved for churn"
expect_match '^training +rounds run 20' "$SHOW_TEXT" "training info"

run "$CAIRN" runs show "$BAD"; expect_rc 0 "show a failed run"
expect_match 'FAILED: .*no_such_column' "$OUT" "the failure is prominent"
run "$CAIRN" --json runs show "$BAD"; expect_eq "failed" "$(json 'j["status"]')" "failed run json"

# ---- prefix lookup and errors ----
run "$CAIRN" --json runs show "${B:0:8}"; expect_rc 0 "unique prefix"
expect_eq "$B" "$(json 'j["id"]')" "prefix resolves to the run"
run "$CAIRN" runs show r-000000000000; expect_rc 3 "unknown run"
expect_match '^cairn: error: ' "$ERR" "unknown run message"
run "$CAIRN" runs compare "$A" r-000000000000; expect_rc 3 "compare with an unknown run"
run "$CAIRN" runs show r-1; expect_rc 2 "prefix too short"
run "$CAIRN" runs show; expect_rc 2 "show without RUN"
run "$CAIRN" runs compare "$A"; expect_rc 2 "compare with one run"
run "$CAIRN" runs ls --sort nosuch; expect_rc 2 "unknown sort metric"
run "$CAIRN" runs ls --limit 0; expect_rc 2 "bad limit"
run "$CAIRN" runs ls --status maybe; expect_rc 2 "bad status"
run "$CAIRN" runs ls extra; expect_rc 2 "unexpected argument"

# ---- compare ----
run "$CAIRN" runs compare "$A" "$B"; expect_rc 0 "compare text"
expect_match 'model\.max_depth +3 +5' "$OUT" "the differing setting with both values"
expect_match 'same data' "$OUT" "same dataset"
expect_match '^auc +0\.[0-9]{4} \[' "$OUT" "metric rows with intervals"
run "$CAIRN" --json runs compare "$A" "$B"; expect_rc 0 "compare --json"
CMP=$OUT
expect_eq '["model.max_depth", 3, 5]' "$(json 'json.dumps([[s["path"], s["a"], s["b"]] for s in j["settings"]][0] if len(j["settings"]) == 1 else j["settings"])')" "exactly one differing setting"
expect_eq "True" "$(json 'j["data"]["same"]')" "same data json"
run "$CAIRN" --json runs show "$B"; SB=$OUT
check=$(printf '%s\n%s\n%s' "$SA" "$SB" "$CMP" | $PY -c "
import json, sys
a, b, c = (json.loads(line) for line in sys.stdin.read().split('\n'))
ma = {m['name']: m for m in a['metrics']}
mb = {m['name']: m for m in b['metrics']}
problems = []
names = [m['name'] for m in c['metrics']]
if sorted(names) != sorted(set(ma) | set(mb)):
    problems.append('names %s vs %s' % (names, sorted(set(ma) | set(mb))))
for m in c['metrics']:
    x, y = ma.get(m['name']), mb.get(m['name'])
    if x is None or y is None or x['estimate'] is None or y['estimate'] is None:
        continue
    if m['delta'] != y['estimate'] - x['estimate']:
        problems.append('%s delta %r != %r' % (m['name'], m['delta'], y['estimate'] - x['estimate']))
    if None not in (x['lo'], x['hi'], y['lo'], y['hi']):
        ov = x['lo'] <= y['hi'] and y['lo'] <= x['hi']
        if m['overlap'] != ov:
            problems.append('%s overlap' % m['name'])
print('ok' if not problems and names else '; '.join(problems) or 'no metrics')")
expect_eq ok "$check" "compare deltas equal B - A from show --json"
run "$CAIRN" --json runs compare "$A" "$C"
expect_eq "gbdt linear" "$(json '" ".join(x for s in j["settings"] if s["path"] == "model.type" for x in (s["a"], s["b"]))')" "gbdt vs linear listed"
run "$CAIRN" runs compare "$A" "$A"; expect_rc 0 "compare a run with itself"
expect_match 'settings: identical' "$OUT" "no differences with itself"
run "$CAIRN" runs compare "$A" "$BAD"; expect_rc 0 "compare with a failed run"

# ---- findings, PII and the contract in the report ----
# A copy with a column that is the label in disguise and an e-mail column the
# saved contract flags as PII: the run gets a critical leak finding and an info one.
awk -F, -v OFS=, 'NR == 1 { print $0, "leak", "email"; next }
  { print $0, ($NF == "Yes" ? 1 : 0), "user" NR "@example.com" }' "$T/churn.csv" > "$T/leaky.csv"
"$CAIRN" data add "$T/leaky.csv" --name leaky >/dev/null
"$CAIRN" contract infer leaky --label churned --save >/dev/null 2>&1
sed 's/^name: churn$/name: leaky/; s/^data: churn$/data: leaky/' "$T/a.yaml" > "$T/leaky.yaml"
train "$T/leaky.yaml" 0; L=$ID
run "$CAIRN" --json runs show "$L"
SL=$OUT
expect_eq "True" "$(json 'any(f["severity"] == "critical" and f["column"] == "leak" for f in j["findings"])')" "leak finding stored"
# The contract hash is BLAKE2b-256 of the saved contract's bytes, computed here independently.
CH=$($PY -c 'import hashlib, sys; print(hashlib.blake2b(open(sys.argv[1], "rb").read(), digest_size=32).hexdigest())' "$CAIRN_HOME/contracts/leaky.yaml")
expect_eq "$CH" "$(json 'j["contract_hash"]')" "contract hash of the saved contract"
run "$CAIRN" runs show "$L"; expect_rc 0 "show with findings"
expect_match "contract ${CH:0:12}" "$OUT" "contract hash prefix shown"
expect_match 'dropped PII: email' "$OUT" "dropped PII listed"
# Severity headings in order: critical first, each one present at most once.
expect_eq "$(OUT=$SL json '" ".join(s.upper() for s in ("critical","high","medium","low","info") if any(f["severity"] == s for f in j["findings"]))')" \
  "$(printf '%s\n' "$OUT" | sed -n '/^findings/,/^stages/p' | grep -E '^  [A-Z]+$' | tr -d ' ' | tr '\n' ' ' | sed 's/ $//')" "findings grouped by severity, critical first"
expect_match '^  - single_feature_leak leak: ' "$OUT" "the leak finding names its column"
expect_match '^      fix: ' "$OUT" "findings carry their fix"

# ---- a record with malformed JSON columns must still print ----
$PY - "$CAIRN_HOME/cairn.db" "$A" <<'PYEOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("CREATE TEMP TABLE t AS SELECT * FROM runs WHERE id = ?", (sys.argv[2],))
db.execute("""UPDATE t SET id = 'r-00000000beef', spec_json = '{"evaluation":{"metrics":7},"model":[1]}',
  eval_json = '{"model":{"metrics":{"auc":"x","f1":{"estimate":null}},"slices":[1,{"column":5},{"column":"plan"}],
                "calibration":{"a":1},"confusion":[]},"threshold":"t","training":{"rounds_run":"x"}}',
  split_json = '[]', findings_json = '{"severity":3}', stages_json = 'not json', gates_json = '[{"metric":1}]',
  build_json = NULL, model = '', dataset_name = NULL, duration_s = NULL, seed = NULL,
  code_version = NULL""")
db.execute("INSERT INTO runs SELECT * FROM t")
db.execute("INSERT INTO run_metrics VALUES ('r-00000000beef', 'auc', NULL, NULL, NULL)")
db.commit()
PYEOF
run "$CAIRN" runs show r-00000000beef; expect_rc 0 "show a record with malformed JSON"
run "$CAIRN" --json runs show r-00000000beef; expect_rc 0 "show --json of it"
expect_eq "None list" "$(json 'j["stages"], type(j["spec"]["model"]).__name__' | tr -d "(),'")" "invalid JSON becomes null, valid JSON is kept"
run "$CAIRN" runs compare "$A" r-00000000beef; expect_rc 0 "compare with the malformed record"
run "$CAIRN" --json runs ls; expect_rc 0 "ls with the malformed record"
finish
