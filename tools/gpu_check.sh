#!/usr/bin/env bash
# gpu_check.sh: the whole check of vkpref on an NVIDIA GPU in one run: the test
# suite under the Khronos validation layer, then `vkpref bench ops|train|sample`
# next to the same cases in PyTorch on CUDA (eager and torch.compile), written
# as one JSON file. docs/GPU.md says how to prepare and run it.
#
#   tools/gpu_check.sh [--dry-run] [--out FILE] [options]
#
# On the GPU machine nothing is compiled: the executables and the shared
# libraries they need come from the bundle that tools/gpu_bundle.sh packed on
# the build machine (--bundle DIR, default .gpu). The script unpacks it into a
# temporary folder, points LD_LIBRARY_PATH (for vkpref and the tests only, not
# for Python) and VK_LAYER_PATH at it, and finds the NVIDIA Vulkan driver: the
# loader's own search first, then VK_DRIVER_FILES at the first nvidia_icd.json
# of the usual places (/usr/local/nvidia/share/vulkan/icd.d, /etc/vulkan/icd.d,
# /usr/share/vulkan/icd.d, ...), then a manifest written for libGLX_nvidia.so.0
# when only the library is there. The tests read their data from the source
# folder compiled into them and test_fmnist reads
# /usr/share/datasets/fashion-mnist: when those paths are missing the script
# links them to this checkout and the bundle's copy (and removes the links at
# the end).
#
# Steps, each recorded and none fatal:
#   1. `vkpref info`: device name, type, driver, Vulkan API version (and
#      nvidia-smi's name and driver version where it exists).
#   2. every test executable as CMakeLists.txt's add_test runs it (--jobs 2,
#      VKPREF_VALIDATION=1, VKPREF_BIN, VKPREF_SOURCE_DIR, VKPREF_REQUIRE_GPU=1),
#      each under a timeout: pass/fail, Criterion's counts, failed test names.
#   3. `vkpref bench ops --json` and `tools/bench_torch.py ops` (the same conv2d,
#      matmul and attention shapes).
#   4. for each model (configs/models/fmnist-small.json, fmnist-wide.json) and
#      case (sft batch 32, dpo 8 pairs, guided sampling of 16 images):
#      `vkpref bench train|sample --json`, then tools/bench_torch.py with the same
#      model, batch and objective on --device cuda; then, after every eager case,
#      the torch.compile runs (a case whose compile fails is recorded as failed).
#   5. the JSON (--out, default docs/results/gpu-check-YYYY-MM-DD.json): "device",
#      "tests" and "tests_summary", "bench_ops" and "bench" (each case's vkpref and
#      PyTorch medians and "ratio" = PyTorch median / vkpref median, > 1: vkpref
#      faster; "ratio_compile" against torch.compile), "notes", "ok".
#
# Exit status: 0 when every test passed and every vkpref and eager PyTorch run
# gave a result; 1 otherwise (torch.compile failures are recorded but do not
# count: inductor needs a C compiler that the GPU machine may not have); 2 for
# a usage error or a missing build or bundle. Past those checks the JSON is
# always written.
#
# --dry-run runs the same pipeline here, on lavapipe and the CPU (PyTorch on
# cpu, no torch.compile beyond one case), with the build's executables and this
# machine's libraries (no bundle unless --bundle is given), a few quick tests,
# tests/data/bench_tiny.json and 2 timed steps: about a minute on 2 cores with
# Mesa's shader cache warm, about 3 minutes on an empty one.
# Without PyTorch the dry run records the PyTorch side as skipped and still
# passes; a GPU run counts it as a failure. ctest runs it (tool_gpu_check_dry_run).
#
# Options:
#   --dry-run             lavapipe and the CPU, tiny model, few steps, test subset
#   --out FILE            the JSON (default docs/results/gpu-check-YYYY-MM-DD.json)
#   --bundle DIR          the bundle (default .gpu; required on a GPU run unless --no-bundle)
#   --no-bundle           the build folder's executables and this machine's libraries
#   --build DIR           the build folder for --no-bundle and --dry-run (default build)
#   --tests LIST          comma-separated test executables to run (default: all; dry run: a subset)
#   --no-tests, --no-bench, --no-torch, --no-compile   leave a step out
#   --models LIST         comma-separated model configs (default fmnist-small,fmnist-wide)
#   --cases LIST          bench cases as tools/bench_compare.sh takes them (default sft:32,dpo:8,sample:16:3)
#   --steps N, --warmup N timed and warm-up steps of each bench (default 20 and 5; dry run 2 and 1)
#   --test-timeout S      seconds per test executable (default 300; dry run 240)
#   --parallel N          test executables run at once (default 4; dry run 1), each with
#                         Criterion's --jobs 2 as add_test gives it
#   --time-limit S        after S seconds start no new step and cut the running one, record
#                         the rest as skipped, write the JSON (default 540: a run fits 10 minutes)
#   --python PY           the Python with PyTorch (default: the first of python3,
#                         /usr/bin/python3 that imports torch)
#   --validate FILE       only check that FILE is a complete gpu_check JSON (exit 0 or 1)
#   -h, --help            this text
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
me=gpu_check.sh
dry_run=0 out="" bundle="" use_bundle=auto build="$root/build" tests_opt="" models="" cases=""
do_tests=1 do_bench=1 do_torch=1 do_compile=1 steps="" warmup="" test_timeout="" time_limit=540 python="" parallel=""
validate=""
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
need_arg() { [ $# -ge 2 ] || { echo "$me: $1 needs a value (see --help)" >&2; exit 2; }; }
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) dry_run=1; shift ;;
        --out) need_arg "$@"; out=$2; shift 2 ;;
        --bundle) need_arg "$@"; bundle=$2; use_bundle=1; shift 2 ;;
        --no-bundle) use_bundle=0; shift ;;
        --build) need_arg "$@"; build=$2; shift 2 ;;
        --tests) need_arg "$@"; tests_opt=$2; shift 2 ;;
        --no-tests) do_tests=0; shift ;;
        --no-bench) do_bench=0; shift ;;
        --no-torch) do_torch=0; shift ;;
        --no-compile) do_compile=0; shift ;;
        --models) need_arg "$@"; models=$2; shift 2 ;;
        --cases) need_arg "$@"; cases=$2; shift 2 ;;
        --steps) need_arg "$@"; steps=$2; shift 2 ;;
        --warmup) need_arg "$@"; warmup=$2; shift 2 ;;
        --test-timeout) need_arg "$@"; test_timeout=$2; shift 2 ;;
        --parallel) need_arg "$@"; parallel=$2; shift 2 ;;
        --time-limit) need_arg "$@"; time_limit=$2; shift 2 ;;
        --python) need_arg "$@"; python=$2; shift 2 ;;
        --validate) need_arg "$@"; validate=$2; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "$me: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done
