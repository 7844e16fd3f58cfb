#!/usr/bin/env bash
# Training-side benchmarks of RetinaFace-MobileNet0.25 against PyTorch in the same run (issue 5):
#   step:   one training step (forward + MultiBoxLoss + backward + SGD), batch 8 at 640x640;
#   loader: decode + reference augmentation + batching over shared/widerface/val_subset (323 images).
# Default mode "cpu": process CPU time per image with one thread / one worker (robust on a loaded,
# shared machine). Mode "wall": images/s with THREADS threads / workers (use on a quiet machine).
# Usage: benchmarks/run_train_bench.sh [cpu|wall] [SHARED_DIR] [THREADS] [STEPS]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-cpu}; shared=${2:-../shared}; threads=${3:-2}; steps=${4:-5}
build=${RFCF_BUILD_DIR:-build-bench}
if [ ! -f "$build/CMakeCache.txt" ]; then  # an existing build dir (RFCF_BUILD_DIR) keeps its settings
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release -DRFCF_BUILD_BENCHMARKS=ON -DRFCF_BUILD_TESTS=OFF \
    -DRFCF_BUILD_EXAMPLES=OFF -DRFCF_WITH_CUDA=OFF >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target bench_train_detector >/dev/null
bench="$build/benchmarks/bench_train_detector"
py=/usr/bin/python3
labels=$(mktemp /tmp/rfcf_val_subset_label.XXXXXX.txt)
trap 'rm -f "$labels"' EXIT
"$bench" labels "$shared" "$labels"
[ "$mode" = cpu ] && n=1 || n=$threads
out=${RFCF_BENCH_LOG:-$(mktemp)}
{
  OMP_NUM_THREADS=$n "$bench" step "$shared" 8 640 "$steps" "$n"
  OMP_NUM_THREADS=$n $py benchmarks/python/train_step_torch.py "$shared" 8 640 "$steps" "$n"
  OMP_NUM_THREADS=1 "$bench" loader "$shared" "$n" 8 640 1
  OMP_NUM_THREADS=1 $py benchmarks/python/loader_torch.py "$labels" "$shared/widerface/val_subset/images" "$n" 8 640 1
} > "$out" 2>&1
$py - "$out" "$mode" "$n" <<'PY'
import sys
vals = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 3 and p[0] in ("RESULT", "TORCH"):
        vals[(p[0], p[1])] = float(p[2])
mode, n = sys.argv[2], sys.argv[3]
kind = "cpu_ms_per_image" if mode == "cpu" else "wall_images_per_s"
unit = "CPU ms/image (lower is better)" if mode == "cpu" else "images/s (higher is better)"
print(f"{mode} mode, {n} thread(s)/worker(s); {unit}")
print(f"{'case':40s} {'rfcf':>9s} {'PyTorch':>9s} {'rfcf speed-up':>14s}")
for case, label in (("step", "train step b8 640x640"), ("loader", "loader (decode+augment+batch) 640")):
    a, b = vals.get(("RESULT", f"{case}_{kind}")), vals.get(("TORCH", f"{case}_{kind}"))
    if a is None or b is None:
        print(f"{label:40s} missing (see the raw output)"); continue
    speed = b / a if mode == "cpu" else a / b
    print(f"{label:40s} {a:9.2f} {b:9.2f} {speed:13.2f}x")
PY
