#!/usr/bin/env bash
# The recipe behind the shipped decoders: each level in turn, deep levels grafted onto the finished
# level below (block-by-block, then end to end). Resumable: run the same command again after an
# interruption; finished levels return at once. Checkpoints live outside git.
#   usage: training/recipe.sh IMAGES_DIR [CKPT_ROOT]
set -euo pipefail
images=${1:?usage: training/recipe.sh IMAGES_DIR [CKPT_ROOT]}
root=${2:-$HOME/.cache/wct-train}
py=${PYTHON:-python}
run() { "$py" -m wct.train --images "$images" --threads "${THREADS:-2}" --eval-every 6 --val-count 16 "$@"; }

run --level relu1_1 --out "$root/relu1_1" --crop 128 --batch 8 --steps 1000 --max-minutes 10
run --level relu2_1 --out "$root/relu2_1" --crop 128 --batch 8 --steps 1200 --max-minutes 16
run --level relu3_1 --out "$root/relu3_1" --crop 128 --batch 8 --steps 2000 --block-steps 500 \
    --lower "$root/relu2_1/best.safetensors" --max-minutes 32
run --level relu4_1 --out "$root/relu4_1" --crop 128 --batch 8 --steps 1300 --block-steps 500 \
    --lower "$root/relu3_1/best.safetensors" --max-minutes 32
run --level relu5_1 --out "$root/relu5_1" --crop 192 --batch 4 --steps 1100 --block-steps 500 \
    --lower "$root/relu4_1/best.safetensors" --max-minutes 36
