#!/usr/bin/env bash
# contract infer / check from the command line: a dataset passes its own
# contract; a copy with injected faults fails (exit 1) naming exactly the
# faulty rows; contract files with bad YAML or unknown keys are refused with
# their line; --save makes --contract optional.
. "$(dirname "$0")/lib/common.bash"
SYNTH=${CAIRN_SYNTH:?}
"$CAIRN" init >/dev/null
"$SYNTH" churn --rows 3000 --seed 11 -o "$T/churn.csv" >/dev/null
"$CAIRN" data add "$T/churn.csv" --name churn >/dev/null

run "$CAIRN" contract infer churn --label churned --entity customer_id -o "$T/c.yaml"
expect_rc 0 "infer"
[ -s "$T/c.yaml" ] && ok || fail "contract written"
expect_match 'name: customer_id' "$(cat "$T/c.yaml")" "contract lists columns"
run "$CAIRN" --json contract infer churn --label churned --entity customer_id
expect_eq "churned=label customer_id=entity" "$(json '" ".join(sorted(c["name"] + "=" + c["role"] for c in j["columns"] if c["name"] in ("churned","customer_id")))')" "roles from options"
expect_eq True "$(json 'any(c["unique"] for c in j["columns"] if c["name"]=="customer_id")')" "entity id is a unique key"
run "$CAIRN" contract infer churn --label nope; expect_rc 3 "unknown label column"

run "$CAIRN" contract check churn --contract "$T/c.yaml"; expect_rc 0 "dataset passes its own contract"
expect_match 'PASS' "$OUT" "PASS line"
run "$CAIRN" --json contract check churn --contract "$T/c.yaml"
expect_eq "True 0" "$(json 'j["report"]["ok"], j["report"]["errors"]' | tr -d '(),')" "json ok"

# Faults at data rows 4, 9 and 19 (file lines 6, 11, 21).
awk -F, -v OFS=, '
  NR == 1 { for (i = 1; i <= NF; i++) col[$i] = i; print; next }
  NR == 6  { $col["tenure_months"] = -3 }
  NR == 11 { $col["plan"] = "platinum" }
  NR == 21 { $col["monthly_charges"] = "n/a-yet" }
  { print }' "$T/churn.csv" > "$T/faulty.csv"
"$CAIRN" data add "$T/faulty.csv" --name faulty >/dev/null
run "$CAIRN" --json contract check faulty --contract "$T/c.yaml"
expect_rc 1 "faulty copy fails"
rows_of() { json "sorted(e['row'] for i in j['report']['issues'] if i['column']=='$1' and i['kind']=='$2' for e in i['examples'])"; }
expect_eq "[4]" "$(rows_of tenure_months below_min)" "out-of-range row named"
expect_eq "[9]" "$(rows_of plan unknown_category)" "unknown category row named"
expect_eq "[19]" "$(rows_of monthly_charges wrong_type)" "text in a numeric column named"
expect_eq "1 1 1" "$(json '" ".join(str(i["count"]) for i in j["report"]["issues"] if i["kind"] in ("below_min","unknown_category","wrong_type"))')" "each fault counted once"
run "$CAIRN" contract check faulty --contract "$T/c.yaml"; expect_rc 1 "human report"
expect_match 'FAIL' "$OUT" "FAIL line"; expect_match 'row 9=platinum' "$OUT" "example in table"

# Bad contract files.
printf 'contract: 1\ncolumns:\n  - name: a\n    type: [\n' > "$T/bad.yaml"
run "$CAIRN" contract check churn --contract "$T/bad.yaml"; expect_rc 3 "bad YAML"
expect_match 'bad.yaml:[0-9]+' "$ERR" "bad YAML line"
printf 'contract: 1\ncolumns:\n  - name: a\n    type: int64\n    colour: red\n' > "$T/unknown.yaml"
run "$CAIRN" contract check churn --contract "$T/unknown.yaml"; expect_rc 3 "unknown key"
expect_match "colour" "$ERR" "unknown key named"; expect_match 'unknown.yaml:5' "$ERR" "unknown key line"
run "$CAIRN" contract check churn --contract "$T/none.yaml"; expect_rc 3 "missing contract file"

# --save
run "$CAIRN" contract check churn; expect_rc 2 "no saved contract"
run "$CAIRN" contract infer churn --label churned --save; expect_rc 0 "infer --save"
run "$CAIRN" contract check churn; expect_rc 0 "check with the saved contract"
finish
