#!/usr/bin/env bash
# Installs what finetuned needs on Debian 12 (bookworm), from Debian's archive.
#   deploy/install-deps.sh          build + runtime dependencies
#   deploy/install-deps.sh --test   also what the test suite needs, including
#                                   the npm tools of tools/ci (npm ci)
#   deploy/install-deps.sh --bench  also what bench/ compares against (PyTorch,
#                                   torchvision, pandas, PIL, wrk)
# Run as root (or through sudo).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

# protobuf-c-compiler + libprotobuf-c-dev + libonnx-dev: the ONNX reader's C
# parser is generated at build time from the onnx.proto that libonnx-dev
# installs.
build=(build-essential pkg-config
       libmicrohttpd-dev libjansson-dev libopenblas-dev libsqlite3-dev libpq-dev libpng-dev zlib1g-dev nettle-dev
       libjpeg62-turbo-dev libarchive-dev libcurl4-openssl-dev
       protobuf-c-compiler libprotobuf-c-dev libonnx-dev)
# Packaging tests: prometheus (promtool checks /metrics), python3-yaml and
# python3-jsonschema (the deploy/ YAML, live answers against openapi.yaml),
# systemd (systemd-analyze verifies the unit), wget (the image's
# HEALTHCHECK), e2fsprogs + util-linux (a read-only data dir on a loop
# mount, PID 1 in a PID namespace), shellcheck, nodejs/npm (the linters
# and schema validators of tools/ci: Dockerfile, compose, k8s, OpenAPI).
# python3-sklearn: the CSV files scikit-learn ships are test data for the
# dataset parsers. libonnx-testdata: ONNX's per-operator conformance models;
# python3-onnx: tools/gen_onnx_fixtures.py. python3-torch and
# python3-torchvision: tools/fixtures/torchvision_onnx.py exports the whole
# networks of tests/api/test_onnx_networks.py, and the photo tests check
# preprocessing against torchvision. python3-pil + python3-numpy: the photo
# tests' JPEGs, tools/fixtures/photos.py and tools/fixtures/fmnist_photos.py
# (the JPEG photos of the ONNX transfer test, written at test time).
# postgresql: the store tests and the API suite run on a throwaway
# PostgreSQL 15 cluster too (tests/pg_cluster.sh). podman, runc and
# mmdebstrap: make container-test builds the image on a Debian base made
# here and runs it (tests/container/); podman-compose, netavark and
# aardvark-dns run deploy/docker-compose.yml there (netavark's DNS resolves
# the service names; Debian 12's CNI plugins do not), and iptables, which
# netavark 1.4 runs to set up the compose network but does not depend on
# (without it every container fails to start: "netavark: No such file or
# directory"). chromium: the
# dashboard's browser tests (tests/api/test_ui.py) drive it headless with
# npm playwright-core.
test=(python3 curl jq sqlite3 postgresql podman podman-compose netavark aardvark-dns iptables runc mmdebstrap valgrind clang-14 libfuzzer-14-dev libclang-rt-14-dev
      dataset-fashion-mnist python3-sklearn libonnx-testdata python3-onnx python3-pil
      python3-torch python3-torchvision python3-numpy
      prometheus python3-yaml python3-jsonschema systemd wget e2fsprogs util-linux binutils shellcheck chromium)

bench=(python3-torch python3-torchvision python3-numpy python3-pandas python3-pil wrk time jq curl dataset-fashion-mnist)

pkgs=("${build[@]}")
if [ "${1:-}" = "--bench" ]; then
    pkgs+=("${bench[@]}")
fi
if [ "${1:-}" = "--test" ]; then
    pkgs+=("${test[@]}")
    # A Node.js that ships its own npm (NodeSource's) conflicts with Debian's
    # npm package: take Debian's only where there is no npm yet.
    if ! command -v npm >/dev/null; then
        pkgs+=(nodejs npm)
    fi
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >/dev/null
echo "install-deps: ${#pkgs[@]} packages present"

if [ "${1:-}" = "--test" ]; then
    # Pinned by tools/ci/package-lock.json; npm ci starts from a clean tree.
    # onnxruntime-node's install step would download CUDA: its CPU library
    # ships inside the package.
    ONNXRUNTIME_NODE_INSTALL=skip ONNXRUNTIME_NODE_INSTALL_CUDA=skip npm ci --prefix "$root/tools/ci" --no-audit --no-fund --loglevel=error >/dev/null
    echo "install-deps: npm tools in tools/ci/node_modules ($(node --version))"
fi
