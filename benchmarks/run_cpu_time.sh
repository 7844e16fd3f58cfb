#!/usr/bin/env bash
# One-thread CPU-time comparison of RetinaFace-MobileNet0.25 inference: rfcf vs PyTorch eager vs
# OpenCV DNN (ONNX export of the same model), same inputs. Process CPU time is used because wall
# time is meaningless on a loaded machine. Usage: benchmarks/run_cpu_time.sh [SHARED_DIR] [REPEATS]
set -euo pipefail
cd "$(dirname "$0")/.."
shared=${1:-../shared}; repeats=${2:-5}; build=${RFCF_BUILD_DIR:-build-bench}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRFCF_BUILD_BENCHMARKS=ON -DRFCF_BUILD_TESTS=OFF \
  -DRFCF_BUILD_EXAMPLES=OFF -DRFCF_WITH_CUDA=OFF >/dev/null
cmake --build "$build" -j "$(nproc)" --target cpu_time_models >/dev/null
OMP_NUM_THREADS=1 "$build/benchmarks/cpu_time_models" "$shared" "$repeats" > /tmp/rfcf_cpu_time.txt
OMP_NUM_THREADS=1 /usr/bin/python3 benchmarks/python/cpu_time_anchor.py "$shared" "$repeats" > /tmp/anchor_cpu_time.txt 2>/dev/null
python3 - /tmp/rfcf_cpu_time.txt /tmp/anchor_cpu_time.txt <<'PY'
import sys
ours = {l.split()[1]: float(l.split()[2]) for l in open(sys.argv[1]) if l.startswith("RESULT")}
torch, cv = {}, {}
for l in open(sys.argv[2]):
    kind, name, ms = l.split()
    (torch if kind == "TORCH" else cv)[name] = float(ms)
print(f"{'case':24s} {'rfcf ms':>9s} {'torch ms':>9s} {'ratio':>6s} {'opencv ms':>10s} {'ratio':>6s}")
for k, v in ours.items():
    t, c = torch.get(k), cv.get(k)
    f = lambda x: f"{x:9.1f}" if x else "      n/a"
    r = lambda x: f"{v / x:6.2f}" if x else "   n/a"
    print(f"{k:24s} {v:9.1f} {f(t)} {r(t)} {f(c):>10s} {r(c)}")
PY
