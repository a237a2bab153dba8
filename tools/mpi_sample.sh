#!/usr/bin/env bash
# mpi_sample.sh: `mpirun -np 2 vkpref sample | eval | make-pairs` write exactly
# the files one process writes. Each command runs on assets/fmnist-base with 2
# prompts x 3 seeds (make-pairs: 3 prompts x 2 images), so 6 images: 3 per
# rank, in batches of 2 that the split cuts differently, and 2 denoising steps,
# once alone and once under mpirun -np 2;
# then every output is compared byte for byte: the PNG grid, the per-image PNGs
# and index.json (sample), the eval JSON, and make-pairs' img/, pairs.jsonl and
# make_pairs.json.
#
#   tools/mpi_sample.sh VKPREF_BIN WITH_MPI(ON|OFF)
#
# Exit 77 (skipped) when vkpref was built without MPI or mpirun is missing.
set -euo pipefail
bin=$1 with_mpi=$2

source "$(dirname "$0")/mpi_test_env.sh" vkpref_mpi_sample
mpi=(mpirun --oversubscribe --bind-to none -np 2)  # no binding: lavapipe's threads need the cores
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
model=$src/assets/fmnist-base
common=(--prompt "a photo of a coat" --prompt "a photo of a bag" --steps 2 --batch 2)

# run NAME ARGS...: one process into $out/one, two ranks into $out/two (ARGS name
# their outputs under @/, replaced by the folder).
run() {
  local name=$1 n t0=$SECONDS
  shift
  for n in one two; do
    mkdir -p "$out/$n"
    local args=("${@//@/$out/$n}")
    if [ $n = one ]; then "$bin" "${args[@]}" >"$out/$n/$name.log" 2>&1 || { cat "$out/$n/$name.log"; exit 1; }
    else "${mpi[@]}" "$bin" "${args[@]}" >"$out/$n/$name.log" 2>&1 || { cat "$out/$n/$name.log"; exit 1; }; fi
  done
  echo "$name: $((SECONDS - t0)) s for both (wall clock, start-up included)"
}

run sample sample --model "$model" "${common[@]}" --seeds 0-2 --out @/grid.png --save_images @/images
run eval eval --model "$model" --base "$model" "${common[@]}" --seeds 0-2 --judge brightness --json @/eval.json
run make-pairs make-pairs --model "$model" "${common[@]}" --prompt "a photo of a sneaker" --per_prompt 2 \
  --judge brightness --out @/pairs

# Everything but the logs (the ranks' start-up lines differ) is byte-identical.
diff -r -q -x '*.log' "$out/one" "$out/two"
for f in grid.png images/index.json eval.json pairs/pairs.jsonl pairs/make_pairs.json; do
  [ -s "$out/two/$f" ] || { echo "FAIL: $f is missing or empty"; exit 1; }
done
echo "$(find "$out/one" -type f ! -name '*.log' | wc -l) files byte-identical between one process and two ranks"
