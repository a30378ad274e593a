#!/usr/bin/env bash
# Crash safety of `data add`: a process killed at a random moment, or made to
# exit at the two critical points, leaves a registry that opens cleanly and
# either the whole version or none; every recorded version's object exists
# and its BLAKE2b-256 (checked with b2sum, independently) matches its name.
. "$(dirname "$0")/lib/common.bash"
SYNTH=${CAIRN_SYNTH:?}
"$CAIRN" init >/dev/null
"$SYNTH" wide --rows 150000 --seed 3 -o "$T/big.csv" >/dev/null

verify_home() { # every listed version has its object with the right hash; db integrity ok
  run "$CAIRN" --json data ls; expect_rc 0 "$1: registry opens"
  local hashes; hashes=$(json '" ".join(v["hash"] for v in j)')
  for h in $hashes; do
    local f="$CAIRN_HOME/objects/$h.snap"
    if [ ! -f "$f" ]; then fail "$1: object $h missing"; continue; fi
    local got; got=$(b2sum -l 256 "$f" | cut -d' ' -f1)
    expect_eq "$h" "$got" "$1: object hash"
  done
  if command -v sqlite3 >/dev/null; then
    expect_eq ok "$(sqlite3 "$CAIRN_HOME/cairn.db" 'PRAGMA integrity_check')" "$1: sqlite integrity"
  fi
}

for point in object-written before-commit; do
  CAIRN_TEST_CRASH_AT=$point "$CAIRN" data add "$T/big.csv" --name big -q >/dev/null 2>&1
  rc=$?; expect_eq 70 "$rc" "crash hook $point fired"
  verify_home "after crash at $point"
  run "$CAIRN" --json data ls; expect_eq 0 "$(json 'len([v for v in j if v["name"]=="big"])')" "no version after crash at $point"
done

for delay in 0.05 0.15 0.3 0.5 0.8; do
  "$CAIRN" data add "$T/big.csv" --name "k$delay" -q >/dev/null 2>&1 &
  pid=$!
  sleep "$delay"
  kill -9 "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  verify_home "after SIGKILL at ${delay}s"
  run "$CAIRN" --json data ls
  n=$(json "len([v for v in j if v['name']=='k$delay'])")
  { [ "$n" = 0 ] || [ "$n" = 1 ]; } && ok || fail "all or nothing at ${delay}s: $n versions"
done

run "$CAIRN" --json data add "$T/big.csv" --name big; expect_rc 0 "add after crashes"
expect_eq "big@1" "$(json 'j["ref"]')" "versions have no gaps after crashes"
verify_home "final"
finish
