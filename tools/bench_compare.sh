#!/bin/bash
# bench_compare.sh: vkpref against the same model in PyTorch on this machine's
# CPU (tools/bench_torch.py), case by case, as a Markdown table.
#
#   tools/bench_compare.sh [--steps N] [--warmup N] [--rounds R] [--model_config F] [--cases LIST]
#                          [--build DIR] [--out FILE]
#
# Cases (--cases, comma-separated; default sft:32,dpo:8,sample:16:3, the issue's
# three): OBJECTIVE:B trains one step of B items (sft, dpo, mapo, kto, tdpo,
# tkto; pair objectives use 2 UNet rows per item, with a frozen reference),
# sample:B:CFG runs one denoising step of B images with guidance CFG (> 1: 2
# UNet rows per image). configs/models/fmnist-wide.json is a second, wider
# architecture for sizes the kernels were not tuned on. Each case runs
# `vkpref bench train|sample --json`, then bench_torch.py with the same model,
# batch and objective (and the vkpref model's vocabulary size), one after the
# other. --rounds R (default 1) runs each case's pair R times, alternating which
# side goes first, and reports the median over rounds and the median of the
# rounds' ratios with their range: a shared machine's speed can drift by 1.5x
# within minutes, so a single round can favour either side. Builds vkpref in
# DIR (default: build) when it is missing. The JSON lines go to FILE.jsonl when
# --out is given, the table to FILE.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
steps=5 warmup=3 rounds=1 build="$root/build" out="" model_config="$root/configs/models/fmnist-small.json"
cases="sft:32,dpo:8,sample:16:3"
while [ $# -gt 0 ]; do
    case "$1" in
        --steps) steps=$2; shift 2 ;;
        --warmup) warmup=$2; shift 2 ;;
        --build) build=$2; shift 2 ;;
        --out) out=$2; shift 2 ;;
        --model_config) model_config=$2; shift 2 ;;
        --cases) cases=$2; shift 2 ;;
        --rounds) rounds=$2; shift 2 ;;
        -h|--help) awk 'NR > 1 && /^#/ { print; next } NR > 1 { exit }' "$0"; exit 0 ;;
        *) echo "bench_compare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

if [[ ! "$rounds" =~ ^[1-9][0-9]*$ ]]; then
    echo "bench_compare.sh: --rounds $rounds: expected a whole number >= 1" >&2; exit 2
fi
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

run_vkpref() {  # vkpref args -> its JSON line
    echo "bench_compare.sh: $case_name, round $round: vkpref bench $1" >&2
    # shellcheck disable=SC2086
    "$vkpref" bench $1 --model_config "$model_config" "${common[@]}" | grep '^{'
}
run_torch() {  # bench_torch args, vocabulary size -> its JSON line
    echo "bench_compare.sh: $case_name, round $round: bench_torch.py $1" >&2
    # shellcheck disable=SC2086
    "$python" "$root/tools/bench_torch.py" $1 --model_config "$model_config" --vocab_size "$2" "${common[@]}"
}

run_case() {  # name, vkpref args, bench_torch args (vkpref's vocab_size is added)
    local vk torch_json vocab=""
    case_name=$1
    for ((round = 1; round <= rounds; round++)); do
        if ((round % 2 == 1)); then  # vkpref first (the first round needs its vocabulary size)
            vk=$(run_vkpref "$2")
            vocab=$(printf '%s' "$vk" | "$python" -c 'import json, sys; print(json.load(sys.stdin).get("vocab_size", 0))')
            torch_json=$(run_torch "$3" "$vocab")
        else
            torch_json=$(run_torch "$3" "$vocab")
            vk=$(run_vkpref "$2")
        fi
        printf '{"case": "%s", "round": %d, "vkpref": %s, "torch": %s}\n' "$case_name" "$round" "$vk" "$torch_json" \
            >> "$results"
    done
}

