#!/usr/bin/env bash
# mpi_fault_resume.sh: a data-parallel run that loses a rank stops whole and
# says where to continue; the run continues with another number of processes.
#
#   1. `mpirun -np 2` trains sft from assets/fmnist-base with --train_batch_size 1
#      and a checkpoint every step; rank 1 alone gets VKPREF_FAULT_KILL_AT_STEP=2
#      and kills itself with SIGKILL (as `kill -9` would) as step 2 begins.
#      Checked: mpirun exits non-zero within 60 s of the kill; rank 0 says that
#      rank 1 has ended and names the last complete checkpoint (checkpoint-1);
#      every checkpoint-* of the folder is complete.
#   2. One process with --train_batch_size 2 (the same 2 items per step)
#      resumes it: it starts at step 1, trains step 2, and its checkpoint says
#      1 process.
#   3. Resuming with 1 item per step instead of 2 is refused, naming both.
#
#   tools/mpi_fault_resume.sh VKPREF_BIN WITH_MPI(ON|OFF) [PYTHON]
#
# Exit 77 (skipped) when vkpref was built without MPI or mpirun is missing.
set -euo pipefail
bin=$1 with_mpi=$2 python=${3:-python3}

source "$(dirname "$0")/mpi_test_env.sh" vkpref_mpi_fault
run=$out/run
args=(train --pretrained_model_name_or_path "$src/assets/fmnist-base" --max_train_steps 3 --seed 11
      --learning_rate 1e-5 --lr_warmup_steps 0 --log_every 1 --validation_images 0 --validation_grid_seeds 0
      --checkpointing_steps 1 --output_dir "$run")
mpi=(mpirun --oversubscribe --bind-to none)  # no binding: lavapipe's threads need the cores (mpi_equivalence.sh)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)
fail() { echo "FAIL: $*"; cat "$out/two.log"; exit 1; }

# 1. Rank 1 dies: its own app context carries the fault.
"${mpi[@]}" -np 1 "$bin" "${args[@]}" --train_batch_size 1 : \
  -np 1 env VKPREF_FAULT_KILL_AT_STEP=2 "$bin" "${args[@]}" --train_batch_size 1 >"$out/two.log" 2>&1 &
launcher=$!
until grep -q "fault injection: rank 1" "$out/two.log"; do
  kill -0 "$launcher" 2>/dev/null || break
  sleep 0.2
done
killed_at=$SECONDS
rc=0
wait "$launcher" || rc=$?
took=$((SECONDS - killed_at))
grep -q "fault injection: rank 1" "$out/two.log" || fail "rank 1 never reached step 2"
grep -E "rank [0-9] of 2|mpirun noticed|exited on signal" "$out/two.log" || true
echo "mpirun exited with status $rc, ${took} s after the kill"
[ "$rc" -ne 0 ] || fail "mpirun exited 0 after a rank was killed"
[ "$took" -le 60 ] || fail "the other rank took ${took} s (> 60 s) to stop"
grep -q "rank 0 of 2: stopping because rank 1 (process [0-9]*) has ended; last complete checkpoint: $run/checkpoint-1" \
  "$out/two.log" || fail "rank 0 did not name the dead rank and the last complete checkpoint"

"$python" - "$run" <<'EOF'
import glob, json, os, sys
run = sys.argv[1]
ckpts = sorted(glob.glob(f"{run}/checkpoint-*"))
assert [os.path.basename(c) for c in ckpts] == ["checkpoint-1"], ckpts
for c in ckpts:
    for f in ("train_state.json", "train_state.safetensors", "train_config.json", "model_index.json",
              "unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
        assert os.path.getsize(f"{c}/{f}") > 0, f"{c}/{f} is empty"
    st = json.load(open(f"{c}/train_state.json"))
    assert st["step"] == int(c.rsplit("-", 1)[1]) and st["processes"] == 2, st
print("checkpoints complete:", ", ".join(os.path.basename(c) for c in ckpts))
EOF

# 2. One process, the same global batch.
"$bin" "${args[@]}" --train_batch_size 2 --resume_from_checkpoint latest --max_train_steps 2 >"$out/one.log" 2>&1 ||
  { cat "$out/one.log"; exit 1; }
grep -q "resuming from $run/checkpoint-1 (step 1)" "$out/one.log" || { cat "$out/one.log"; echo "FAIL: not resumed at step 1"; exit 1; }
! grep -q "warning" "$out/one.log" || { cat "$out/one.log"; echo "FAIL: a warning about the changed split"; exit 1; }
"$python" - "$run" <<'EOF'
import json, sys
run = sys.argv[1]
steps = [int(l.split(",")[0]) for l in open(f"{run}/train_log.csv").read().split("\n")[1:] if l]
assert steps == [1, 2], steps
st = json.load(open(f"{run}/checkpoint-2/train_state.json"))
assert st["step"] == 2 and st["processes"] == 1, st
print("resumed with 1 process at step 1, trained step 2")
EOF

# 3. Another global batch.
rc=0
"$bin" "${args[@]}" --train_batch_size 1 --resume_from_checkpoint latest >"$out/refused.log" 2>&1 || rc=$?
cat "$out/refused.log"
[ "$rc" -eq 1 ] || { echo "FAIL: a resume with another global batch exited $rc"; exit 1; }
grep -q "trained with 2 items per step (1 process x --train_batch_size 2 x --gradient_accumulation_steps 1), this run would take 1" \
  "$out/refused.log" || { echo "FAIL: the refusal does not name both batches"; exit 1; }
echo "passed"
