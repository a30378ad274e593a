#!/usr/bin/env bash
# data add / ls / show / stats end to end, deduplication, --json shapes, and
# every kind of bad input: exit 3, the error names FILE:LINE:FIELD, and the
# home is left as it was (no version, no temporary file).
. "$(dirname "$0")/lib/common.bash"
"$CAIRN" init >/dev/null

cat > "$T/a.csv" <<'CSV'
id,amount,city,when,flag
1,10.5,Oslo,2024-01-01,true
2,,Bergen,2024-01-02,false
3,7,Oslo,2024-01-03T10:00:00Z,true
4,2.5,NA,2024-01-04,false
CSV
run "$CAIRN" --json data add "$T/a.csv" --name sales; expect_rc 0 "add"
expect_eq "sales@1 4 5 False" "$(json 'j["ref"], j["rows"], j["columns"], j["existed"]' | tr -d "(),'")" "add json"
HASH=$(json 'j["hash"]')
[ -f "$CAIRN_HOME/objects/$HASH.snap" ] && ok || fail "snapshot object named by hash"
run "$CAIRN" data add "$T/a.csv" --name sales; expect_rc 0 "add again"
expect_match '^unchanged: sales@1' "$OUT" "same content is not stored twice"
cp "$T/a.csv" "$T/copy.csv"
run "$CAIRN" --json data add "$T/copy.csv" --name sales; expect_eq True "$(json 'j["existed"]')" "same bytes, other file name"
printf 'id,amount\n1,2\n' > "$T/b.csv"
run "$CAIRN" --json data add "$T/b.csv" --name sales; expect_eq "sales@2" "$(json 'j["ref"]')" "new content -> @2"
run "$CAIRN" --json data ls; expect_eq 2 "$(json 'len(j)')" "ls lists two versions"
run "$CAIRN" data ls; expect_match 'sales@2' "$OUT" "ls table"

run "$CAIRN" --json data show sales@1; expect_rc 0 "show"
expect_eq "int64 float64 string timestamp bool" "$(json '" ".join(c["type"] for c in j["schema"])')" "inferred types"
expect_eq "0 1 1 0 0" "$(json '" ".join(str(c["nulls"]) for c in j["schema"])')" "null counts"
run "$CAIRN" data show sales; expect_match 'sales@2' "$OUT" "NAME means the newest version"

run "$CAIRN" --json data stats sales@1; expect_rc 0 "stats"
# independent arithmetic: amount = 10.5, 7, 2.5
expect_eq "3 1 2.5 10.5 6.6667" "$(json '[" ".join([str(c["stats"]["count"]), str(c["stats"]["nulls"]), str(c["stats"]["min"]), str(c["stats"]["max"]), "%.4f" % c["stats"]["mean"]]) for c in j["columns"] if c["name"]=="amount"][0]')" "amount statistics"
expect_eq "Oslo:2 Bergen:1" "$(json '" ".join("%s:%d" % (t["value"], t["count"]) for c in j["columns"] if c["name"]=="city" for t in c["stats"]["top"])')" "city top-k"
run "$CAIRN" data stats sales@1; expect_rc 0 "stats table"; expect_match 'amount' "$OUT" "stats table lists columns"
run "$CAIRN" data stats sales@1 --column nope; expect_rc 3 "unknown column"

# JSON Lines and gzip
printf '{"a": 1, "b": "x"}\n{"a": 2, "b": null}\n' > "$T/j.jsonl"
run "$CAIRN" --json data add "$T/j.jsonl" --name js; expect_rc 0 "jsonl add"; expect_eq 2 "$(json 'j["rows"]')" "jsonl rows"
gzip -c "$T/a.csv" > "$T/a.csv.gz"
run "$CAIRN" --json data add "$T/a.csv.gz" --name gz; expect_rc 0 "gz add"; expect_eq 4 "$(json 'j["rows"]')" "gz rows"
printf 'a;b\n1;?\n' > "$T/semi.csv"
run "$CAIRN" --json data add "$T/semi.csv" --name semi --na '?'; expect_rc 0 "--na"
run "$CAIRN" --json data show semi; expect_eq "1" "$(json 'j["schema"][1]["nulls"]')" "--na ? marks missing"

