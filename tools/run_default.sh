#!/usr/bin/env bash
# run_default.sh: set up, build and run the main job on the embedded default,
# end to end on the shipped Fashion-MNIST base model (assets/fmnist-base):
#   1. make preference pairs: 16 images per class caption sampled from the base,
#      the brighter image of each pair chosen (the `brightness` judge);
#   2. fine-tune the base with Diffusion-DPO on them (configs/fmnist-dpo.json);
#   3. render a base-versus-tuned grid at fixed seeds (rows [A] tuned, [B] base);
#   4. report the win rate of the tuned model against the base under the judge,
#      on seeds never used for the pairs, and the caption fit of both (classifier).
# About 10 minutes on 2 CPU cores with lavapipe after the build (11 min 18 s measured
# from a fresh clone, build included).
# Usage: tools/run_default.sh [output folder, default out/demo]
# Environment: DEMO_STEPS (default 400) fine-tuning steps, DEMO_JUDGE (default brightness).
set -euo pipefail
cd "$(dirname "$0")/.."
tools/setup.sh

OUT=${1:-out/demo}
STEPS=${DEMO_STEPS:-400}
JUDGE=${DEMO_JUDGE:-brightness}
PROMPTS=configs/prompts/fmnist-classes.txt
BASE=assets/fmnist-base
V=build/vkpref
mkdir -p "$OUT"
start=$(date +%s)
stamp() { echo "== [$(( $(date +%s) - start )) s] $*"; }

stamp "1/4 preference pairs from $BASE, judge $JUDGE"
$V make-pairs --model "$BASE" --prompts "$PROMPTS" --judge "$JUDGE" --per_prompt 16 --steps 10 \
  --out "$OUT/pairs"

stamp "2/4 Diffusion-DPO fine-tuning, $STEPS steps (configs/fmnist-dpo.json)"
$V train --config configs/fmnist-dpo.json --pretrained_model_name_or_path "$BASE" \
  --dataset "$OUT/pairs/pairs.jsonl" --output_dir "$OUT/dpo" --max_train_steps "$STEPS" \
  --checkpointing_steps 0 --validation_grid_seeds 0

stamp "3/4 base-versus-tuned grid"
$V sample --model "$OUT/dpo" --compare "$BASE" --prompts "$PROMPTS" --seeds 1000-1005 \
  --out "$OUT/dpo_vs_base.png"

stamp "4/4 win rate against the base (seeds 1000-1015, not used for the pairs)"
$V eval --model "$OUT/dpo" --base "$BASE" --prompts "$PROMPTS" --seeds 1000-1015 --steps 10 \
  --judge "$JUDGE" --json "$OUT/eval.json"

stamp "done: grid $OUT/dpo_vs_base.png ([A] DPO-tuned, [B] base), log $OUT/dpo/train_log.csv, results $OUT/eval.json"
