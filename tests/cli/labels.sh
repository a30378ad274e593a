#!/usr/bin/env bash
# `cairn labels add|stats` through the real binary: request and entity labels
# from CSV, JSON Lines and gzip, duplicates and corrections, skipped rows
# reported at their line, bad input refused whole (exit 3) and usage errors
# (exit 2). Expected counts come from a small Python model of the rules (a
# dict keyed by kind+key(+time), applied row by row) and from Python's sqlite3
# reading the home's table directly.
. "$(dirname "$0")/lib/common.bash"
"$CAIRN" init >/dev/null
DB="$CAIRN_HOME/cairn.db"

# model FILE...: replays every label file given as "KIND:KEY:LABEL[:TIME]:PATH" through
# the duplicate rules in Python and prints "added dup changed skipped" for the last one.
model() {
  $PY - "$@" <<'EOF'
import csv, gzip, json, sys, datetime
store = {}
def t_us(s):
    try:
        return round(float(s) * 1e6)
    except ValueError:
        d = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        if d.tzinfo is None:
            d = d.replace(tzinfo=datetime.timezone.utc)
        return round(d.timestamp() * 1e6)
for spec in sys.argv[1:]:
    kind, key, label, tcol, path = spec.split(":", 4)
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rt", newline="") as f:
        if ".jsonl" in path:
            rows = [json.loads(l) for l in f if l.strip()]
            rows = [{k: (None if v is None else json.dumps(v) if not isinstance(v, str) else v)
                     for k, v in r.items()} for r in rows]
        else:
            rows = list(csv.DictReader(f))
    counts = [0, 0, 0, 0]
    for r in rows:
        k, v, t = r.get(key), r.get(label), r.get(tcol) if tcol else None
        if not k or not v or (tcol and not t):
            counts[3] += 1
            continue
        ident = (kind, k, t_us(t) if kind == "entity" else 0)
        if ident not in store:
            counts[0] += 1
        elif store[ident] == v:
            counts[1] += 1
        else:
            counts[2] += 1
        store[ident] = v
print(*counts, len(store))
EOF
}

# ---- request labels from CSV ----
cat >"$T/req.csv" <<'EOF'
request_id,label,note
r-001,1,a
r-002,0,b
r-003,,missing label
r-004,1,d
007,1.50,kept as written
EOF
run "$CAIRN" labels add "$T/req.csv" --key request_id --label label
expect_rc 0 "labels add request CSV"
expect_eq "stored 4 labels from $T/req.csv: 4 new, 0 duplicates, 0 changed, 1 skipped; 4 in the home" \
  "$OUT" "human summary"
expect_match "skipped 1 row with a missing key, label or time \(first at $T/req.csv:4\)" "$ERR" \
  "skipped row reported at FILE:LINE on stderr"
