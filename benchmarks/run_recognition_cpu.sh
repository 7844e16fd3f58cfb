#!/usr/bin/env bash
# Recognition on the CPU, rfcf vs PyTorch 1.13 eager vs OpenCV DNN (ONNX export of the same model),
# same input shapes and threads, in one run: embedding throughput of MobileFaceNet-CASIA (112x96)
# and IResNet-50 (112x112) at batch 1 and 64, and one IResNet-50 + CurricularFace training step
# (batch 64, 10k classes, SGD). Usage: benchmarks/run_recognition_cpu.sh [cpu|wall] [SCALE]
#   cpu  (default): 1 thread, process CPU time (meaningful on a loaded, shared machine)
#   wall: 2 threads, wall-clock time (take it on a quiet machine)
# SCALE multiplies the repetitions (default 1: about 10-15 minutes of CPU time in cpu mode, most of
# it IResNet-50 at batch 64). Set RFCF_BUILD_DIR to reuse a build directory (default build-bench).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-cpu}; scale=${2:-1}; build=${RFCF_BUILD_DIR:-build-bench}
threads=1; [ "$mode" = wall ] && threads=2
if [ -f "$build/CMakeCache.txt" ]; then
  cmake -B "$build" -DRFCF_BUILD_BENCHMARKS=ON >/dev/null
else
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRFCF_BUILD_BENCHMARKS=ON -DRFCF_BUILD_TESTS=OFF \
    -DRFCF_BUILD_EXAMPLES=OFF -DRFCF_WITH_CUDA=OFF >/dev/null
fi
cmake --build "$build" -j 2 --target bench_recognition_cpu >/dev/null
out=${TMPDIR:-/tmp}/rfcf_recognition_bench.$$
OMP_NUM_THREADS=$threads "$build/benchmarks/bench_recognition_cpu" --mode="$mode" --scale="$scale" \
  --benchmark_out="$out.json" --benchmark_out_format=json >&2
OMP_NUM_THREADS=$threads /usr/bin/python3 benchmarks/python/recognition_anchor.py --mode "$mode" --scale "$scale" \
  > "$out.anchor" 2>/dev/null
/usr/bin/python3 - "$out.json" "$out.anchor" "$mode" <<'PY'
import json, sys
mode = sys.argv[3]
key = "cpu_time" if mode == "cpu" else "real_time"
ours = {}
for b in json.load(open(sys.argv[1]))["benchmarks"]:
    if b.get("aggregate_name") == "median":
        parts = b["run_name"].split("/")
        ours[parts[0] + "/" + parts[1]] = b[key]
anchor = {"TORCH": {}, "OPENCV": {}}
for line in open(sys.argv[2]):
    f = line.split()
    if len(f) == 3 and f[0] in anchor:
        anchor[f[0]][f[1]] = float(f[2])
unit = "CPU ms, 1 thread" if mode == "cpu" else "wall ms, 2 threads"
print(f"| case ({unit}) | rfcf ms | rfcf faces/s | PyTorch ms | ratio | OpenCV DNN ms | ratio |")
print("|---|---|---|---|---|---|---|")
for name, ms in ours.items():
    batch = int(name.split("/")[1])
    t, c = anchor["TORCH"].get(name), anchor["OPENCV"].get(name)
    f = lambda x: f"{x:.1f}" if x else "-"
    r = lambda x: f"{ms / x:.2f}" if x else "-"
    print(f"| {name} | {ms:.1f} | {batch * 1000 / ms:.1f} | {f(t)} | {r(t)} | {f(c)} | {r(c)} |")
print("ratio = rfcf / anchor (below 1: rfcf faster)")
PY
rm -f "$out.json" "$out.anchor"
