#!/usr/bin/env bash
# Installs what finetuned needs on Debian 12 (bookworm), from Debian's archive.
#   deploy/install-deps.sh          build + runtime dependencies
#   deploy/install-deps.sh --test   also what the test suite needs
# Run as root (or through sudo).
set -euo pipefail

build=(build-essential pkg-config
       libmicrohttpd-dev libjansson-dev libopenblas-dev libsqlite3-dev libpng-dev zlib1g-dev nettle-dev)
test=(python3 curl jq sqlite3 valgrind clang-14 libfuzzer-14-dev libclang-rt-14-dev
      dataset-fashion-mnist)

pkgs=("${build[@]}")
if [ "${1:-}" = "--test" ]; then
    pkgs+=("${test[@]}")
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "install-deps: ${#pkgs[@]} packages present"