for v in steps warmup test_timeout time_limit parallel; do
    val=${!v}
    if [ -n "$val" ] && [[ ! "$val" =~ ^[0-9]+$ ]]; then
        echo "$me: --${v//_/-} $val: expected a whole number" >&2; exit 2
    fi
done
log() { echo "$me: $*" >&2; }

# ---------------------------------------------------------------------------
# The JSON's checker (--validate, and every run's last step).
validate_json() {  # file -> exit status 0 when complete
    "${py_any:-python3}" - "$1" <<'EOF'
import json, sys
path = sys.argv[1]
try:
    r = json.load(open(path))
except Exception as e:
    sys.exit("gpu_check.sh: %s: not JSON: %s" % (path, e))
errs = []
def need(obj, key, types, where):
    if not isinstance(obj, dict) or key not in obj:
        errs.append("%s: no %s" % (where, key)); return None
    if not isinstance(obj[key], types):
        errs.append("%s.%s: %r is not %s" % (where, key, obj[key], types)); return None
    return obj[key]
num = (int, float)
need(r, "format", int, "top")
need(r, "mode", str, "top")
need(r, "ok", bool, "top")
need(r, "complete", bool, "top")
need(r, "notes", list, "top")
dev = need(r, "device", dict, "top")
if dev is not None:
    for k in ("name", "type", "driver", "driver_version", "vulkan_api"):
        need(dev, k, (str, type(None)), "device")
tests = need(r, "tests", list, "top")
summ = need(r, "tests_summary", dict, "top")
for i, t in enumerate(tests or []):
    need(t, "name", str, "tests[%d]" % i)
    if need(t, "status", str, "tests[%d]" % i) not in ("pass", "fail", "timeout", "skipped"):
        errs.append("tests[%d].status: %r" % (i, t.get("status")))
if summ is not None and tests is not None:
    for k in ("total", "passed", "failed", "skipped"):
        need(summ, k, int, "tests_summary")
    if summ.get("total") != len(tests):
        errs.append("tests_summary.total %r != %d tests" % (summ.get("total"), len(tests)))
ops = need(r, "bench_ops", dict, "top")
if ops is not None:
    for side in ("vkpref", "torch"):
        s = need(ops, side, dict, "bench_ops")
        if s is not None and s.get("status") not in ("ok", "failed", "skipped"):
            errs.append("bench_ops.%s.status: %r" % (side, s.get("status")))
    for i, c in enumerate(ops.get("cases") or []):
        for k in ("case", "shape", "pass"):
            need(c, k, str, "bench_ops.cases[%d]" % i)
        need(c, "vkpref_median_s", num + (type(None),), "bench_ops.cases[%d]" % i)
bench = need(r, "bench", list, "top")
for i, c in enumerate(bench or []):
    w = "bench[%d]" % i
    for k in ("case", "model", "kind"):
        need(c, k, str, w)
    for side in ("vkpref", "torch", "torch_compile"):
        s = need(c, side, dict, w)
        if s is None:
            continue
        st = need(s, "status", str, w + "." + side)
        if st == "ok":
            m = need(s, "median_s", num, w + "." + side)
            if m is not None and not m > 0:
                errs.append("%s.%s.median_s: %r" % (w, side, m))
        elif st not in ("failed", "skipped"):
            errs.append("%s.%s.status: %r" % (w, side, st))
    for side, key in (("torch", "ratio"), ("torch_compile", "ratio_compile")):
        ok = c.get("vkpref", {}).get("status") == "ok" and c.get(side, {}).get("status") == "ok"
        v = c.get(key)
        if ok and not (isinstance(v, num) and v > 0):
            errs.append("%s.%s: %r although both sides ran" % (w, key, v))
        if not ok and v is not None:
            errs.append("%s.%s: %r without both sides" % (w, key, v))
if r.get("ok") is True:
    if summ and summ.get("failed"):
        errs.append("ok is true with %d failed tests" % summ["failed"])
if errs:
    sys.exit("gpu_check.sh: %s is not a complete result:\n  %s" % (path, "\n  ".join(errs)))
print("gpu_check.sh: %s: valid (%s, %d tests, %d bench cases, ok: %s)" % (
    path, r["mode"], len(tests), len(bench), r["ok"]), file=sys.stderr)
EOF
}
if [ -n "$validate" ]; then
    validate_json "$validate"
    exit $?
fi

