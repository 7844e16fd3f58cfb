#!/usr/bin/env bash
# The GPU check of rfcf's cuda backend, run from the repository root on a machine with a GPU:
# builds the CUDA targets (cmake/cuda_only: needs only nvcc, cuBLAS, cuDNN 9 and Catch2's
# header), runs rfcf_tests_cuda and rfcf-cuda-info, times bench_cuda_ops against PyTorch
# (benchmarks/bench_cuda_torch.py) and prints one table. Logs go to $OUT (or out/device_check).
# Meant to finish in < 5 minutes on 16 cores.
#
#   scripts/device_check.sh --prepare   on a machine WITH the packages (e.g. the dev box):
#                                       copies catch2/catch.hpp into .device_deps/ (git-ignored);
#                                       carry .device_deps to the GPU machine.
#   scripts/device_check.sh             on the GPU machine.
# Environment: CUDA_HOME (default /usr/local/cuda), RFCF_CUDA_ARCH (default 90),
#              RFCF_CUDNN_ROOT (prefix of include/cudnn.h + lib/libcudnn*; found automatically
#              in CUDA_HOME, /usr or PyTorch's nvidia-cudnn wheel), RFCF_BUILD_DIR (build-device).
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD

if [[ "${1:-}" == "--prepare" ]]; then
  # What the GPU machine lacks: the headers of Catch2, Eigen, nlohmann-json, stb and zlib (the
  # cpu references and the detector in tests/cuda/*.cpp), a static zlib, and the data the CUDA
  # tests read from ../shared (models, images, fixtures), which does not travel with the repo.
  need() { [[ -e $1 ]] || { echo "prepare: $1 not found here ($2)"; exit 1; }; }
  need /usr/include/catch2/catch.hpp "apt-get install catch2"
  need /usr/include/eigen3/Eigen/Core "apt-get install libeigen3-dev"
  need /usr/include/nlohmann/json.hpp "apt-get install nlohmann-json3-dev"
  need /usr/include/stb/stb_image.h "apt-get install libstb-dev"
  need /usr/include/zlib.h "apt-get install zlib1g-dev"
  zlib_a=$(ls /usr/lib/*/libz.a /usr/lib/libz.a 2>/dev/null | head -1)
  need "${zlib_a:-/usr/lib/libz.a}" "apt-get install zlib1g-dev"
  shared=${RFCF_SHARED_DIR:-$root/../shared}
  need "$shared/models/retinaface_mnet025.pth" "set RFCF_SHARED_DIR to the shared data folder"
  rm -rf .device_deps
  mkdir -p .device_deps/include/catch2 .device_deps/include/stb .device_deps/lib .device_deps/shared
  cp /usr/include/catch2/catch.hpp .device_deps/include/catch2/
  cp -r /usr/include/eigen3/Eigen /usr/include/nlohmann .device_deps/include/
  cp /usr/include/stb/stb_image.h /usr/include/stb/stb_image_write.h .device_deps/include/stb/
  cp /usr/include/zlib.h /usr/include/zconf.h .device_deps/include/
  cp "$zlib_a" .device_deps/lib/
  cp -r "$shared/models" "$shared/images" "$shared/fixtures" .device_deps/shared/
  echo "prepare: headers, libz.a and shared data ($(du -sh .device_deps | cut -f1)) in .device_deps -" \
       "carry '.device_deps' to the GPU machine"
  exit 0
fi

out=${OUT:-$root/out/device_check}
mkdir -p "$out"
build=${RFCF_BUILD_DIR:-build-device}
arch=${RFCF_CUDA_ARCH:-90}
export CUDA_HOME=${CUDA_HOME:-/usr/local/cuda}
export PATH=$CUDA_HOME/bin:$PATH
start=$(date +%s)
say() { echo "[device_check +$(( $(date +%s) - start ))s] $*" | tee -a "$out/summary.txt"; }
fail() { say "FAILED: $*"; exit 1; }
: > "$out/summary.txt"

command -v nvcc >/dev/null || fail "nvcc not found (set CUDA_HOME)"
command -v cmake >/dev/null || fail "cmake not found"
nvidia-smi -L 2>&1 | tee -a "$out/summary.txt" || true
say "nvcc: $(nvcc --version | tail -1)"

# cuDNN: the toolkit, the system, or the wheel PyTorch ships (nvidia-cudnn-cu13).
cudnn_root=${RFCF_CUDNN_ROOT:-}
if [[ -z $cudnn_root ]]; then
  for p in "$CUDA_HOME" /usr /usr/local; do
    if [[ -f $p/include/cudnn.h || -f $p/include/x86_64-linux-gnu/cudnn.h ]]; then cudnn_root=$p; break; fi
  done
fi
if [[ -z $cudnn_root ]]; then  # pip wheels: site-packages/nvidia/**/include/cudnn.h
  nv=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
  h=$([[ -n $nv ]] && find "$nv" -name cudnn.h -path '*include*' 2>/dev/null | head -1)
  [[ -n $h ]] && cudnn_root=$(dirname "$(dirname "$h")")
fi
[[ -n $cudnn_root && ( -f $cudnn_root/include/cudnn.h || -f $cudnn_root/include/x86_64-linux-gnu/cudnn.h ) ]] ||
  fail "cuDNN 9 headers not found (looked in $CUDA_HOME, /usr, /usr/local, python's nvidia.cudnn); set RFCF_CUDNN_ROOT"
say "cuDNN from $cudnn_root"
# NCCL (the single-rank NCCL tests): the toolkit, the system, or PyTorch's nvidia-nccl wheel.
nccl_root=${RFCF_NCCL_ROOT:-}
for p in "$CUDA_HOME" /usr; do [[ -z $nccl_root && -f $p/include/nccl.h ]] && nccl_root=$p; done
if [[ -z $nccl_root ]]; then
  nv=$(python3 -c 'import nvidia; print(list(nvidia.__path__)[0])' 2>/dev/null || true)
  h=$([[ -n $nv ]] && find "$nv" -name nccl.h -path '*include*' 2>/dev/null | head -1)
  [[ -n $h ]] && nccl_root=$(dirname "$(dirname "$h")")
fi
say "NCCL from ${nccl_root:-nowhere (NCCL tests left out)}"
export LD_LIBRARY_PATH=$cudnn_root/lib:$cudnn_root/lib64:${nccl_root:+$nccl_root/lib:}$CUDA_HOME/lib64:${LD_LIBRARY_PATH:-}

catch_dir=""
for d in "$root/.device_deps/include" /usr/include /usr/local/include; do
  [[ -f $d/catch2/catch.hpp ]] && catch_dir=$d && break
done
[[ -n $catch_dir ]] || fail "Catch2 v2 header missing: run 'scripts/device_check.sh --prepare' where catch2 is installed and carry .device_deps"

gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
say "configure (sm_$arch) in $build"
cmake -S cmake/cuda_only -B "$build" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CUDA_ARCHITECTURES="$arch" \
  -DRFCF_CUDNN_ROOT="$cudnn_root" -DRFCF_NCCL_ROOT="$nccl_root" -DRFCF_CATCH2_INCLUDE_DIR="$catch_dir" > "$out/configure.log" 2>&1 ||
  { tail -30 "$out/configure.log"; fail "configure (see configure.log)"; }
b0=$(date +%s)
cmake --build "$build" -j "$(nproc)" > "$out/build.log" 2>&1 || { tail -60 "$out/build.log"; fail "build (see build.log)"; }
say "build took $(( $(date +%s) - b0 ))s"

status=0
timeout 240 "$build/rfcf_tests_cuda" > "$out/tests.log" 2>&1
rc=$?
tail -4 "$out/tests.log"
if [[ $rc -eq 77 ]]; then
  say "rfcf_tests_cuda: SKIPPED - no CUDA device visible"
  status=1
elif [[ $rc -ne 0 ]]; then
  grep -B2 -A12 "FAILED\|failed\|Error\|error" "$out/tests.log" | head -80
  say "rfcf_tests_cuda: FAILED (exit $rc, see tests.log)"
  status=1
else
  say "rfcf_tests_cuda: passed ($(grep -o 'All tests passed.*' "$out/tests.log"))"
fi
timeout 60 "$build/rfcf-cuda-info" > "$out/info.log" 2>&1 && say "rfcf-cuda-info: ok" || { cat "$out/info.log"; say "rfcf-cuda-info: FAILED"; status=1; }
cat "$out/info.log"

quick=()
[[ -n ${RFCF_BENCH_QUICK:-} ]] && quick=(--quick)
timeout 150 "$build/bench_cuda_ops" "${quick[@]}" > "$out/bench_rfcf.txt" 2> "$out/bench_rfcf.err" || { cat "$out/bench_rfcf.err"; say "bench_cuda_ops: FAILED"; status=1; }
PYTHONUNBUFFERED=1 timeout 150 python3 benchmarks/bench_cuda_torch.py "${quick[@]}" > "$out/bench_torch.txt" 2> "$out/bench_torch.err" || { tail -5 "$out/bench_torch.err"; say "bench_cuda_torch.py: FAILED"; }
timeout 120 "$build/bench_cuda_models" "${quick[@]}" >> "$out/bench_rfcf.txt" 2> "$out/bench_models_rfcf.err" || { cat "$out/bench_models_rfcf.err"; say "bench_cuda_models: FAILED"; status=1; }
PYTHONUNBUFFERED=1 timeout 120 python3 benchmarks/bench_cuda_models_torch.py "${quick[@]}" >> "$out/bench_torch.txt" 2> "$out/bench_models_torch.err" || { tail -5 "$out/bench_models_torch.err"; say "bench_cuda_models_torch.py: FAILED"; }

python3 - "$out/bench_rfcf.txt" "$out/bench_torch.txt" <<'PY' | tee -a "$out/summary.txt"
import sys
def load(path):
    d, head = {}, ""
    try:
        for line in open(path):
            if line.startswith("RESULT "):
                _, name, ms = line.split()
                d[name] = float(ms)
            elif line.startswith("#") and not head:
                head = line[1:].strip()
            elif line.startswith("# peak"):
                head += "; " + line[1:].strip()
    except OSError:
        pass
    return d, head
r, rh = load(sys.argv[1]); t, th = load(sys.argv[2])
print(f"rfcf: {rh}\ntorch: {th}")
print(f"{'op':40s} {'rfcf ms':>10s} {'torch ms':>10s} {'ratio':>7s}")
for name in list(r) + [n for n in t if n not in r]:
    a, b = r.get(name), t.get(name)
    ratio = f"{a / b:7.2f}" if a and b else "    n/a"
    fa = f"{a:10.3f}" if a is not None else "       n/a"
    fb = f"{b:10.3f}" if b is not None else "       n/a"
    print(f"{name:40s} {fa} {fb} {ratio}")
print("models: retinaface_*_fwd = eval inference (b1 latency, b64 ms per batch: images/s = 64000 / ms);")
print("        *_fwd_graph = the same replayed as a CUDA graph (rfcf nn::CapturedForward, torch.cuda.CUDAGraph)")
print("        iresnet50_112_b256_fwd_bwd = forward + backward of one training step, no optimizer")
print("ratio = rfcf / torch (lower is better for rfcf); fp32, TF32 off on both sides")
PY
say "done in $(( $(date +%s) - start ))s, status $status"
exit $status
