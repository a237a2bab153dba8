#!/usr/bin/env bash
# mpi_equivalence.sh: data-parallel training computes what one process computes.
# Trains fmnist-small for a few steps twice: one process with --train_batch_size 2,
# and `mpirun -np 2` with --train_batch_size 1 (the same 2 items per step, split
# between the ranks), then compares the final UNet and text encoder weights and
# the logged losses and gradient norms. The two items' gradients are summed in
# another order (MPI_Allreduce instead of the kernels' batch loop), so the
# weights agree to rounding, not bit for bit; and AdamW divides each update by
# the gradient's RMS, so where a gradient is almost zero, rounding can flip its
# sign and move that value by up to two learning rates per step. Checked:
#   - all weights as one vector: |one - two| / |one| <= 1e-5 (L2 norms);
#   - every value: |one - two| <= 2 x learning rate x steps;
#   - the logged loss and gradient norm of every step within 1e-5 relative.
#
#   tools/mpi_equivalence.sh VKPREF_BIN WITH_MPI(ON|OFF) [PYTHON]
#
# The two-rank sft run sums its gradients with the exchange overlapping the
# backward (the default); the kto run below with the exchange after it.
#
# Then kto on 16 Fashion-MNIST style pairs (each pair a desirable and an
# undesirable row) from assets/fmnist-base: its reference point z = max(0, mean
# of r - e over the micro-batch's rows), which the ranks gather. While the
# policy is the reference (r = e) z is 0 however it is computed, so one process
# trains 3 steps with a checkpoint at step 2, and two ranks resume a copy of
# that checkpoint (trained by one process, the same global batch) for step 3,
# where the policy differs from the reference: the test requires z > 0 there,
# where a z of each rank's own row would differ from the global one, and
# checks that the two ranks end where the uninterrupted process ended
# (VKPREF_MPI_TEST_KTO=0 skips it).
#
# VKPREF_MPI_TEST_DPO=1 adds the same comparison for dpo (3 steps on the same
# pairs, the sft result as the base and reference; about 1.5 minutes more on 2
# cores).
#
# Exit 77 (skipped) when vkpref was built without MPI or mpirun is missing.
set -euo pipefail
bin=$1 with_mpi=$2 python=${3:-python3}

source "$(dirname "$0")/mpi_test_env.sh" vkpref_mpi
steps=${VKPREF_MPI_TEST_STEPS:-5} lr=1e-5
args=(train --model_config "$src/configs/models/fmnist-small.json" --max_train_steps "$steps" --seed 11
      --learning_rate "$lr" --lr_warmup_steps 0 --log_every 1 --validation_images 0 --validation_grid_seeds 0
      --checkpointing_steps 0)

# Open MPI binds each rank to one core by default: lavapipe's threads would then
# share it (minutes instead of seconds on a small machine), so no binding.
mpi=(mpirun --oversubscribe --bind-to none -np 2)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)

# one NAME ARGS...: one process with batch 2 into $out/NAME-one.
one() {
  local name=$1 t0=$SECONDS
  shift
  "$bin" "$@" --train_batch_size 2 --output_dir "$out/$name-one" 2>"$out/$name-one.log" ||
    { cat "$out/$name-one.log"; exit 1; }
  echo "$name: one process $((SECONDS - t0)) s (wall clock, start-up included)"
}

# two NAME ARGS...: 2 ranks with batch 1 into $out/NAME-two.
two() {
  local name=$1 t0=$SECONDS
  shift
  "${mpi[@]}" "$bin" "$@" --train_batch_size 1 --output_dir "$out/$name-two" >"$out/$name-two.log" 2>&1 ||
    { cat "$out/$name-two.log"; exit 1; }
  grep -E "data parallel|rank [0-9] of|resuming" "$out/$name-two.log" || true
  echo "$name: two ranks $((SECONDS - t0)) s"
}

# compare NAME STEPS ARGS...: one and two, then their weights and logs (ARGS set
# --max_train_steps STEPS and --learning_rate $lr).
compare() {
  local name=$1 n=$2
  shift 2
  one "$name" "$@"
  two "$name" "$@"
  "$python" "$out/compare.py" "$out/$name-one" "$out/$name-two" "$lr" "$n"
}

cat >"$out/compare.py" <<'EOF'
import json, struct, sys
from array import array

def tensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        head = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, t in head.items():
        if name == "__metadata__":
            continue
        assert t["dtype"] == "F32", (name, t["dtype"])
        a = array("f")
        a.frombytes(data[t["data_offsets"][0]:t["data_offsets"][1]])
        out[name] = a
    return out

one, two, lr, steps = sys.argv[1], sys.argv[2], float(sys.argv[3]), int(sys.argv[4])
need_z = len(sys.argv) > 5 and sys.argv[5] == "z"  # kto: some step's reference point must be > 0
diff2 = norm2 = worst = 0.0
worst_name, identical, total = "", 0, 0
for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
    a, b = tensors(f"{one}/{part}"), tensors(f"{two}/{part}")
    assert a.keys() == b.keys(), f"{part}: different tensors"
    for name in a:
        for p, q in zip(a[name], b[name]):
            d = abs(p - q)
            diff2 += d * d
            norm2 += p * p
            identical += d == 0
            if d > worst:
                worst, worst_name = d, f"{part}:{name}"
        total += len(a[name])
rel = (diff2 / norm2) ** 0.5
print(f"weights: {identical} of {total} values bit-identical; |one - two| / |one| = {rel:.3g}; largest difference "
      f"{worst:.3g} = {worst / lr:.3g} learning rates ({worst_name or 'none'})")

def log(d):
    lines = open(f"{d}/train_log.csv").read().split("\n")
    z = lines[0].split(",").index("kto_z")  # the batch statistic of kto (0 for the others)
    rows = [l.split(",") for l in lines[1:] if l and not l.startswith("0,")]
    return [(float(r[1]), float(r[3]), float(r[z])) for r in rows]

la, lb = log(one), log(two)
assert len(la) == len(lb), (la, lb)
for s, ((l1, g1, z1), (l2, g2, z2)) in enumerate(zip(la, lb), 1):
    print(f"step {s}: loss {l1:.6f} / {l2:.6f}, gradient norm {g1:.6f} / {g2:.6f}" +
          (f", kto z {z1:.6g} / {z2:.6g}" if z1 or z2 else ""))
    assert abs(l1 - l2) <= 1e-5 * max(1, abs(l1)) and abs(g1 - g2) <= 1e-5 * max(1, abs(g1)), "logs differ"
    assert abs(z1 - z2) <= 1e-5 * max(1e-3, abs(z1)), "the kto reference points differ"
assert not need_z or any(z > 0 for _, _, z in lb), "kto's z is 0 at every step: a per-rank z would agree too"
assert rel <= 1e-5, f"weights differ by {rel:.3g} relative (> 1e-5)"
assert worst <= 2 * lr * steps, f"a value differs by {worst:.3g}, more than 2 x learning rate x steps"
print("equivalent")
EOF

compare sft "$steps" "${args[@]}"
"$bin" fmnist-manifest --out "$out/pairs" --count 16 --rows pairs --style invert >/dev/null
if [ "${VKPREF_MPI_TEST_KTO:-1}" = 1 ]; then
  kto=("${args[@]}" --pretrained_model_name_or_path "$src/assets/fmnist-base" --dataset "$out/pairs/pairs.jsonl"
       --objective kto --max_train_steps 3 --checkpointing_steps 2 --checkpoints_total_limit 0)
  one kto "${kto[@]}"
  # The two ranks get the folder as it was at step 2: the run's id, options, log and checkpoint.
  mkdir "$out/kto-two"
  cp -r "$out/kto-one"/{run.json,train_config.json,train_log.csv,checkpoint-2} "$out/kto-two/"
  two kto "${kto[@]}" --resume_from_checkpoint latest --overlap_gradient_exchange false
  grep -q "resuming from $out/kto-two/checkpoint-2 (step 2)" "$out/kto-two.log" ||
    { cat "$out/kto-two.log"; echo "FAIL: the two ranks did not resume the one-process checkpoint at step 2"; exit 1; }
  "$python" "$out/compare.py" "$out/kto-one" "$out/kto-two" "$lr" 3 z
fi
if [ "${VKPREF_MPI_TEST_DPO:-0}" = 1 ]; then
  compare dpo 3 "${args[@]}" --pretrained_model_name_or_path "$out/sft-one" --dataset "$out/pairs/pairs.jsonl" \
    --objective dpo --beta_dpo 100 --max_train_steps 3
fi