# ---------------------------------------------------------------------------
# Defaults by mode.
start_s=$SECONDS
if [ "$dry_run" = 1 ]; then
    mode=dry-run
    : "${steps:=2}" "${warmup:=1}" "${test_timeout:=240}" "${parallel:=1}"
    [ -n "$models" ] || models="$root/tests/data/bench_tiny.json"
    [ -n "$cases" ] || cases="sft:2,dpo:1,sample:2:3"
    [ -n "$tests_opt" ] || tests_opt="test_configs,test_fmnist,test_op_loss,test_safetensors,test_manifest"
    [ "$use_bundle" != auto ] || use_bundle=0
    torch_device=cpu ops_args=(--reps 1 --only attention) torch_ops_args=(--only attention --steps 1 --warmup 1)
else
    mode=gpu
    : "${steps:=20}" "${warmup:=5}" "${test_timeout:=300}" "${parallel:=4}"
    [ -n "$models" ] || models="$root/configs/models/fmnist-small.json,$root/configs/models/fmnist-wide.json"
    [ -n "$cases" ] || cases="sft:32,dpo:8,sample:16:3"
    [ "$use_bundle" != auto ] || use_bundle=1
    torch_device=cuda ops_args=() torch_ops_args=(--steps 10 --warmup 3)
fi
[ "$parallel" -ge 1 ] || { echo "$me: --parallel $parallel: expected 1 or more" >&2; exit 2; }
[ -n "$bundle" ] || bundle="$root/.gpu"
[ -n "$out" ] || out="$root/docs/results/gpu-check-$(date -u +%Y-%m-%d).json"
mkdir -p "$(dirname "$out")"
out=$(cd "$(dirname "$out")" && pwd)/$(basename "$out")

work=$(mktemp -d "${TMPDIR:-/tmp}/gpu-check.XXXXXX")
links=()
cleanup() {
    local l
    for l in "${links[@]}"; do rm -f "$l"; done
    rm -rf "$work"
}
trap cleanup EXIT

