#!/usr/bin/env bash
# Learning smoke test for rfcf-train-detector (issue 5): fine-tune RetinaFace-MobileNet0.25 from the
# ImageNet backbone on half of shared/widerface/val_subset (official WIDER val ground truth, boxes
# only) and report WIDER AP (Easy/Medium/Hard) on the other half before and after training.
# Not a benchmark: a CPU-budget check that the whole training path learns.
#
#   scripts/widerface_learning_run.sh             # uses build/examples, writes runs/widerface_learning/
#   EPOCHS=8 IMG_DIM=320 scripts/widerface_learning_run.sh
#
# Split: the 323 subset images sorted by path; even positions train (162), odd positions are held
# out (161). Output: split/*.txt, train/label.txt, run/ (checkpoints, log.csv, epochs.csv,
# loss_curve.png, ap_curve.png, model.safetensors), eval_final/ (rfcf-eval-widerface cross-check)
# and summary.txt.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SHARED=${SHARED:-$ROOT/../shared}
BIN=${BIN:-$ROOT/build/examples}
OUT=${OUT:-$ROOT/out/widerface_learning}
EPOCHS=${EPOCHS:-5}
IMG_DIM=${IMG_DIM:-256}
BATCH=${BATCH:-8}
LR=${LR:-1e-2}
WARMUP=${WARMUP:-1}
EVAL_EVERY=${EVAL_EVERY:-$EPOCHS}
EVAL_LONG_SIDE=${EVAL_LONG_SIDE:-640}
THREADS=${THREADS:-2}
NICE=${NICE:-10}

SUBSET=$SHARED/widerface/val_subset/images
GT=$SHARED/widerface/ground_truth
mkdir -p "$OUT/split" "$OUT/train"
start=$(date +%s)

# 1. Split the subset.
(cd "$SUBSET" && find . -name '*.jpg' | sed 's|^\./||' | LC_ALL=C sort) > "$OUT/split/all.txt"
awk 'NR % 2 == 1' "$OUT/split/all.txt" > "$OUT/split/train.txt"
awk 'NR % 2 == 0' "$OUT/split/all.txt" > "$OUT/split/heldout.txt"

# 2. Training labels: the official val .mat -> label.txt (boxes only), kept for the train half.
"$BIN/rfcf-wider-mat2label" --mat "$GT/wider_face_val.mat" --out "$OUT/split/val_label.txt"
awk 'NR == FNR { keep["# " $0] = 1; next }
     /^#/ { on = ($0 in keep) } on' "$OUT/split/train.txt" "$OUT/split/val_label.txt" > "$OUT/train/label.txt"

# 3. Train (evaluating the held-out half before the first step and every EVAL_EVERY epochs).
nice -n "$NICE" "$BIN/rfcf-train-detector" \
  --labels "$OUT/train/label.txt" --images "$SUBSET" --out "$OUT/run" \
  --pretrained "$SHARED/models/mobilenetv1_025_imagenet.tar" \
  --epochs "$EPOCHS" --img-dim "$IMG_DIM" --batch "$BATCH" --lr "$LR" --schedule cosine --warmup-epochs "$WARMUP" \
  --guarded --workers 2 --threads "$THREADS" --progress-interval 30 \
  --eval-every "$EVAL_EVERY" --eval-at-start --eval-images "$SUBSET" --eval-list "$OUT/split/heldout.txt" \
  --eval-gt "$GT" --eval-long-side "$EVAL_LONG_SIDE" 2>&1 | tee "$OUT/train.log"

# 4. Cross-check the final weights with the evaluation program (same settings).
nice -n "$NICE" "$BIN/rfcf-eval-widerface" --weights "$OUT/run/model.safetensors" --images "$SUBSET" \
  --list "$OUT/split/heldout.txt" --gt "$GT" --out "$OUT/eval_final" --long-side "$EVAL_LONG_SIDE" \
  --top-k 5000 --keep-top-k 750 --threads "$THREADS" 2>/dev/null | tee "$OUT/eval_final.txt"

end=$(date +%s)
{
  echo "rfcf-train-detector learning run: $(wc -l < "$OUT/split/train.txt") train / $(wc -l < "$OUT/split/heldout.txt") held-out images"
  echo "epochs $EPOCHS, img_dim $IMG_DIM, batch $BATCH, lr $LR cosine, warm-up $WARMUP epoch(s), guarded matching"
  echo "evaluation: held-out half, long side $EVAL_LONG_SIDE, conf 0.02, NMS 0.4, top-k 5000/750"
  echo "epochs.csv (epoch 0 = before training: ImageNet backbone, random neck/heads):"
  cut -d, -f1,4,11,12,13 "$OUT/run/epochs.csv"
  echo "rfcf-eval-widerface on model.safetensors:"
  cat "$OUT/eval_final.txt"
  echo "wall time: $((end - start)) s (nice -n $NICE, $THREADS threads)"
  echo "curves: $OUT/run/loss_curve.png $OUT/run/ap_curve.png"
} | tee "$OUT/summary.txt"
