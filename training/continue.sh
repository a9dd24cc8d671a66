#!/usr/bin/env bash
# Continue training the shipped decoders (a later phase of the recipe): each level starts from the
# weights in decoders/ (so it works on a machine without the earlier checkpoints), with a fresh,
# lower-LR cosine schedule. Resumable like recipe.sh: run the same command again after an interruption.
#   usage: training/continue.sh IMAGES_DIR PHASE [CKPT_ROOT]      e.g. training/continue.sh photos/ p2
#   LEVELS="relu3_1 relu4_1" MINUTES=40 training/continue.sh ...  (which levels, minutes per level)
#   LR, LR_MIN (peak and final learning rate), STEPS, THREADS, EMA (weight-average decay, e.g. 0.997; 0 = off),
#   DEEPEN (e.g. "0,1": one more identity-initialised conv after these mirror convs; kept by later runs),
#   ENLARGE (fraction of crops enlarged 1-1.6x from a smaller region, e.g. 0.5; 0 = all crops shrunk),
#   BF16=1 (bfloat16 autocast: several times faster on CPUs with AMX, e.g. Intel Xeon 4th gen and later),
#   FEATURE (the feature term's weight, e.g. 0.01 as relu4_1 in the thirteenth session; 0 = pixel MSE only),
#   STYLIZE (the stylization term's weight, e.g. 0.02: decode OST-transferred features of other crops; 0 = off),
#   CROP, BATCH (override the level's crop side and batch; the stylization term wants crops of 256 at relu4_1)
set -euo pipefail
images=${1:?usage: training/continue.sh IMAGES_DIR PHASE [CKPT_ROOT]}
phase=${2:?give a phase name, e.g. p2}
root=${3:-$HOME/.cache/wct-train}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python}
for level in ${LEVELS:-relu2_1 relu3_1 relu4_1 relu5_1}; do
  case $level in
    relu5_1) crop=192 batch=4 ;;
    *) crop=128 batch=8 ;;
  esac
  crop=${CROP:-$crop} batch=${BATCH:-$batch}
  "$py" -m wct.train --images "$images" --threads "${THREADS:-2}" --eval-every 6 --val-count 16 \
    --level "$level" --out "$root/$level-$phase" --init-from "$here/decoders/$level.safetensors" \
    --crop "$crop" --batch "$batch" --lr "${LR:-5e-4}" --lr-min "${LR_MIN:-5e-5}" --warmup 50 --steps "${STEPS:-3000}" \
    --ema "${EMA:-0}" --enlarge "${ENLARGE:-0}" --bf16 "${BF16:-0}" --feature-weight "${FEATURE:-0}" --stylize "${STYLIZE:-0}" --deepen "${DEEPEN:-}" --max-minutes "${MINUTES:-30}"
done