# A contract forces column types at ingest: zip codes stay text, and a value
# that does not fit a forced type is refused with its location.
printf 'zip,amount\n01234,5\n98765,6\n' > "$T/zip.csv"
cat > "$T/force.yaml" <<'YAML'
contract: 1
columns:
  - name: zip
    type: string
  - name: amount
    type: float64
YAML
run "$CAIRN" --json data add "$T/zip.csv" --name zips --contract "$T/force.yaml"; expect_rc 0 "add with forced types"
run "$CAIRN" --json data show zips
expect_eq "string float64" "$(json '" ".join(c["type"] for c in j["schema"])')" "types forced by the contract"
run "$CAIRN" --json data stats zips
expect_eq "01234:1 98765:1" "$(json '" ".join("%s:%d" % (t["value"], t["count"]) for c in j["columns"] if c["name"]=="zip" for t in c["stats"]["top"])')" "leading zeros kept"
printf 'zip,amount\n01234,5\n98765,lots\n' > "$T/zipbad.csv"
run "$CAIRN" data add "$T/zipbad.csv" --name zips --contract "$T/force.yaml"; expect_rc 3 "a value that does not fit a forced type"
expect_match "zipbad.csv:3:2\)$" "$ERR" "forced-type error location"

# bad input: exit 3, FILE:LINE:FIELD, nothing left behind
before=$("$CAIRN" --json data ls)
check_bad() { # check_bad FILE WHERE-REGEX DESCRIPTION [options]
  local f=$1 where=$2 what=$3; shift 3
  run "$CAIRN" data add "$f" --name bad "$@"
  expect_rc 3 "$what"
  expect_match "^cairn: error: .+ \\($where\\)$" "$ERR" "$what: error location"
}
printf 'a,b\n1,"x\n' > "$T/unterminated.csv";           check_bad "$T/unterminated.csv" ".*unterminated.csv:2:2" "unterminated quote"
printf 'a,b\n1,2\n3,4,5\n' > "$T/ragged.csv";            check_bad "$T/ragged.csv" ".*ragged.csv:3:3" "ragged row"
printf 'a,b\n1,caf\xe9\n' > "$T/latin1.csv";             check_bad "$T/latin1.csv" ".*latin1.csv:2:2" "invalid UTF-8"
printf 'a,b\n1,x\000y\n' > "$T/nul.csv";                 check_bad "$T/nul.csv" ".*nul.csv:2:2" "NUL byte"
printf 'a,b\n1,%s\n' "$(head -c 3000 /dev/zero | tr '\0' x)" > "$T/big.csv"
check_bad "$T/big.csv" ".*big.csv:2:2" "field over the limit" --max-field-bytes 1000
: > "$T/empty.csv";                                      check_bad "$T/empty.csv" ".*empty.csv:1" "empty file"
printf 'a,b\n' > "$T/header.csv";                        check_bad "$T/header.csv" ".*header.csv:2" "header only"
check_bad "$T/missing.csv" ".*missing.csv" "missing file"
mkdir -p "$T/adir"; check_bad "$T/adir" ".*adir" "a directory"
printf '{"a": 1}\n{"a": [1]}\n' > "$T/nested.jsonl";    check_bad "$T/nested.jsonl" ".*nested.jsonl:2(:[0-9]+)?" "nested JSON value"
printf '{"a": 1}\n{"a": \n' > "$T/broken.jsonl";         check_bad "$T/broken.jsonl" ".*broken.jsonl:2(:[0-9]+)?" "broken JSON line"
if [ "$(id -u)" != 0 ]; then
  printf 'a\n1\n' > "$T/noread.csv"; chmod 000 "$T/noread.csv"; check_bad "$T/noread.csv" ".*noread.csv" "unreadable file"
fi
after=$("$CAIRN" --json data ls)
expect_eq "$before" "$after" "failed adds recorded nothing"
leftovers=$(find "$CAIRN_HOME/objects" -name '.tmp-*' | wc -l)
expect_eq 0 "$leftovers" "no temporary files left in objects/"
finish
