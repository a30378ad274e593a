# Shared settings of the benchmark scripts (sourced; ROOT and REPEAT_DEFAULT set by the caller).
CAIRN=${CAIRN_BIN:-$ROOT/build/cairn}
SYNTH=${CAIRN_SYNTH:-$ROOT/build/cairn-synth}
ROWS=${BENCH_ROWS:-1000000}
REPEAT=${BENCH_REPEAT:-$REPEAT_DEFAULT}
SEED=${BENCH_SEED:-1}
ENFORCE=${BENCH_ENFORCE:-0}
PY=/usr/bin/python3
GNU_TIME=/usr/bin/time

say() { printf '%s\n' "$*"; }
die() { printf 'bench: error: %s\n' "$*" >&2; exit 2; }

case $ROWS in '' | *[!0-9]* | 0) die "BENCH_ROWS must be a positive integer, not '$ROWS'" ;; esac
case $REPEAT in '' | *[!0-9]* | 0) die "BENCH_REPEAT must be a positive integer, not '$REPEAT'" ;; esac
case $SEED in '' | *[!0-9]*) die "BENCH_SEED must be a non-negative integer, not '$SEED'" ;; esac
