#!/usr/bin/env bash
# Builds and runs bench_ops_cpu (rfcf, 2 threads) and torch_ops_cpu.py (PyTorch, 2 threads) on the
# same conv shapes and prints: op | rfcf ms | PyTorch ms | ratio (rfcf / PyTorch, lower is better).
# Medians of repeated runs; run it on a quiet machine.
# Usage: benchmarks/run_ops_cpu.sh [build dir (default: build)]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-$ROOT/build}
PYTHON=${RFCF_TORCH_PYTHON:-/usr/bin/python3}
OUTDIR=$(mktemp -d)
trap 'rm -rf "$OUTDIR"' EXIT

cmake -S "$ROOT" -B "$BUILD" -DRFCF_BUILD_BENCHMARKS=ON >/dev/null
cmake --build "$BUILD" -j2 --target bench_ops_cpu >/dev/null

"$BUILD/benchmarks/bench_ops_cpu" --benchmark_filter='^conv_' --benchmark_repetitions=7 \
  --benchmark_report_aggregates_only=true --benchmark_format=json >"$OUTDIR/rfcf.json"
"$PYTHON" "$ROOT/benchmarks/torch_ops_cpu.py" 30 2 >"$OUTDIR/torch.json"

"$PYTHON" - "$OUTDIR/rfcf.json" "$OUTDIR/torch.json" <<'PY'
import json, sys
rfcf = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") != "median":
        continue
    kind, shape = b["run_name"].split("/")[:2]          # conv_forward/conv3x3_64x64_160/real_time
    scale = {"ms": 1.0, "us": 1e-3, "ns": 1e-6}[b["time_unit"]]
    rfcf[f"{shape}/{kind.removeprefix('conv_')}"] = b["real_time"] * scale
torch = json.load(open(sys.argv[2]))
print(f"{'op':34s} {'rfcf ms':>9s} {'PyTorch ms':>11s} {'ratio':>7s}")
for name, t in torch.items():
    r = rfcf.get(name)
    print(f"{name:34s} {r:9.2f} {t:11.2f} {r / t:7.2f}" if r else f"{name:34s} {'-':>9s} {t:11.2f}")
PY
