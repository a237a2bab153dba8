#!/bin/bash
# bench_compare.sh: vkpref against the same model in PyTorch on this machine's
# CPU (tools/bench_torch.py), case by case, as a Markdown table.
#
#   tools/bench_compare.sh [--steps N] [--warmup N] [--model_config F] [--build DIR] [--out FILE]
#
# Cases: sft with a batch of 32, dpo with 8 pairs (16 UNet rows, frozen
# reference), one denoising step of a batch of 16 with guidance 3 (32 UNet
# rows). Each case runs `vkpref bench train|sample --json`, then
# bench_torch.py with the same model, batch and objective (and the vkpref
# model's vocabulary size), one after the other, so both see about the same
# background load. Builds vkpref in DIR (default: build) when it is missing.
# The JSON lines go to FILE.jsonl when --out is given, the table to FILE.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
steps=5 warmup=3 build="$root/build" out="" model_config="$root/configs/models/fmnist-small.json"
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --model_config) model_config=$2; shift 2 ;;
        -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
        *) echo "bench_compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

python=/usr/bin/python3
if ! "$python" -c 'import torch' 2>/dev/null; then
    echo "bench_compare.sh: $python has no torch (Debian: apt-get install python3-torch)" >&2
    exit 1
fi
if [ ! -e /usr/lib/x86_64-linux-gnu/openblas-openmp/libblas.so.3 ]; then
    echo "bench_compare.sh: note: libopenblas0-openmp is not installed: PyTorch's linear layers use the reference BLAS" \
         "(apt-get install libopenblas0-openmp for its best setup)" >&2
fi
vkpref="$build/vkpref"
if [ ! -x "$vkpref" ]; then
    echo "bench_compare.sh: building vkpref in $build" >&2
    cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=Release >/dev/null
    cmake --build "$build" -j"$(nproc)" --target vkpref >/dev/null
fi

results=$(mktemp)
trap 'rm -f "$results"' EXIT
common=(--steps "$steps" --warmup "$warmup" --json)

run_case() {  # name, vkpref args, bench_torch args (vkpref's vocab_size is added)
    local name=$1 vk_args=$2 torch_args=$3 vk torch_json vocab
    echo "bench_compare.sh: $name: vkpref bench $vk_args" >&2
    # shellcheck disable=SC2086
    vk=$("$vkpref" bench $vk_args --model_config "$model_config" "${common[@]}" | grep '^{')
    vocab=$(printf '%s' "$vk" | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("vocab_size", 0))')
    echo "bench_compare.sh: $name: bench_torch.py $torch_args" >&2
    # shellcheck disable=SC2086
    torch_json=$("$python" "$root/tools/bench_torch.py" $torch_args --model_config "$model_config" \
                 --vocab_size "$vocab" "${common[@]}")
    printf '{"case": "%s", "vkpref": %s, "torch": %s}\n' "$name" "$vk" "$torch_json" >> "$results"
}

run_case "sft, batch 32" "train --objective sft --train_batch_size 32" "train --objective sft --train_batch_size 32"
run_case "dpo, 8 pairs" "train --objective dpo --train_batch_size 8" "train --objective dpo --train_batch_size 8"
# vkpref's text encoder is not trained for sampling, whatever the objective: encode_s is apart.
run_case "sampling step, batch 16, cfg 3" "sample --batch 16 --cfg 3" "sample --batch 16 --cfg 3"

table=$("$python" - "$results" <<'EOF'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
v0, t0 = rows[0]["vkpref"], rows[0]["torch"]
print("vkpref: %s; PyTorch %s on the CPU, %d threads, BLAS %s, attention %s, env %s" % (
    v0["device"], t0["device"].split("PyTorch ")[-1].rstrip(")"), t0["threads"],
    ", ".join(b.rsplit("/", 1)[-1] for b in t0["blas"]) or "?", t0["attention"],
    " ".join("%s=%s" % kv for kv in t0["env"].items())))
print("%d warm-up + %d timed steps each; medians (min-max)\n" % (v0["warmup"], v0["steps"]))
print("| case | vkpref s/step | PyTorch s/step | vkpref img/s | PyTorch img/s | vkpref / PyTorch speed |"
      " vkpref GFLOP/s | PyTorch GFLOP/s | GFLOP/step | vkpref dispatches, submits /step | vkpref host share |"
      " vkpref peak tensors MiB | PyTorch peak RSS MiB |")
print("|" + "---|" * 13)
for r in rows:
    v, t = r["vkpref"], r["torch"]
    print("| %s | %.3f (%.3f-%.3f) | %.3f (%.3f-%.3f) | %.2f | %.2f | **%.2fx** | %.2f | %.2f | %.2f | %d, %g | %.2f%% | %.1f | %.0f |" % (
        r["case"], v["median_s"], v["min_s"], v["max_s"], t["median_s"], t["min_s"], t["max_s"],
        v["images_per_s"], t["images_per_s"], t["median_s"] / v["median_s"], v["gflops_per_s"], t["gflops_per_s"],
        v["gflop_per_step"], v["dispatches_per_step"], v["submits_per_step"], 100 * v["host_fraction"],
        v["peak_device_bytes"] / 2**20, t["peak_rss_bytes"] / 2**20))
print("\nvkpref / PyTorch speed = PyTorch's median step time / vkpref's (> 1: vkpref is faster).")
EOF
)
echo "$table"
if [ -n "$out" ]; then
    printf '%s\n' "$table" > "$out"
    cp "$results" "$out.jsonl"
fi