# The JSON, written after each step ("partial", so that a run cut from outside
# still leaves its results so far) and at the end ("final").
write_json() {  # stage
    "$py_any" - "$work" "$out" "$mode" "$root" "$vkpref" "$((SECONDS - start_s))" \
        "$do_tests" "$do_bench" "$torch_missing" "$steps" "$warmup" "${vk_env[*]:1}" "$torch_py" \
        "$([ "$use_bundle" = 1 ] && echo "$bundle/MANIFEST.json")" "$1" <<'EOF'
import json, os, re, subprocess, sys, time
(work, out, mode, root, vkpref, elapsed, do_tests, do_bench, torch_missing, steps, warmup, vk_env, torch_py,
 manifest, stage) = sys.argv[1:]
B = os.path.join(work, "bench")
notes = [l for l in open(os.path.join(work, "notes.txt")).read().splitlines() if l]

def read(path, default=""):
    try:
        return open(path, errors="replace").read()
    except OSError:
        return default

def tail(text, n=40):
    return "\n".join(text.strip().splitlines()[-n:])

# Device, from `vkpref info`: "* [i] NAME" then "type: T   driver: D   Vulkan X.Y.Z".
info = read(os.path.join(work, "info.txt"))
dev = {"name": None, "type": None, "driver": None, "driver_version": None, "vulkan_api": None,
       "info_exit_status": int(read(os.path.join(work, "info_rc"), "-1").strip() or -1), "vkpref_info": info.strip()}
m = re.search(r"^\* \[\d+\] (.*)\n\s+type: (.*?)   driver: (.*?)   Vulkan (\S+)", info, re.M)
if m:
    dev.update(name=m.group(1).strip(), type=m.group(2), driver=m.group(3), vulkan_api=m.group(4))
    v = re.search(r"\d+(\.\d+)+", m.group(3))
    dev["driver_version"] = v.group(0) if v else m.group(3)
smi = read(os.path.join(work, "nvidia_smi.txt")).strip()
if smi:
    parts = [p.strip() for p in smi.splitlines()[0].split(",")]
    dev["nvidia_smi"] = {"name": parts[0], "driver_version": parts[1] if len(parts) > 1 else None,
                         "memory": parts[2] if len(parts) > 2 else None}
    if len(parts) > 1:
        dev["driver_version"] = parts[1]
dbg = read(os.path.join(work, "loader_debug.txt"))
if dbg:
    dev["loader_debug_tail"] = tail(dbg, 60)

# Tests: name, exit status (or "skipped"), seconds, reason; Criterion's summary in the log.
tests = []
for line in read(os.path.join(work, "tests.tsv")).splitlines():
    name, rc, secs, why = (line.split("\t") + [""] * 4)[:4]
    t = {"name": name, "seconds": int(secs or 0)}
    if rc == "skipped":
        t.update(status="skipped", reason=why)
        tests.append(t)
        continue
    rc = int(rc)
    t["exit_status"] = rc
    t["status"] = "pass" if rc == 0 else "timeout" if rc in (124, 137) else "fail"
    logtext = read(os.path.join(work, "logs", name + ".log"))
    s = re.search(r"Synthesis: Tested: (\d+) \| Passing: (\d+) \| Failing: (\d+) \| Crashing: (\d+)", logtext)
    if s:
        t.update(tested=int(s.group(1)), passing=int(s.group(2)), failing=int(s.group(3)), crashing=int(s.group(4)))
    if rc != 0:
        t["failed_cases"] = sorted(set(re.findall(r"\[FAIL\] (\S+): ", logtext)))
        t["log_tail"] = tail(logtext) if logtext else why
        if why:
            t["reason"] = why
    tests.append(t)
summary = {"total": len(tests), "passed": sum(t["status"] == "pass" for t in tests),
           "failed": sum(t["status"] in ("fail", "timeout") for t in tests),
           "skipped": sum(t["status"] == "skipped" for t in tests)}

def side(name):
    """One run: {"status": ok|failed|skipped, "median_s", ..., the run's own JSON as "result"}."""
    skipped = os.path.join(B, name + ".skipped")
    if os.path.exists(skipped):
        return {"status": "skipped", "reason": read(skipped).strip()}
    if not os.path.exists(os.path.join(B, name + ".rc")):
        return {"status": "skipped", "reason": "not run"}
    rc = int(read(os.path.join(B, name + ".rc")).strip() or -1)
    lines = [l for l in read(os.path.join(B, name + ".json")).splitlines() if l.startswith("{")]
    res = None
    try:
        res = json.loads(lines[-1]) if lines else None
    except ValueError:
        pass
    if rc == 0 and res is not None and "error" not in res:
        if isinstance(res.get("median_s"), (int, float)) and res["median_s"] > 0:
            return {"status": "ok", "median_s": res["median_s"], "min_s": res.get("min_s"), "max_s": res.get("max_s"),
                    "result": res}
        if res.get("cases"):  # bench_torch.py ops
            return {"status": "ok", "result": res}
    r = {"status": "failed", "exit_status": rc}
    r["error"] = (res or {}).get("error") or ("timed out" if rc in (124, 137) else tail(read(os.path.join(B, name + ".log")), 20))
    return r

bench = []
for line in read(os.path.join(work, "cases.tsv")).splitlines():
    i, name, model, kind, spec = line.split("\t")
    c = {"case": name, "spec": spec, "model": os.path.relpath(model, root) if model.startswith(root + "/") else model,
         "kind": kind, "vkpref": side(i + ".vkpref"), "torch": side(i + ".torch"), "torch_compile": side(i + ".compile")}
    v = c["vkpref"]
    for s, key in (("torch", "ratio"), ("torch_compile", "ratio_compile")):
        c[key] = c[s]["median_s"] / v["median_s"] if v["status"] == "ok" and c[s]["status"] == "ok" else None
    bench.append(c)

# Ops: vkpref's first line is the device and its FMA peak, then one line per case;
# bench_torch.py ops gives one object with "cases".
ops = {"cases": []}
vk_lines = []
for l in read(os.path.join(B, "ops.json")).splitlines():
    try:
        vk_lines.append(json.loads(l))
    except ValueError:
        pass
if os.path.exists(os.path.join(B, "ops.skipped")):
    ops["vkpref"] = {"status": "skipped", "reason": read(os.path.join(B, "ops.skipped")).strip()}
elif read(os.path.join(B, "ops.rc")).strip() == "0" and len(vk_lines) > 1:
    ops["vkpref"] = {"status": "ok", "device": vk_lines[0].get("device"),
                     "peak_gflops_per_s": vk_lines[0].get("peak_gflops_per_s")}
elif os.path.exists(os.path.join(B, "ops.rc")):
    ops["vkpref"] = {"status": "failed", "error": tail(read(os.path.join(B, "ops.log")), 20)}
else:
    ops["vkpref"] = {"status": "skipped", "reason": "not run"}
ops["torch"] = side("ops_torch")
torch_ops = {}
if ops["torch"]["status"] == "ok":
    res = ops["torch"].pop("result")
    ops["torch"]["device"] = res.get("device")
    for tc in res.get("cases", []):
        torch_ops[(tc["case"], tc["shape"], tc["pass"])] = tc
for l in vk_lines[1:]:
    tc = torch_ops.get((l.get("case"), l.get("shape"), l.get("pass")))
    row = {"case": l.get("case"), "shape": l.get("shape"), "pass": l.get("pass"), "vkpref_median_s": l.get("median_s"),
           "vkpref_gflops_per_s": l.get("gflops_per_s"), "torch_median_s": tc["median_s"] if tc else None,
           "torch_gflops_per_s": tc.get("gflops_per_s") if tc else None}
    row["ratio"] = (row["torch_median_s"] / row["vkpref_median_s"]
                    if row["torch_median_s"] and row["vkpref_median_s"] else None)
    ops["cases"].append(row)

torch_info = None
if torch_py:
    for c in bench:
        r = c["torch"].get("result")
        if r:
            torch_info = {"python": torch_py, "device": r.get("device"), "version": r.get("torch_version"),
                          "attention": r.get("attention"), "tf32": r.get("tf32")}
            break
    if torch_info is None:
        torch_info = {"python": torch_py}

# ok: every test passed (none skipped on a GPU run), every vkpref run and every eager PyTorch run gave a result.
problems = []
if stage != "final":
    problems.append("the run stopped before its end (results so far, written after: %s)" % stage)
if summary["failed"]:
    problems.append("%d test executables failed" % summary["failed"])
if summary["skipped"]:
    problems.append("%d test executables skipped" % summary["skipped"])
for c in bench:
    if c["vkpref"]["status"] != "ok":
        problems.append("vkpref %s (%s): %s" % (c["case"], c["model"], c["vkpref"]["status"]))
    if c["torch"]["status"] == "failed" or (c["torch"]["status"] == "skipped" and not (
            mode == "dry-run" and torch_missing == "1") and c["torch"]["reason"] != "--no-torch"):
        problems.append("PyTorch %s (%s): %s" % (c["case"], c["model"], c["torch"]["status"]))
if do_bench == "1" and ops["vkpref"]["status"] != "ok":
    problems.append("vkpref bench ops: %s" % ops["vkpref"]["status"])
if ops["torch"]["status"] == "failed":
    problems.append("PyTorch ops: failed")
if mode == "gpu" and not (dev["type"] and dev["type"] != "CPU"):
    problems.append("no Vulkan GPU device")

# The build: the bundle's manifest, else this checkout's commit.
build = {"bundle": bool(manifest)}
if manifest:
    try:
        m = json.load(open(manifest))
        build.update({k: m.get(k) for k in ("commit", "dirty", "created", "source_dir", "glibc_needed")})
    except (OSError, ValueError) as e:
        build["error"] = "MANIFEST.json: %s" % e
else:
    try:
        build["commit"] = subprocess.run(["git", "-C", root, "rev-parse", "HEAD"], capture_output=True,
                                         text=True).stdout.strip() or None
    except OSError:
        build["commit"] = None
result = {
    "format": 1, "mode": mode, "date": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    "host": os.uname().nodename, "elapsed_s": int(elapsed), "build": build,
    "vulkan_env": vk_env, "steps": int(steps), "warmup": int(warmup),
    "device": dev, "torch": torch_info, "tests_summary": summary, "tests": tests,
    "bench_ops": ops, "bench": bench,
    "ratio_definition": "PyTorch median step time / vkpref median step time (> 1: vkpref is faster)",
    "complete": stage == "final", "notes": notes, "problems": problems, "ok": not problems,
}
tmp = out + ".tmp"
with open(tmp, "w") as f:
    json.dump(result, f, indent=1)
    f.write("\n")
os.replace(tmp, out)
if stage != "final":
    sys.exit(0)
print("gpu_check.sh: wrote %s" % out, file=sys.stderr)
print("gpu_check.sh: device: %s (%s, driver %s, Vulkan %s)" % (dev["name"], dev["type"], dev["driver_version"],
                                                              dev["vulkan_api"]), file=sys.stderr)
print("gpu_check.sh: tests: %(passed)d passed, %(failed)d failed, %(skipped)d skipped" % summary, file=sys.stderr)
for c in bench:
    def fmt(s):
        return "%.4f s" % s["median_s"] if s["status"] == "ok" else s["status"]
    print("gpu_check.sh: %-28s %-34s vkpref %-10s PyTorch %-10s ratio %-6s compiled %-10s ratio %s" % (
        c["case"], c["model"], fmt(c["vkpref"]), fmt(c["torch"]),
        "%.2f" % c["ratio"] if c["ratio"] else "-", fmt(c["torch_compile"]),
        "%.2f" % c["ratio_compile"] if c["ratio_compile"] else "-"), file=sys.stderr)
for p in problems:
    print("gpu_check.sh: problem: %s" % p, file=sys.stderr)
EOF
}

