#!/usr/bin/env bash
# The main job: detect the faces of a photo with RetinaFace, align each one and embed it with
# MobileFaceNet, using the weights in ../shared/models. Writes out/<stem>.json (boxes, scores,
# landmarks, 256-d embeddings), out/<stem>.png (annotated) and out/aligned/*.png.
# Usage: scripts/run_main_job.sh [IMAGE]   (default ../shared/images/kids.jpg)
set -euo pipefail
cd "$(dirname "$0")/.."
image=${1:-../shared/images/kids.jpg}
models=${RFCF_MODELS:-../shared/models}
build=${RFCF_BUILD_DIR:-build}
scripts/install_deps.sh >/dev/null
if [ ! -x "$build/examples/rfcf-detect" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
fi
cmake --build "$build" -j "$(nproc)" --target rfcf-detect >/dev/null
stem=$(basename "${image%.*}")
mkdir -p out
"$build/examples/rfcf-detect" --weights "$models/retinaface_mnet025.pth" --image "$image" \
  --json "out/$stem.json" --annotated "out/$stem.png" --aligned-dir out/aligned \
  --embed-weights "$models/mobilefacenet_casia.ckpt"
echo "wrote out/$stem.json, out/$stem.png and out/aligned/"
