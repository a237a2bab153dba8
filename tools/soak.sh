#!/usr/bin/env bash
# soak.sh: a long DPO run with checkpoints, watched for leaks. Samples the
# training process's resident memory (on lavapipe the device memory is host
# memory, so it is included), its open file descriptors and threads every
# INTERVAL seconds into OUT/soak.csv, then prints the RSS slope over the run
# after the first checkpoint (least squares, MiB per 1000 steps).
# Usage: tools/soak.sh [STEPS (2000)] [OUT (out/soak)] [PAIRS (out/demo/pairs/pairs.jsonl)]
# Environment: INTERVAL (5), VKPREF (build/vkpref).
set -euo pipefail
cd "$(dirname "$0")/.."
STEPS=${1:-2000}
OUT=${2:-out/soak}
PAIRS=${3:-out/demo/pairs/pairs.jsonl}
INTERVAL=${INTERVAL:-5}
V=${VKPREF:-build/vkpref}
[ -f "$PAIRS" ] || { echo "soak: $PAIRS: no pairs manifest (tools/run_default.sh makes one)" >&2; exit 2; }
mkdir -p "$OUT"
"$V" train --config configs/fmnist-dpo.json --pretrained_model_name_or_path assets/fmnist-base \
  --dataset "$PAIRS" --output_dir "$OUT/run" --overwrite_output_dir --max_train_steps "$STEPS" \
  --checkpointing_steps 100 --checkpoints_total_limit 3 --validation_grid_seeds 0 --log_every 10 \
  2> "$OUT/train.log" &
pid=$!
echo "seconds,step,rss_kib,fds,threads" > "$OUT/soak.csv"
t0=$(date +%s)
while kill -0 "$pid" 2>/dev/null; do
  rss=$(awk '/^VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null || echo)
  thr=$(awk '/^Threads/ {print $2}' /proc/$pid/status 2>/dev/null || echo)
  fds=$(ls /proc/$pid/fd 2>/dev/null | wc -l || true)
  step=$(tail -n 1 "$OUT/run/train_log.csv" 2>/dev/null | cut -d, -f1 || true)
  [ -n "$rss" ] && echo "$(( $(date +%s) - t0 )),${step:-0},$rss,$fds,$thr" >> "$OUT/soak.csv"
  sleep "$INTERVAL"
done
wait "$pid"
awk -F, 'NR > 1 && $2 >= 100 { n++; x += $2; y += $3 / 1024; xx += $2 * $2; xy += $2 * $3 / 1024;
         if (!min || $3 < min) min = $3; if ($3 > max) max = $3; if ($4 > fdmax) fdmax = $4; if (!fdmin || $4 < fdmin) fdmin = $4 }
  END { if (n < 3) { print "soak: too few samples after step 100"; exit 1 }
        slope = (n * xy - x * y) / (n * xx - x * x);
        printf "soak: %d samples after step 100: RSS %.1f-%.1f MiB, slope %.3f MiB per 1000 steps; open fds %d-%d\n",
               n, min / 1024, max / 1024, slope * 1000, fdmin, fdmax }' "$OUT/soak.csv"