: > "$work/notes.txt"
note() { log "$*"; printf '%s\n' "$*" >> "$work/notes.txt"; }
left() { echo $((time_limit - (SECONDS - start_s))); }  # seconds left before --time-limit
out_of_time() { [ "$(left)" -le 0 ]; }
limit() {  # seconds a step may take: its own limit, bounded by what is left
    local l; l=$(left)
    [ "$l" -gt 0 ] || l=1
    [ "$1" -lt "$l" ] && echo "$1" || echo "$l"
}

# ---------------------------------------------------------------------------
# Python: one that has PyTorch for the bench, any python3 for the JSON.
py_any=$(command -v python3 || command -v /usr/bin/python3 || true)
[ -n "$py_any" ] || { log "python3 is missing: it writes the JSON"; exit 1; }
torch_py=""
for cand in ${python:+"$python"} python3 /usr/bin/python3; do
    [ -n "$python" ] && [ "$cand" != "$python" ] && continue
    if command -v "$cand" >/dev/null && "$cand" -c 'import torch' 2>/dev/null; then torch_py=$(command -v "$cand"); break; fi
done
if [ -z "$torch_py" ]; then
    [ -n "$python" ] && note "--python $python: cannot import torch"
    if [ "$do_torch" = 1 ]; then
        note "no Python with PyTorch found (tried ${python:-python3, /usr/bin/python3}): the PyTorch side is skipped"
    fi
    do_torch=0 torch_missing=1
else
    torch_missing=0
    log "PyTorch: $torch_py ($("$torch_py" -c 'import torch; print(torch.__version__)' 2>/dev/null))"
fi
[ "$do_torch" = 1 ] || do_compile=0

# ---------------------------------------------------------------------------
# Executables and libraries.
vk_env=(env)        # prefix of every vkpref and test command
source_built=""     # the source folder compiled into the tests
if [ "$use_bundle" = 1 ]; then
    [ -f "$bundle/bundle.tar.xz" ] || {
        log "no bundle at $bundle (run tools/gpu_bundle.sh on the build machine and copy $bundle here, or --no-bundle)"
        exit 2
    }
    bundle=$(cd "$bundle" && pwd)
    log "unpacking $bundle/bundle.tar.xz"
    "$py_any" -c 'import sys, tarfile
