#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs every test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
build=${RFCF_BUILD_DIR:-build}
jobs=${RFCF_JOBS:-$(nproc)}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release
cmake --build "$build" -j "$jobs"
# Passive OpenMP waiting: ctest runs tests in parallel, and spinning threads would starve them.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 1500
