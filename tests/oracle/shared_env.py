"""shared_env.py -- what the oracle scripts on the shared datasets have in common:
finding the data and the cairn binary (skipping, exit 77, where the data is absent),
and counting checks."""
import os
import sys

failures = []


def need(*files):
    """(data directory, cairn binary). Exits 77 (ctest: skipped) unless every one of
    files is in $CAIRN_SHARED_DATA, and 2 without $CAIRN_BIN."""
    data = os.environ.get("CAIRN_SHARED_DATA", "")
    if not data or not all(os.path.isfile(os.path.join(data, f)) for f in files):
        print("skip: shared datasets not found (set CAIRN_SHARED_DATA)")
        sys.exit(77)
    cairn = os.environ.get("CAIRN_BIN", "")
    if not cairn:
        print("CAIRN_BIN is not set")
        sys.exit(2)
    return data, cairn


def check(cond, what):
    print(("ok   " if cond else "FAIL ") + what)
    if not cond:
        failures.append(what)


def finish():
    """Exit 1 when a check failed."""
    if failures:
        print(f"{len(failures)} check(s) failed")
        sys.exit(1)
    print("all checks passed")