t = tarfile.open(sys.argv[1])
t.extractall(sys.argv[2], **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))' \
        "$bundle/bundle.tar.xz" "$work/bundle"
    bin="$work/bundle/bin"
    source_built=$("$py_any" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("source_dir", ""))' \
                   "$bundle/MANIFEST.json" 2>/dev/null || true)
    bundle_commit=$("$py_any" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("commit", ""))' \
                    "$bundle/MANIFEST.json" 2>/dev/null || true)
    head_commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || true)
    if [ -n "$head_commit" ] && [ -n "$bundle_commit" ] && [ "$head_commit" != "$bundle_commit" ]; then
        note "the bundle was built at commit ${bundle_commit:0:10}, the checkout is at ${head_commit:0:10}: rerun tools/gpu_bundle.sh if the tests or their data changed"
    fi
    glibc_needed=$("$py_any" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("glibc_needed", ""))' \
                   "$bundle/MANIFEST.json" 2>/dev/null || true)
    glibc_here=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ print $2 }' || true)
    if [ -n "$glibc_needed" ] && [ -n "$glibc_here" ] &&
       [ "$(printf '%s\n%s\n' "$glibc_needed" "$glibc_here" | sort -V | head -1)" != "$glibc_needed" ]; then
        note "this machine's glibc $glibc_here is older than the $glibc_needed the bundle was built for: executables may not start"
    fi
    libpath="$work/bundle/lib"
    # The layer's C++ runtime: the bundle's libstdc++ needs the build machine's
    # glibc, so it is used only when this machine's lacks what the layer needs.
    glibcxx_needed=$("$py_any" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("glibcxx_needed", ""))' \
                     "$bundle/MANIFEST.json" 2>/dev/null || true)
    glibc_needed_cxx=$("$py_any" -c 'import json, sys; print(json.load(open(sys.argv[1])).get("glibc_needed_lib_cxx", ""))' \
                       "$bundle/MANIFEST.json" 2>/dev/null || true)
    if [ -d "$work/bundle/lib-cxx" ] && [ -n "$glibcxx_needed" ]; then
        if ! "$py_any" - "$glibcxx_needed" <<'EOF'
import subprocess, sys
need = ("GLIBCXX_" + sys.argv[1]).encode()
paths = []
try:
    out = subprocess.run(["ldconfig", "-p"], capture_output=True, text=True).stdout
    paths = [l.split("=>")[-1].strip() for l in out.splitlines() if "libstdc++.so.6 " in l and "x86-64" in l]
except OSError:
    pass
paths += ["/usr/lib/x86_64-linux-gnu/libstdc++.so.6", "/usr/lib64/libstdc++.so.6", "/lib/x86_64-linux-gnu/libstdc++.so.6"]
for p in paths:
    try:
        if need in open(p, "rb").read():
            sys.exit(0)
    except OSError:
        pass
sys.exit(1)
EOF
        then
            libpath="$libpath:$work/bundle/lib-cxx"
            note "this machine's libstdc++ lacks GLIBCXX_$glibcxx_needed (the validation layer's): using the bundle's (which needs glibc $glibc_needed_cxx)"
        fi
    fi
    vk_env+=(LD_LIBRARY_PATH="$libpath${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}")
    if [ -f "$work/bundle/layer/VkLayer_khronos_validation.json" ]; then
        vk_env+=(VK_LAYER_PATH="$work/bundle/layer")
    else
        note "the bundle has no validation layer: the tests will fail (they require it)"
    fi
    if [ -d "$bundle/fashion-mnist" ]; then
        vk_env+=(VKPREF_FMNIST_DIR="$bundle/fashion-mnist")
        fm=/usr/share/datasets/fashion-mnist
        if [ ! -e "$fm" ]; then
            if mkdir -p "$(dirname "$fm")" 2>/dev/null && ln -s "$bundle/fashion-mnist" "$fm" 2>/dev/null; then
                links+=("$fm"); log "linked $fm to the bundle's copy"
            else
                note "cannot link $fm to $bundle/fashion-mnist: test_fmnist's real-data tests will fail"
            fi
        fi
    fi
else
    build=$(cd "$build" 2>/dev/null && pwd) || { log "no build folder $build (build first, see README.md)"; exit 2; }
    bin=$build
    source_built=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
fi
vkpref="$bin/vkpref"
[ -x "$vkpref" ] || { log "$vkpref is missing (build first, see README.md)"; exit 2; }
if [ -n "$source_built" ] && [ "$source_built" != "$root" ] && [ ! -e "$source_built" ]; then
    # The tests have "$source_built/tests/data" compiled in.
    if mkdir -p "$(dirname "$source_built")" 2>/dev/null && ln -s "$root" "$source_built" 2>/dev/null; then
        links+=("$source_built"); log "linked $source_built (the tests' compiled-in source folder) to $root"
    else
        note "the tests were built in $source_built, which is missing and cannot be linked here: tests that read tests/data will fail"
    fi
fi
if missing=$("${vk_env[@]}" ldd "$vkpref" 2>&1 | awk '/not found/ { print $1 }') && [ -n "$missing" ]; then
    note "vkpref cannot load: $(tr '\n' ' ' <<< "$missing")not found (bundle the build with tools/gpu_bundle.sh)"
fi

