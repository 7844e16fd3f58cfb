#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs every test. CI runs exactly this.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install_deps.sh
build=${RFCF_BUILD_DIR:-build}
jobs=${RFCF_JOBS:-$(nproc)}
# CUDA code is compiled for sm_90 only here (the library's default list is 80;86;89;90), and the
# benchmarks are left to their run scripts, to keep the 2-core CI build short.
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRFCF_BUILD_BENCHMARKS=OFF \
  -DCMAKE_CUDA_ARCHITECTURES="${RFCF_CUDA_ARCHITECTURES:-90}"
cmake --build "$build" -j "$jobs"
# Passive OpenMP waiting: ctest runs tests in parallel, and spinning threads would starve them.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
ctest --test-dir "$build" --output-on-failure -j "$jobs" --timeout 1500