# Two passes over --cases: check every case, then run them (a typo in the last
# case should not cost the time of the first ones).
IFS=, read -r -a case_list <<< "$cases"
check_only=1
run_or_check() { [ "$check_only" = 1 ] || run_case "$@"; }
for pass in check run; do
[ "$pass" = run ] && check_only=0
for spec in "${case_list[@]}"; do
    IFS=: read -r kind n cfg extra <<< "$spec"
    if [[ -n "${extra:-}" || ! "${n:-}" =~ ^[1-9][0-9]*$ ]]; then
        echo "bench_compare.sh: --cases: bad case '$spec' (OBJECTIVE:B or sample:B:CFG)" >&2; exit 2
    fi
    case "$kind" in
        sample)
            if [[ ! "${cfg:-}" =~ ^[0-9]+(\.[0-9]+)?$ ]]; then
                echo "bench_compare.sh: --cases: '$spec' needs a guidance scale (sample:B:CFG)" >&2; exit 2
            fi
            # vkpref's text encoder is not trained for sampling, whatever the objective: encode_s is apart.
            run_or_check "sampling step, batch $n, cfg $cfg" "sample --batch $n --cfg $cfg" "sample --batch $n --cfg $cfg" ;;
        sft|kto)
            [ -z "${cfg:-}" ] || { echo "bench_compare.sh: --cases: '$spec': $kind takes OBJECTIVE:B" >&2; exit 2; }
            run_or_check "$kind, batch $n" "train --objective $kind --train_batch_size $n" \
                     "train --objective $kind --train_batch_size $n" ;;
        dpo|mapo|tdpo|tkto)
            [ -z "${cfg:-}" ] || { echo "bench_compare.sh: --cases: '$spec': $kind takes OBJECTIVE:B" >&2; exit 2; }
            run_or_check "$kind, $n pairs" "train --objective $kind --train_batch_size $n" \
                     "train --objective $kind --train_batch_size $n" ;;
        *) echo "bench_compare.sh: --cases: unknown case kind '$kind' in '$spec'" \
                "(sft, dpo, mapo, kto, tdpo, tkto, sample)" >&2; exit 2 ;;
    esac
done
done

table=$("$python" - "$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
cases = {}
for r in rows:
    cases.setdefault(r["case"], []).append(r)
v0, t0 = rows[0]["vkpref"], rows[0]["torch"]
nrounds = max(r["round"] for r in rows)
print("model: %s" % v0.get("model", "?"))
print("vkpref: %s; PyTorch %s on the CPU, %d threads, BLAS %s, attention %s, env %s" % (
    v0["device"], t0["device"].split("PyTorch ")[-1].rstrip(")"), t0["threads"],
    ", ".join(b.rsplit("/", 1)[-1] for b in t0["blas"]) or "?", t0["attention"],
    " ".join("%s=%s" % kv for kv in t0["env"].items())))
if nrounds == 1:
    print("%d warm-up + %d timed steps each; medians (min-max)\n" % (v0["warmup"], v0["steps"]))
else:
    print("%d rounds per case (alternating which side runs first), %d warm-up + %d timed steps each; "
          "s/step: median over the rounds of each run's median (range of those medians); speed: median of "
          "the rounds' ratios (range)\n" % (nrounds, v0["warmup"], v0["steps"]))
print("| case | vkpref s/step | PyTorch s/step | vkpref img/s | PyTorch img/s | vkpref / PyTorch speed |"
      " vkpref GFLOP/s | PyTorch GFLOP/s | GFLOP/step | vkpref dispatches, submits /step | vkpref host share |"
      " vkpref peak tensors MiB | PyTorch peak RSS MiB |")
print("|" + "---|" * 13)
for name, rs in cases.items():
    v, t = rs[0]["vkpref"], rs[0]["torch"]
    vmed = [r["vkpref"]["median_s"] for r in rs]
    tmed = [r["torch"]["median_s"] for r in rs]
    vm, tm = statistics.median(vmed), statistics.median(tmed)
    ratios = [b / a for a, b in zip(vmed, tmed)]
    if len(rs) == 1:
        vs = "%.3f (%.3f-%.3f)" % (vm, v["min_s"], v["max_s"])
        ts = "%.3f (%.3f-%.3f)" % (tm, t["min_s"], t["max_s"])
        speed = "**%.2fx**" % ratios[0]
    else:
        vs = "%.3f (%.3f-%.3f)" % (vm, min(vmed), max(vmed))
        ts = "%.3f (%.3f-%.3f)" % (tm, min(tmed), max(tmed))
        speed = "**%.2fx** (%.2f-%.2f)" % (statistics.median(ratios), min(ratios), max(ratios))
    gflop = v["gflop_per_step"]
    print("| %s | %s | %s | %.2f | %.2f | %s | %.2f | %.2f | %.2f | %d, %g | %.2f%% | %.1f | %.0f |" % (
        name, vs, ts, v["images_per_step"] / vm, t["images_per_step"] / tm, speed, gflop / vm, gflop / tm, gflop,
        v["dispatches_per_step"], v["submits_per_step"], 100 * v["host_fraction"], v["peak_device_bytes"] / 2**20,
        t["peak_rss_bytes"] / 2**20))
print("\nvkpref / PyTorch speed = PyTorch's median step time / vkpref's (> 1: vkpref is faster).")
EOF
)
echo "$table"
if [ -n "$out" ]; then
    printf '%s\n' "$table" > "$out"
    cp "$results" "$out.jsonl"
fi
