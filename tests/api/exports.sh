#!/usr/bin/env bash
# The shared library exports exactly the functions declared CAIRN_API in
# include/cairn.h: nothing internal leaks (hidden visibility), nothing is missing.
set -euo pipefail
lib=$1; header=$2
exported=$(nm -D --defined-only "$lib" | awk '$2 == "T" {print $3}' | sort)
declared=$(grep -oE 'CAIRN_API [^;]*\b(cairn_[a-z0-9_]+)\(' "$header" | grep -oE 'cairn_[a-z0-9_]+\($' | tr -d '(' | sort)
if [ "$exported" != "$declared" ]; then
  echo "export list differs from the CAIRN_API declarations in cairn.h:"
  diff <(echo "$declared") <(echo "$exported") || true
  echo "0 passed, 1 failed"; exit 1
fi
echo "exports: $(echo "$exported" | wc -l) functions, all declared"
echo "1 passed, 0 failed"
