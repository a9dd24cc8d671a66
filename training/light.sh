#!/usr/bin/env bash
# The recipe behind the light model (decoders/light/): distil VGG-16 into the quarter-width student, ship it, then
# train its five decoders on it, each level in turn from scratch: pixels + features at the tap + the stylization term
# (features given the statistics of painting crops, decoded back to them), the paintings' held-out third never seen.
# Resumable: run the same command again after an interruption (finished steps return at once; the encoder is
# exported once: delete decoders/light/ to ship a new one, which its decoders must then be retrained for).
#   usage: training/light.sh PHOTOS_DIR PAINTINGS_DIR [CKPT_ROOT]
#   THREADS (default 2), BF16 (default 1: bfloat16 autocast, fast on CPUs with AMX), MINUTES (scales every level's
#   time budget, default 1), LEVELS (default: all five)
set -euo pipefail
images=${1:?usage: training/light.sh PHOTOS_DIR PAINTINGS_DIR [CKPT_ROOT]}
styles=${2:?usage: training/light.sh PHOTOS_DIR PAINTINGS_DIR [CKPT_ROOT]}
root=${3:-$HOME/.cache/wct-train}
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-python}
threads=${THREADS:-2} bf16=${BF16:-1} scale=${MINUTES:-1}

"$py" -m wct distill-encoder --images "$images" --out "$root/student-4" --steps 9000 --crop 160 --batch 8 \
  --threads "$threads" --bf16 "$bf16" --eval-every 10
[ -f "$here/decoders/light/encoder.safetensors" ] || \
  "$py" -m wct export-encoder --images "$images" --checkpoint "$root/student-4" --to "$here/decoders/light"

for level in ${LEVELS:-relu1_1 relu2_1 relu3_1 relu4_1 relu5_1}; do
  case $level in  # crop batch steps minutes feature-weight
    relu1_1) set -- 128 8 4000 12 0 ;;
    relu2_1) set -- 128 8 5000 18 0.01 ;;
    relu3_1) set -- 160 8 6000 30 0.01 ;;
    relu4_1) set -- 192 8 6000 40 0.01 ;;
    relu5_1) set -- 256 4 5000 30 0.01 ;;
  esac
  "$py" -m wct.train --model light --level "$level" --images "$images" --styles "$styles" --out "$root/light-$level" \
    --threads "$threads" --bf16 "$bf16" --eval-every 6 --val-count 16 --crop "$1" --batch "$2" --steps "$3" \
    --warmup 200 --lr 1e-3 --lr-min 2e-5 --feature-weight "$5" --stylize 0.02 \
    --max-minutes "$(python3 -c "print($4 * $scale)")" --export-to "$here/decoders/light"
done
