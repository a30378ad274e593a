#!/usr/bin/env bash
# `cairn serve` over real HTTP: the checks live in serve_http.py (Python's
# http.client as the client); this wrapper makes it a ctest integration test.
exec /usr/bin/python3 "$(dirname "$0")/serve_http.py"
