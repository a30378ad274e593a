#!/usr/bin/env bash
# Installs the Debian packages cairn needs to build, test and benchmark.
# Retries while another apt/dpkg holds the lock. Uses sudo when not root.
set -euo pipefail
PKGS=(build-essential cmake pkg-config git
      libsqlite3-dev libcjson-dev libyaml-dev libzstd-dev zlib1g-dev libsodium-dev libxxhash-dev
      libxgboost-dev libopenblas-dev liblapacke-dev
      libcmocka-dev clang libclang-rt-14-dev libomp-dev
      python3 python3-numpy python3-pandas python3-sklearn python3-xgboost python3-yaml time sqlite3 curl
      libmicrohttpd-dev prometheus wrk python3-flask python3-fastapi uvicorn
      python3-uvloop python3-httptools
      chromium python3-scipy python3-pil zstd)
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "deps: all ${#PKGS[@]} Debian packages present"
  exit 0
fi
echo "deps: installing ${missing[*]}"
apt_retry() {
  for i in $(seq 1 30); do
    if $SUDO env DEBIAN_FRONTEND=noninteractive "$@"; then return 0; fi
    echo "deps: apt busy or failed (attempt $i), retrying in 10 s" >&2
    sleep 10
  done
  return 1
}
apt_retry apt-get -o DPkg::Lock::Timeout=120 update -qq
apt_retry apt-get -o DPkg::Lock::Timeout=120 install -y -qq --no-install-recommends "${missing[@]}"
