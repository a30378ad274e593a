#!/usr/bin/env bash
# examples/embed.c, built the way an embedding program would be: against
# include/cairn.h and the shared library only. It scores a row of an
# artifact that this script makes with the real binary (synthetic churn data,
# a saved contract, a trained run, promotion, export), and its output is
# checked against independent sources: the artifact identity against b2sum
# of the exported file and `cairn --json models show`, the threshold against
# `cairn --json runs show`, the label against score and threshold, refusals
# against the contract, a damaged file against the loader.
#   embed_example.sh LIBDIR SRCDIR   (LIBDIR holds libcairn.so)
. "$(dirname "$0")/../cli/lib/common.bash"
LIBDIR=${1:?usage: embed_example.sh LIBDIR SRCDIR}
SRC=${2:?usage: embed_example.sh LIBDIR SRCDIR}
SYNTH=${CAIRN_SYNTH:?}
CC=${CC:-cc}

# A library built with sanitizers needs their runtimes in the program too.
FLAGS=()
deps=$(ldd "$LIBDIR/libcairn.so" 2>/dev/null || true)
case $deps in *libasan*) FLAGS+=(-fsanitize=address) ;; esac
case $deps in *libubsan*) FLAGS+=(-fsanitize=undefined) ;; esac
run "$CC" -std=c11 -Wall -Wextra -Werror "${FLAGS[@]}" -I "$SRC/include" "$SRC/examples/embed.c" \
  -L "$LIBDIR" -lcairn -Wl,-rpath,"$LIBDIR" -o "$T/embed"
expect_rc 0 "embed.c compiles against cairn.h and libcairn.so"
[ -x "$T/embed" ] || { finish; exit 1; }
if nm "$T/embed" | grep -E ' [TtDdBb] cairn_' >/dev/null; then
  fail "the example must not carry libcairn code"
else ok; fi

# ---- an artifact ------------------------------------------------------------------------
"$CAIRN" init >/dev/null
"$SYNTH" churn --rows 2000 --seed 11 -o "$T/churn.csv" >/dev/null
"$CAIRN" data add "$T/churn.csv" --name churn >/dev/null
"$CAIRN" contract infer churn --label churned --entity customer_id --time signup_time --save \
  >/dev/null 2>&1
cat > "$T/spec.yaml" <<'EOF'
name: churn
data: churn
label: churned
positive: "Yes"
entity: customer_id
time: signup_time
model: {type: gbdt, rounds: 40, max_depth: 3}
evaluation: {bootstrap: 0}
EOF
run "$CAIRN" --json train "$T/spec.yaml"; expect_rc 0 "train"
ID=$(json 'j["id"]')
run "$CAIRN" promote "$ID" --model churn --override "embedding test"; expect_rc 0 "promote"
run "$CAIRN" export churn -o "$T/churn.art"; expect_rc 0 "export"
run "$CAIRN" --json models show churn; ART=$(json 'j["versions"][0]["artifact"]')
run "$CAIRN" --json runs show "$ID"; TH=$(json 'repr(j["eval"]["threshold"]["value"])')
expect_eq "$ART" "$(b2sum -l 256 "$T/churn.art" | cut -d' ' -f1)" "exported file is the version's artifact"

# ---- scoring rows of the dataset -----------------------------------------------------------
# row_args N: the CSV's data row N as NAME=VALUE arguments, the label left out.
row_args() {
  $PY - "$T/churn.csv" "$1" <<'EOF'
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
r = rows[int(sys.argv[2])]
print("\n".join("%s=%s" % (k, v) for k, v in r.items() if k != "churned" and v != ""))
EOF
}
for n in 0 1 2 3 4 5 6 7; do
  mapfile -t ARGS < <(row_args $n)
  run "$T/embed" "$T/churn.art" "${ARGS[@]}"; expect_rc 0 "embed scores row $n"
  [ "$RC" = 0 ] || continue
  FIRST=$OUT
  expect_match '^model: churn$' "$OUT" "model name"
  expect_match '^task: binary$' "$OUT" "task"
  expect_match '^type: gbdt$' "$OUT" "model type"
  expect_eq "$ART" "$(printf '%s\n' "$OUT" | sed -n 's/^artifact: //p')" "artifact identity"
  GOT_TH=$(printf '%s\n' "$OUT" | sed -n 's/^threshold: //p')
  expect_eq True "$($PY -c "print(float('$GOT_TH') == $TH)")" "threshold is the run's"
  SCORE=$(printf '%s\n' "$OUT" | sed -n 's/^score: //p')
  LABEL=$(printf '%s\n' "$OUT" | sed -n 's/^label: //p')
  CI=$(printf '%s\n' "$OUT" | sed -n 's/^class_index: //p')
  WANT=$($PY -c "s = float('$SCORE')
print(('Yes 1' if s >= $TH else 'No 0') if 0 <= s <= 1 else 'bad score')")
  expect_eq "$WANT" "$LABEL $CI" "row $n: label and class from score and threshold"
  # The same row again: the same bytes out.
  run "$T/embed" "$T/churn.art" "${ARGS[@]}"
  expect_eq "$FIRST" "$OUT" "row $n scores the same twice"
done
expect_match '^inputs: age region plan ' "$FIRST" "inputs listed in order"

# ---- refusals ------------------------------------------------------------------------------
mapfile -t ARGS < <(row_args 0 | grep -Ev '^(region|tenure_months)=')
run "$T/embed" "$T/churn.art" "${ARGS[@]}" region=atlantis tenure_months=abc
expect_rc 1 "a row breaking the contract exits 1"
expect_match '^violation: region: unknown category' "$OUT" "region refused"
expect_match '^violation: tenure_months: ' "$OUT" "tenure_months refused"
run "$T/embed" "$T/churn.art"
expect_rc 1 "an empty row misses required fields"
expect_match '^violation: age: missing required field' "$OUT" "missing field named"
run "$T/embed" "$T/churn.art" novalue
expect_rc 2 "an argument without = is a usage error"
cp "$T/churn.art" "$T/bad.art"
$PY - "$T/bad.art" <<'EOF'
import sys
p = sys.argv[1]
b = bytearray(open(p, "rb").read())
b[len(b) // 2] ^= 0x01
open(p, "wb").write(b)
EOF
run "$T/embed" "$T/bad.art"
expect_rc 3 "a damaged artifact is refused (exit 3)"
expect_match '^embed: error: .*bad\.art' "$ERR" "the error names the file"
run "$T/embed" "$T/absent.art"
expect_rc 3 "a missing file exits 3"
finish
