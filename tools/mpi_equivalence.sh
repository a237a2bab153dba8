#!/usr/bin/env bash
# mpi_equivalence.sh: data-parallel training computes what one process computes.
# Trains fmnist-small for a few steps twice: one process with --train_batch_size 2,
# and `mpirun -np 2` with --train_batch_size 1 (the same 2 items per step, split
# between the ranks), then compares the final UNet and text encoder weights
# (every value within 1e-5 relative; values under 0.01, such as biases that
# started at zero and moved by a few learning rates, within 1e-7 absolute) and
# the logged losses and gradient norms. The sums of the two items' gradients are formed in another
# order (MPI_Allreduce instead of the kernels' batch loop), so the weights agree
# to rounding, not bit for bit.
#
#   tools/mpi_equivalence.sh VKPREF_BIN WITH_MPI(ON|OFF) [PYTHON]
#
# Exit 77 (skipped) when vkpref was built without MPI or mpirun is missing.
set -euo pipefail
bin=$1 with_mpi=$2 python=${3:-python3}
src=$(cd "$(dirname "$0")/.." && pwd)
case "$with_mpi" in ON | on | 1 | TRUE | true) ;; *) echo "built without MPI: skipped"; exit 77 ;; esac
command -v mpirun >/dev/null || { echo "mpirun not found: skipped"; exit 77; }

out=$(mktemp -d /tmp/vkpref_mpi_XXXXXX)
trap 'rm -rf "$out"' EXIT
steps=${VKPREF_MPI_TEST_STEPS:-5}
args=(train --model_config "$src/configs/models/fmnist-small.json" --max_train_steps "$steps" --seed 11
      --learning_rate 1e-5 --lr_warmup_steps 0 --log_every 1 --validation_images 0 --validation_grid_seeds 0
      --checkpointing_steps 0)

# Open MPI binds each rank to one core by default: lavapipe's threads would then
# share it (minutes instead of seconds on a small machine), so no binding.
mpi=(mpirun --oversubscribe --bind-to none -np 2)
[ "$(id -u)" -eq 0 ] && mpi+=(--allow-run-as-root)

t0=$SECONDS
"$bin" "${args[@]}" --train_batch_size 2 --output_dir "$out/one" 2>"$out/one.log" || { cat "$out/one.log"; exit 1; }
t1=$SECONDS
"${mpi[@]}" "$bin" "${args[@]}" --train_batch_size 1 --output_dir "$out/two" >"$out/two.log" 2>&1 ||
  { cat "$out/two.log"; exit 1; }
t2=$SECONDS
grep -E "data parallel|rank [0-9] of" "$out/two.log" || true
echo "one process: $((t1 - t0)) s; two ranks: $((t2 - t1)) s (wall clock, start-up included)"

"$python" - "$out/one" "$out/two" <<'EOF'
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

one, two = sys.argv[1], sys.argv[2]
worst, worst_name, identical, total = 0.0, "", 0, 0
for part in ("unet/diffusion_pytorch_model.safetensors", "text_encoder/model.safetensors"):
    a, b = tensors(f"{one}/{part}"), tensors(f"{two}/{part}")
    assert a.keys() == b.keys(), f"{part}: different tensors"
    for name in a:
        x, y = a[name], b[name]
        d = max(abs(p - q) / max(abs(p), 0.01) for p, q in zip(x, y))
        identical += sum(p == q for p, q in zip(x, y))
        total += len(x)
        if d > worst:
            worst, worst_name = d, f"{part}:{name}"
print(f"weights: largest relative difference {worst:.3g} ({worst_name or 'none'}); "
      f"{identical} of {total} values bit-identical")

def log(d):
    rows = [l.split(",") for l in open(f"{d}/train_log.csv").read().split("\n")[1:] if l and not l.startswith("0,")]
    return [(float(r[1]), float(r[3])) for r in rows]

la, lb = log(one), log(two)
assert len(la) == len(lb), (la, lb)
for s, ((l1, g1), (l2, g2)) in enumerate(zip(la, lb), 1):
    print(f"step {s}: loss {l1:.6f} / {l2:.6f}, gradient norm {g1:.6f} / {g2:.6f}")
    assert abs(l1 - l2) <= 1e-5 * max(1, abs(l1)) and abs(g1 - g2) <= 1e-5 * max(1, abs(g1)), "logs differ"
assert worst <= 1e-5, f"weights differ by {worst:.3g} (> 1e-5)"
print("equivalent")
EOF
