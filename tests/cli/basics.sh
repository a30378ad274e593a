#!/usr/bin/env bash
# The command surface: --version, --help everywhere, usage errors (exit 2),
# the stderr format, missing homes (exit 3), init and its --json.
. "$(dirname "$0")/lib/common.bash"

run "$CAIRN" --version; expect_rc 0 "--version"; expect_match '^cairn [0-9]+\.[0-9]+\.[0-9]+$' "$OUT" "version text"
run "$CAIRN" --help; expect_rc 0 "--help"; expect_match 'data add' "$OUT" "overview lists commands"
run "$CAIRN"; expect_rc 2 "no command"
for c in "init" "data add" "data ls" "data show" "data stats" "contract infer" "contract check"; do
  run "$CAIRN" $c --help; expect_rc 0 "$c --help"; expect_match "^usage: cairn $c" "$OUT" "$c help text"
  run "$CAIRN" help $c; expect_rc 0 "help $c"
done
run "$CAIRN" data --help; expect_rc 0 "group help"; expect_match 'cairn data add' "$OUT" "group lists subcommands"
run "$CAIRN" frobnicate; expect_rc 2 "unknown command"
expect_match "^cairn: error: unknown command 'frobnicate'" "$ERR" "stderr format"
run "$CAIRN" data frob; expect_rc 2 "unknown subcommand"
run "$CAIRN" data add; expect_rc 2 "missing argument"
expect_match '^cairn: error: missing argument' "$ERR" "missing argument message"
run "$CAIRN" data add x.csv --bogus; expect_rc 2 "unknown option"
expect_match "unknown option '--bogus'" "$ERR" "unknown option named"
run "$CAIRN" data add x.csv; expect_rc 2 "--name required"
run "$CAIRN" data add x.csv --name 'bad name!'; expect_rc 2 "invalid name"
run "$CAIRN" data add x.csv --name ok --threads 0; expect_rc 2 "bad --threads"
run "$CAIRN" data ls; expect_rc 3 "no home"
expect_match "no cairn home" "$ERR" "no-home message"

run "$CAIRN" --json init; expect_rc 0 "init"
expect_eq True "$(json 'j["created"]')" "init --json created"
[ -f "$CAIRN_HOME/cairn.db" ] && [ -d "$CAIRN_HOME/objects" ] && ok || fail "home layout"
run "$CAIRN" --json init; expect_rc 0 "init again"
expect_eq False "$(json 'j["created"]')" "init is idempotent"
run "$CAIRN" init "$T/other"; expect_rc 0 "init DIR"; [ -f "$T/other/cairn.db" ] && ok || fail "init DIR made a home"
run "$CAIRN" --home "$T/other" data ls; expect_rc 0 "--home before command"
run "$CAIRN" data ls --home "$T/other"; expect_rc 0 "--home after command"
run "$CAIRN" data ls --json; expect_rc 0 "ls --json"; expect_eq "[]" "$OUT" "empty list"
run "$CAIRN" data show nope; expect_rc 3 "unknown dataset"
run "$CAIRN" data show 'a@x'; expect_rc 2 "malformed ref"

# docs/cli.md is generated from the command table
if [ -n "${CAIRN_SRC:-}" ]; then
  "$CAIRN" help --markdown | diff -q "$CAIRN_SRC/docs/cli.md" - >/dev/null && ok || fail "docs/cli.md is stale (make docs)"
fi
finish
