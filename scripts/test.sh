#!/usr/bin/env bash
# The test command: installs the Debian packages, builds, and runs the whole
# ctest suite (unit, data-driven, CLI, fuzz-corpus replay, shared-data and oracle tests).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
bash scripts/build.sh "$@"
ctest --test-dir "${BUILD_DIR:-build}" --output-on-failure -j "$(nproc)" ${CTEST_ARGS:-}
