#!/usr/bin/env bash
# `cairn monitor` and `cairn labels`: the checks live in monitor_cli.py; this wrapper
# makes it a ctest integration test.
exec /usr/bin/python3 "$(dirname "$0")/monitor_cli.py"
