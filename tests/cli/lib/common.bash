# Shared helpers for the CLI script tests. Each test sources this file.
set -u
CAIRN=${CAIRN_BIN:?CAIRN_BIN must name the cairn binary}
PY=/usr/bin/python3
T=$(mktemp -d "${CAIRN_TEST_TMP:-/tmp}/cli.XXXXXX")
export CAIRN_HOME="$T/home"
trap 'rm -rf "$T"' EXIT
FAILS=0
PASSES=0

ok() { PASSES=$((PASSES + 1)); }
fail() { echo "FAIL: $*" >&2; FAILS=$((FAILS + 1)); }

# run CMD...: captures stdout in $OUT, stderr in $ERR, exit code in $RC.
run() {
  OUT=$("$@" 2>"$T/stderr"); RC=$?
  ERR=$(cat "$T/stderr")
}

expect_rc() { # expect_rc WANT DESCRIPTION
  if [ "$RC" -eq "$1" ]; then ok; else fail "$2: exit $RC, wanted $1; stderr: $ERR"; fi
}
expect_match() { # expect_match REGEX TEXT DESCRIPTION
  if printf '%s' "$2" | grep -Eq -- "$1"; then ok; else fail "$3: /$1/ not in: $2"; fi
}
expect_eq() { # expect_eq WANT GOT DESCRIPTION
  if [ "$1" = "$2" ]; then ok; else fail "$3: wanted '$1', got '$2'"; fi
}
# json EXPR: evaluates a Python expression on the parsed $OUT (as j).
json() { printf '%s' "$OUT" | $PY -c "import json,sys; j=json.load(sys.stdin); print($1)"; }

finish() {
  echo "$PASSES passed, $FAILS failed"
  [ "$FAILS" -eq 0 ]
}