# ---------------------------------------------------------------------------
# 1. The Vulkan device.
selected_type() {  # vkpref info output -> the selected device's type ("" when none)
    awk '/^\* \[/ { sel = 1; next } sel && /type:/ { sub(/.*type: /, ""); sub(/   driver:.*/, ""); print; exit }' "$1"
}
run_info() {
    local rc=0
    "${vk_env[@]}" timeout 60 "$vkpref" info > "$work/info.txt" 2>&1 || rc=$?
    echo "$rc" > "$work/info_rc"
}
run_info
have_gpu=1
if [ "$mode" = gpu ]; then
    if [ "$(selected_type "$work/info.txt")" = CPU ] || [ -z "$(selected_type "$work/info.txt")" ]; then
        have_gpu=0
        if [ -z "${VK_DRIVER_FILES:-}${VK_ICD_FILENAMES:-}" ]; then
            for icd in /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json /etc/vulkan/icd.d/nvidia_icd.json \
                       /usr/share/vulkan/icd.d/nvidia_icd.json /usr/local/share/vulkan/icd.d/nvidia_icd.json \
                       /etc/vulkan/icd.d/nvidia_icd.x86_64.json /usr/share/vulkan/icd.d/nvidia_icd.x86_64.json \
                       /usr/local/nvidia/etc/vulkan/icd.d/nvidia_icd.json; do
                [ -f "$icd" ] || continue
                log "no GPU from the loader's own search: trying VK_DRIVER_FILES=$icd"
                saved=("${vk_env[@]}")
                vk_env+=(VK_DRIVER_FILES="$icd" VK_ICD_FILENAMES="$icd")
                run_info
                if [ "$(selected_type "$work/info.txt")" != CPU ] && [ -n "$(selected_type "$work/info.txt")" ]; then
                    have_gpu=1; note "Vulkan driver: VK_DRIVER_FILES=$icd"; break
                fi
                vk_env=("${saved[@]}")
            done
            if [ "$have_gpu" = 0 ]; then  # the driver library without a manifest
                lib=$( (ldconfig -p 2>/dev/null | awk '$1 == "libGLX_nvidia.so.0" && /x86-64/ { print $NF; exit }') || true)
                for d in /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /usr/lib64 /usr/local/nvidia/lib; do
                    [ -n "$lib" ] && break
                    [ -f "$d/libGLX_nvidia.so.0" ] && lib="$d/libGLX_nvidia.so.0"
                done
                if [ -n "$lib" ]; then
                    printf '{"file_format_version": "1.0.0", "ICD": {"library_path": "%s", "api_version": "1.3.0"}}\n' \
                        "$lib" > "$work/nvidia_icd.json"
                    log "no NVIDIA ICD manifest: trying one written for $lib"
                    vk_env+=(VK_DRIVER_FILES="$work/nvidia_icd.json" VK_ICD_FILENAMES="$work/nvidia_icd.json")
                    run_info
                    if [ "$(selected_type "$work/info.txt")" != CPU ] && [ -n "$(selected_type "$work/info.txt")" ]; then
                        have_gpu=1; note "Vulkan driver: a manifest written for $lib"
                    fi
                else
                    # In a container the NVIDIA runtime mounts the Vulkan driver only for the graphics capability.
                    note "no libGLX_nvidia.so.0 (the NVIDIA Vulkan driver) on this machine; NVIDIA_DRIVER_CAPABILITIES=${NVIDIA_DRIVER_CAPABILITIES:-unset} (a container needs 'graphics' in it for Vulkan)"
                fi
            fi
        fi
        if [ "$have_gpu" = 0 ]; then
            "${vk_env[@]}" VK_LOADER_DEBUG=error,warn,driver timeout 60 "$vkpref" info > "$work/loader_debug.txt" 2>&1 || true
            note "no Vulkan GPU device (vkpref info: $(tr '\n' ' ' < "$work/info.txt" | cut -c1-300)): tests and vkpref benches are not run"
        fi
    fi
fi
cat "$work/info.txt" >&2
timeout 30 nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader > "$work/nvidia_smi.txt" 2>/dev/null || true

# ---------------------------------------------------------------------------
# 2. Tests.
if [ -n "$tests_opt" ]; then
    IFS=, read -r -a tests <<< "$tests_opt"
else
    mapfile -t tests < <(find "$bin" -maxdepth 1 -type f -name 'test_*' -perm -u+x -printf '%f\n' | sort)
fi
: > "$work/tests.tsv"
mkdir -p "$work/logs" "$work/results"
run_test() {  # name -> $work/results/NAME.tsv: name, exit status or "skipped", seconds, reason
    local t=$1 t0=$SECONDS rc=0 res="$work/results/$1.tsv"
    if [ "$have_gpu" = 0 ]; then printf '%s\tskipped\t0\tno Vulkan GPU device\n' "$t" > "$res"; return; fi
    if out_of_time; then printf '%s\tskipped\t0\t--time-limit reached\n' "$t" > "$res"; return; fi
    if [ ! -x "$bin/$t" ]; then
        printf '%s\t127\t0\tno executable %s\n' "$t" "$bin/$t" > "$res"
        log "test $t: no executable $bin/$t"; return
    fi
    "${test_env[@]}" timeout -k 10 "$(limit "$test_timeout")" "$bin/$t" --jobs 2 > "$work/logs/$t.log" 2>&1 || rc=$?
    printf '%s\t%s\t%s\t\n' "$t" "$rc" $((SECONDS - t0)) > "$res"
    log "test $t: $([ "$rc" = 0 ] && echo pass || echo "FAIL (exit $rc)") in $((SECONDS - t0)) s"
}
if [ "$do_tests" = 1 ]; then
    # As add_test runs them: Criterion's --jobs 2 and this environment.
    test_env=("${vk_env[@]}" VKPREF_VALIDATION=1 VKPREF_BIN="$vkpref" VKPREF_SOURCE_DIR="$root" VKPREF_REQUIRE_GPU=1)
    for t in "${tests[@]}"; do
        while [ "$(jobs -rp | wc -l)" -ge "$parallel" ]; do wait -n || true; done
        run_test "$t" &
    done
    wait || true
    for t in "${tests[@]}"; do
        cat "$work/results/$t.tsv" >> "$work/tests.tsv" 2>/dev/null || printf '%s\t1\t0\tno result\n' "$t" >> "$work/tests.tsv"
    done
    write_json tests
fi