expect_eq "1.50" "$($PY -c "import sqlite3; print(sqlite3.connect('$DB').execute(\"SELECT value FROM labels WHERE key='007'\").fetchone()[0])")" \
  "label text kept as written"

# The same file again: duplicates, nothing doubled.
run "$CAIRN" labels add "$T/req.csv" --key request_id --label label --json
expect_rc 0 "labels add again"
read -r WA WD WC WS WT <<<"$(model "request:request_id:label::$T/req.csv" "request:request_id:label::$T/req.csv")"
expect_eq "$WA $WD $WC $WS $WT" \
  "$(json 'j["added"], j["duplicates"], j["changed"], j["skipped"], j["total"]')" "--json counts (repeat)"
expect_eq "0 4 5 4 request 4" "$(json 'j["added"], j["duplicates"], j["rows"], j["stored"], j["kind"], j["first_skipped_line"]')" \
  "--json fields"
expect_eq "$T/req.csv" "$(json 'j["file"]')" "--json file"

# Corrections and a repeat inside the file, from JSON Lines with a request time.
cat >"$T/fix.jsonl" <<'EOF'
{"request_id": "r-002", "label": 1, "t": "2024-03-01T10:00:00Z"}
{"request_id": "r-009", "label": 0, "t": 1709287200}

{"request_id": "r-009", "label": 0, "t": 1709287200}
{"request_id": "r-010", "label": null, "t": 1709287200}
{"request_id": "r-001", "label": true, "t": 1709287200}
EOF
run "$CAIRN" labels add "$T/fix.jsonl" --key request_id --label label --time t --json
expect_rc 0 "labels add JSONL corrections"
read -r WA WD WC WS WT <<<"$(model "request:request_id:label::$T/req.csv" \
  "request:request_id:label:t:$T/fix.jsonl")"
expect_eq "$WA $WD $WC $WS $WT" \
  "$(json 'j["added"], j["duplicates"], j["changed"], j["skipped"], j["total"]')" "--json counts (corrections)"
expect_eq "5" "$(json 'j["first_skipped_line"]')" "JSONL skipped line counts the blank line"

# ---- entity labels, gzip CSV ----
printf 'customer,churned,at\nc1,0,2024-03-01\nc1,1,2024-03-02T00:00:00Z\nc2,1,1709251200\nc1,0,1709251200\n' \
  | gzip >"$T/ent.csv.gz"
run "$CAIRN" labels add "$T/ent.csv.gz" --key customer --label churned --time at --json
expect_rc 0 "labels add entity gzip CSV"
read -r WA WD WC WS WT <<<"$(model "request:request_id:label::$T/req.csv" \
  "request:request_id:label:t:$T/fix.jsonl" "entity:customer:churned:at:$T/ent.csv.gz")"
expect_eq "$WA $WD $WC $WS $WT" \
  "$(json 'j["added"], j["duplicates"], j["changed"], j["skipped"], j["total"]')" "--json counts (entity)"
expect_eq "entity" "$(json 'j["kind"]')" "entity kind"

# ---- stats ----
run "$CAIRN" labels stats --json
expect_rc 0 "labels stats --json"
WANT=$($PY -c "
import sqlite3
db = sqlite3.connect('$DB')
q = lambda s: db.execute(s).fetchone()[0]
print(q('SELECT COUNT(*) FROM labels'), q(\"SELECT COUNT(*) FROM labels WHERE kind='request'\"),
      q(\"SELECT COUNT(*) FROM labels WHERE kind='entity'\"),
      q(\"SELECT COUNT(DISTINCT key) FROM labels WHERE kind='entity'\"))")
expect_eq "$WANT" "$(json 'j["total"], j["request_labels"], j["entity_labels"], j["entities"]')" \
  "stats counts match the table"
expect_eq "2024-03-01T00:00:00Z 2024-03-02T00:00:00Z" "$(json 'j["first_time"], j["last_time"]')" \
  "stats entity time range"
expect_match '^20[0-9]{2}-' "$(json 'j["last_added_at"]')" "stats last_added_at"
run "$CAIRN" labels stats
expect_rc 0 "labels stats"
expect_match "labels: +$($PY -c "print('$WANT'.split()[0])")" "$OUT" "stats human total"
expect_match "by entity: +3 \(2 entities\)" "$OUT" "stats human entities"

# ---- bad input: exit 3, nothing stored ----
BEFORE=$($PY -c "import sqlite3; print(sqlite3.connect('$DB').execute('SELECT COUNT(*) FROM labels').fetchone()[0])")
printf 'customer,churned,at\nc7,1,2024-03-01\nc8,1,soon\n' >"$T/bad.csv"
run "$CAIRN" labels add "$T/bad.csv" --key customer --label churned --time at
expect_rc 3 "bad time refused"
expect_match "^cairn: error: .*soon.*\($T/bad.csv:3\)" "$ERR" "bad time at FILE:LINE"
run "$CAIRN" labels add "$T/req.csv" --key request_id --label outcome
expect_rc 3 "missing label column refused"
expect_match "'outcome'.*\($T/req.csv:1\)" "$ERR" "missing column named at the header"
run "$CAIRN" labels add "$T/nope.csv" --key request_id --label label
expect_rc 3 "missing file"
AFTER=$($PY -c "import sqlite3; print(sqlite3.connect('$DB').execute('SELECT COUNT(*) FROM labels').fetchone()[0])")
expect_eq "$BEFORE" "$AFTER" "refused files store nothing"

# ---- usage: exit 2 ----
run "$CAIRN" labels add "$T/req.csv" --label label
expect_rc 2 "--key required"
run "$CAIRN" labels add "$T/req.csv" --key request_id
expect_rc 2 "--label required"
run "$CAIRN" labels add "$T/ent.csv.gz" --key customer --label churned
expect_rc 2 "entity key needs --time"
expect_match "--time" "$ERR" "entity key: the message names --time"
run "$CAIRN" labels add "$T/req.csv" --key request_id --label label --format xml
expect_rc 2 "bad --format"
run "$CAIRN" labels add --key request_id --label label
expect_rc 2 "no FILE"

# ---- no home ----
CAIRN_HOME="$T/none" run "$CAIRN" labels stats
expect_rc 3 "stats without a home"

finish