# ---------------------------------------------------------------------------
# 3, 4. Benchmarks. Each run's JSON goes to $work/bench/NAME.json, its output to NAME.log.
mkdir -p "$work/bench"
: > "$work/cases.tsv"
bench_env=("${vk_env[@]}" VKPREF_VALIDATION=0)
run_vkpref() {  # name, vkpref args...
    local name=$1 rc=0; shift
    if [ "$have_gpu" = 0 ]; then echo "no Vulkan GPU device" > "$work/bench/$name.skipped"; return; fi
    if out_of_time; then echo "--time-limit reached" > "$work/bench/$name.skipped"; return; fi
    log "vkpref $*"
    "${bench_env[@]}" timeout -k 10 "$(limit 300)" "$vkpref" "$@" > "$work/bench/$name.log" 2>&1 || rc=$?
    grep '^{' "$work/bench/$name.log" > "$work/bench/$name.json" || true
    echo "$rc" > "$work/bench/$name.rc"
}
run_torch() {  # name, bench_torch args...
    local name=$1 rc=0; shift
    if [ "$do_torch" = 0 ]; then
        if [ "$torch_missing" = 1 ]; then echo "no Python with PyTorch" > "$work/bench/$name.skipped"
        else echo "--no-torch" > "$work/bench/$name.skipped"; fi
        return
    fi
    if out_of_time; then echo "--time-limit reached" > "$work/bench/$name.skipped"; return; fi
    log "bench_torch.py $*"
    timeout -k 10 "$(limit 300)" "$torch_py" "$root/tools/bench_torch.py" "$@" --device "$torch_device" --json \
        > "$work/bench/$name.json" 2> "$work/bench/$name.log" || rc=$?
    echo "$rc" > "$work/bench/$name.rc"
}
vocab_of() {  # vkpref bench JSON -> its vocab_size (0 when unknown)
    "$py_any" -c 'import json, sys
try: print(json.loads(open(sys.argv[1]).read().splitlines()[-1]).get("vocab_size", 0))
except Exception: print(0)' "$1"
}

IFS=, read -r -a model_list <<< "$models"
IFS=, read -r -a case_list <<< "$cases"
specs=()  # "idx|name|model|kind|vkpref args|torch args"
idx=0
for m in "${model_list[@]}"; do
    case "$m" in /*) ;; *) [ -f "$m" ] && m="$(cd "$(dirname "$m")" && pwd)/$(basename "$m")" || m="$root/$m" ;; esac
    [ -f "$m" ] || { log "--models: no file $m"; exit 2; }
    for spec in "${case_list[@]}"; do
        IFS=: read -r kind n cfg extra <<< "$spec"
        if [[ -n "${extra:-}" || ! "${n:-}" =~ ^[1-9][0-9]*$ ]]; then
            log "--cases: bad case '$spec' (OBJECTIVE:B or sample:B:CFG)"; exit 2
        fi
        common="--model_config $m --steps $steps --warmup $warmup"
        case "$kind" in
            sample)
                [[ "${cfg:-}" =~ ^[0-9]+(\.[0-9]+)?$ ]] || { log "--cases: '$spec' needs a guidance scale (sample:B:CFG)"; exit 2; }
                name="sampling step, batch $n, cfg $cfg"
                args="sample --batch $n --cfg $cfg $common" ;;
            sft|kto|dpo|mapo|tdpo|tkto)
                [ -z "${cfg:-}" ] || { log "--cases: '$spec': $kind takes OBJECTIVE:B"; exit 2; }
                case "$kind" in sft|kto) name="$kind, batch $n" ;; *) name="$kind, $n pairs" ;; esac
                args="train --objective $kind --train_batch_size $n $common" ;;
            *) log "--cases: unknown case kind '$kind' in '$spec' (sft, dpo, mapo, kto, tdpo, tkto, sample)"; exit 2 ;;
        esac
        specs+=("$idx|$name|$m|$kind|$args")
        [ "$do_bench" = 0 ] || printf '%s\t%s\t%s\t%s\t%s\n' "$idx" "$name" "$m" "$kind" "$spec" >> "$work/cases.tsv"
        idx=$((idx + 1))
    done
done

if [ "$do_bench" = 1 ]; then
    run_vkpref ops bench ops --json "${ops_args[@]}"
    run_torch ops_torch ops "${torch_ops_args[@]}"
    write_json "bench ops"
    for s in "${specs[@]}"; do
        IFS='|' read -r i name m kind args <<< "$s"
        # shellcheck disable=SC2086
        run_vkpref "$i.vkpref" bench $args --json
        vocab=0
        [ -s "$work/bench/$i.vkpref.json" ] && vocab=$(vocab_of "$work/bench/$i.vkpref.json")
        # shellcheck disable=SC2086
        run_torch "$i.torch" $args --vocab_size "$vocab"
        write_json "$name, $(basename "$m")"
    done
    for s in "${specs[@]}"; do  # torch.compile last: its compile time is the least certain
        IFS='|' read -r i name m kind args <<< "$s"
        if [ "$do_compile" = 0 ]; then
            if [ "$torch_missing" = 1 ]; then why="no Python with PyTorch"; else why="--no-compile"; fi
            echo "$why" > "$work/bench/$i.compile.skipped"; continue
        fi
        if [ "$mode" = dry-run ] && [ "$i" != 0 ]; then
            echo "dry run: torch.compile on the first case only" > "$work/bench/$i.compile.skipped"; continue
        fi
        vocab=0
        [ -s "$work/bench/$i.vkpref.json" ] && vocab=$(vocab_of "$work/bench/$i.vkpref.json")
        # shellcheck disable=SC2086
        run_torch "$i.compile" $args --vocab_size "$vocab" --compile
        write_json "$name, $(basename "$m"), torch.compile"
    done
fi

# ---------------------------------------------------------------------------
# 5. The JSON.
write_json final
validate_json "$out" || exit 1
ok=$("$py_any" -c 'import json, sys; print(json.load(open(sys.argv[1]))["ok"])' "$out")
log "done in $((SECONDS - start_s)) s: $([ "$ok" = True ] && echo "everything passed" || echo "NOT everything passed (see problems above)")"
[ "$ok" = True ]
