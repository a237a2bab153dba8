#!/usr/bin/python3
"""The PyTorch baseline of `vkpref bench train` / `vkpref bench sample`.

The same architecture (tools/torch_models.py, the independent PyTorch
implementation the golden tests use), config, batch and objective on the CPU
(--device cpu, the default) or an NVIDIA GPU (--device cuda), timed the same way
(warm-up, then the median of timed steps), printing the same JSON keys where
they apply.

--device cuda: model and inputs on the GPU, torch.cuda.synchronize() before and
after each timed step (so a step's time is the GPU's, not the launch queue's),
fp32 throughout (TF32 off for matmuls and convolutions, as vkpref computes in
fp32; --tf32 allows it), cuDNN autotuning on (the shapes never change), and
attention by F.scaled_dot_product_attention (diffusers' AttnProcessor2_0) where
PyTorch has it (>= 2.0). peak_device_bytes is torch.cuda.max_memory_allocated().

--compile: the UNets and the text encoder through torch.compile (PyTorch >= 2.0;
its default backend, inductor, needs a C compiler). When compiling fails (no
torch.compile, no compiler, a graph break that errors) the script prints one
JSON object with "error" (under --json) and exits with status 3, so a caller can
record the case as failed and go on. Compilation happens in the warm-up steps,
which are untimed; give at least one.

PyTorch gets its best setup on this machine, set up here before torch loads
(the script re-executes itself once with the environment in place):
  - intra-op threads = the CPU cores (lavapipe's thread count), OMP_NUM_THREADS too;
  - OpenBLAS with OpenMP (Debian's libopenblas0-openmp) for the BLAS calls
    (linear layers, attention matmuls) instead of the reference BLAS, when it is
    installed (the report's "blas" says which library was loaded);
  - glibc malloc told not to give memory back (MALLOC_MMAP_THRESHOLD_ at its
    maximum, MALLOC_TRIM_THRESHOLD_ huge), so steady-state steps do not page-fault;
  - OMP_WAIT_POLICY=PASSIVE: on a CPU shared with other work (as when these
    numbers were taken) spinning OpenMP workers starve each other (a quick
    check under load: 1.7-2.2 s per sampling forward against 2.5-3.8 s with
    the default policy); set OMP_WAIT_POLICY=ACTIVE to compare;
  - oneDNN (mkldnn) convolutions (PyTorch's default on x86);
  - attention as diffusers' AttnProcessor runs it on PyTorch 1.x (baddbmm with
    the scale folded in, softmax, bmm) instead of torch_models.sdpa's plain
    matmul + division (--attention plain to compare); PyTorch 1.13 has no fused
    scaled_dot_product_attention.

train: one optimizer step: text encoder (trained for sft with --train_text_encoder
auto, as vkpref), the frozen reference UNet under no_grad (dpo, tdpo, kto, tkto),
the policy's forward and backward, the objective on per-sample MSEs, gradient
clipping, AdamW (foreach), EMA. sample: one guided denoising step (the UNet on
[x; x] with [uncond; cond] text states, guidance, the DDIM update), under
inference_mode. Inputs are random, of the model's shapes.

ops: the cases of `vkpref bench ops` (conv2d 3x3 forward, backward = input and
weight gradients, bwd-weight; matmul forward and backward = both gradients;
attention forward and backward, self and cross) on the same shapes, --steps
timed repetitions after --warmup, with vkpref's FLOP conventions; one JSON object
whose "cases" hold one entry per vkpref line (case, shape, pass, median_s, ...).

FLOPs: conv and linear layers counted with forward hooks and the attention
matmuls by wrapping torch_models.sdpa, once, on the real shapes: the
conventions of src/bench/flops.h (multiply-add = 2, backward = 2x forward,
norms and elementwise not counted), computed independently of vkpref's counter.
"""
import argparse
import json
import math
import os
import resource
import statistics
import sys
import time

OPENBLAS_DIR = "/usr/lib/x86_64-linux-gnu/openblas-openmp"
ENV_MARK = "VKPREF_BENCH_TORCH_ENV"


def best_environment():
    """Re-executes this script with PyTorch's best environment, once."""
    if os.environ.get(ENV_MARK):
        return
    env = dict(os.environ)
    env[ENV_MARK] = "1"
    threads = str(len(os.sched_getaffinity(0)))
    env.setdefault("OMP_NUM_THREADS", threads)
    env.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    env.setdefault("MALLOC_MMAP_THRESHOLD_", str(32 << 20))  # glibc's maximum (HEAP_MAX_SIZE / 2 on 64-bit)
    env.setdefault("MALLOC_TRIM_THRESHOLD_", str(1 << 40))
    if os.path.exists(os.path.join(OPENBLAS_DIR, "libblas.so.3")):
        env["LD_LIBRARY_PATH"] = OPENBLAS_DIR + (":" + env["LD_LIBRARY_PATH"] if env.get("LD_LIBRARY_PATH") else "")
    os.execve(sys.executable, [sys.executable] + sys.argv, env)


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("mode", choices=["train", "sample", "ops"])
    here = os.path.dirname(os.path.abspath(__file__))
    p.add_argument("--model_config", default=os.path.join(here, "..", "configs", "models", "fmnist-small.json"))
    p.add_argument("--vocab_size", type=int, default=0,
                   help="token embedding rows (vkpref's JSON vocab_size; 0: 514 + the config's merges)")
    p.add_argument("--objective", default="sft", choices=["sft", "dpo", "mapo", "kto", "tdpo", "tkto"])
    p.add_argument("--train_batch_size", type=int, default=32, help="items (dpo, mapo, tdpo, tkto: 2 rows each)")
    p.add_argument("--train_text_encoder", default="auto", choices=["auto", "true", "false"])
    p.add_argument("--use_ema", default="true", choices=["true", "false"])
    p.add_argument("--learning_rate", type=float, default=1e-3)
    p.add_argument("--max_grad_norm", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=16, help="sample: images")
    p.add_argument("--cfg", type=float, default=3.0, help="sample: guidance scale (<= 1: none)")
    p.add_argument("--steps", type=int, default=10, help="timed steps")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first")
    p.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    p.add_argument("--channels_last", action="store_true", help="NHWC activations and weights")
    p.add_argument("--attention", default="auto", choices=["auto", "baddbmm", "plain", "fused"],
                   help="baddbmm: diffusers' AttnProcessor; plain: torch_models.sdpa as written; fused: "
                        "F.scaled_dot_product_attention (PyTorch >= 2.0); auto: fused on cuda where PyTorch has it, "
                        "else baddbmm")
    p.add_argument("--device", default="cpu", choices=["cpu", "cuda"],
                   help="cpu (default) or cuda (the first NVIDIA GPU; timed with torch.cuda.synchronize())")
    p.add_argument("--compile", action="store_true", help="torch.compile the models (exit status 3 when it fails)")
    p.add_argument("--tf32", action="store_true", help="cuda: allow TF32 matmuls and convolutions")
    p.add_argument("--only", choices=["conv2d", "matmul", "attention"], help="ops: one kind of case")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true")
    return p.parse_args()


ROWS_PER_ITEM = {"sft": 1, "kto": 1, "dpo": 2, "tdpo": 2, "mapo": 2, "tkto": 2}
NEEDS_REF = {"dpo", "tdpo", "kto", "tkto"}


def sdpa_baddbmm(q, k, v, heads, causal):
    """diffusers' AttnProcessor (head_to_batch_dim, get_attention_scores, bmm) for PyTorch < 2."""
    import torch
    n, t, c = q.shape
    s, hd = k.shape[1], c // heads
    q = q.reshape(n, t, heads, hd).permute(0, 2, 1, 3).reshape(n * heads, t, hd)
    k = k.reshape(n, s, heads, hd).permute(0, 2, 1, 3).reshape(n * heads, s, hd)
    v = v.reshape(n, s, heads, hd).permute(0, 2, 1, 3).reshape(n * heads, s, hd)
    scores = torch.baddbmm(torch.empty(n * heads, t, s, dtype=q.dtype, device=q.device), q, k.transpose(1, 2), beta=0,
                           alpha=1 / math.sqrt(hd))
    if causal:
        mask = torch.triu(torch.ones(t, s, dtype=torch.bool, device=q.device), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
    o = torch.bmm(scores.softmax(dim=-1), v)
    return o.reshape(n, heads, t, hd).permute(0, 2, 1, 3).reshape(n, t, c)


def sdpa_fused(q, k, v, heads, causal):
    """diffusers' AttnProcessor2_0: F.scaled_dot_product_attention (PyTorch >= 2.0)."""
    import torch.nn.functional as F
    n, t, c = q.shape
    s, hd = k.shape[1], c // heads
    q = q.view(n, t, heads, hd).transpose(1, 2)
    k = k.view(n, s, heads, hd).transpose(1, 2)
    v = v.view(n, s, heads, hd).transpose(1, 2)
    o = F.scaled_dot_product_attention(q, k, v, is_causal=causal)  # causal attention is text self-attention: t == s
    return o.transpose(1, 2).reshape(n, t, c)


def objective_loss(obj, e, r, signs):
    """The loss of vkpref's objectives (train/objective.h) with the official default betas."""
    import torch
    import torch.nn.functional as F
    if obj == "sft":
        return e.mean()
    if obj in ("dpo", "tdpo"):
        n = e.shape[0] // 2
        z = -0.5 * 5000.0 * ((e[:n] - e[n:]) - (r[:n] - r[n:]))
        return F.softplus(-z).mean()
    if obj == "mapo":
        n = e.shape[0] // 2
        f = lambda x: 0.5 * x / torch.expm1(0.5 * x)
        return e[:n].mean() - 0.1 * F.logsigmoid(1000.0 * (f(e[:n]) - f(e[n:]))).mean()
    rho = r - e  # kto, tkto
    z = torch.clamp(rho.mean().detach(), min=0)
    return (1 - torch.sigmoid(signs * 1000.0 * (rho - z))).mean()


class FlopCounter:
    """Conv/linear FLOPs by forward hooks, attention FLOPs by wrapping torch_models.sdpa."""

    def __init__(self, tm, modules):
        import torch.nn as nn
        self.total = 0.0
        self.tm, self.orig = tm, tm.sdpa
        self.handles = []
        for m in modules:
            for mod in m.modules():
                if isinstance(mod, nn.Conv2d):
                    self.handles.append(mod.register_forward_hook(self.conv))
                elif isinstance(mod, nn.Linear):
                    self.handles.append(mod.register_forward_hook(self.linear))

        def sdpa(q, k, v, heads, causal):
            n, t, c = q.shape
            self.total += 4.0 * n * t * k.shape[1] * c
            return self.orig(q, k, v, heads, causal)
        tm.sdpa = sdpa

    def conv(self, mod, inp, out):
        kh, kw = mod.kernel_size
        self.total += 2.0 * out.numel() * (mod.in_channels // mod.groups) * kh * kw

    def linear(self, mod, inp, out):
        self.total += 2.0 * out.numel() * mod.in_features

    def close(self):
        for h in self.handles:
            h.remove()
        self.tm.sdpa = self.orig


def loaded_blas():
    libs = set()
    with open("/proc/self/maps") as f:
        for line in f:
            if "blas" in line or "mkl" in line:
                libs.add(line.split()[-1])
    return sorted(libs)


def stats(times):
    return statistics.median(times), min(times), max(times)


def fail(a, message, status):
    """Reports a run that could not be timed: one JSON object with "error" under --json."""
    if a.json:
        print(json.dumps({"bench": a.mode, "torch_device": a.device, "compile": a.compile, "error": message}))
    print("bench_torch.py: %s" % message, file=sys.stderr)
    sys.exit(status)


def bench_ops(a, torch, dev, sdpa, sync, result):
    """`vkpref bench ops`'s cases (src/bench/bench_ops.c), timed the same way."""
    import torch.nn.functional as F
    cases = []

    def timed(fn):
        for _ in range(a.warmup):
            fn()
        sync()
        times = []
        for _ in range(a.steps):
            sync()
            t0 = time.perf_counter()
            fn()
            sync()
            times.append(time.perf_counter() - t0)
        return stats(times)

    def report(case, shape, pas, flops, fn):
        med, lo, hi = timed(fn)
        cases.append({"case": case, "shape": shape, "pass": pas, "median_s": med, "min_s": lo, "max_s": hi,
                      "gflops_per_s": flops * 1e-9 / med})

    def rnd(*shape):
        return torch.rand(*shape, device=dev) * 2 - 1

    if a.only in (None, "conv2d"):
        N, C, K, H = 16, 64, 64, 16
        x, w, b, dy = rnd(N, C, H, H), rnd(K, C, 3, 3), rnd(K), rnd(N, K, H, H)
        f = 2.0 * N * K * H * H * C * 9
        conv_bwd = torch.ops.aten.convolution_backward

        def bwd(mask):
            return lambda: conv_bwd(dy, x, w, [K], [1, 1], [1, 1], [1, 1], False, [0, 0], 1, mask)
        shape = "N%d C%d K%d %dx%d" % (N, C, K, H, H)
        with torch.no_grad():
            report("conv2d 3x3", shape, "forward", f, lambda: F.conv2d(x, w, b, padding=1))
            report("conv2d 3x3", shape, "backward", 2 * f, bwd([True, True, True]))
            report("conv2d 3x3", shape, "bwd-weight", f, bwd([False, True, True]))
    if a.only in (None, "matmul"):
        for M, N, K in ((1024, 1024, 1024), (4096, 64, 576)):
            A, Bm, dC = rnd(M, K), rnd(K, N), rnd(M, N)
            f = 2.0 * M * N * K
            shape = "%dx%dx%d" % (M, N, K)
            with torch.no_grad():
                report("matmul", shape, "forward", f, lambda: A @ Bm)
                report("matmul", shape, "backward", 2 * f, lambda: (dC @ Bm.t(), A.t() @ dC))
    if a.only in (None, "attention"):
        for T, S in ((256, 256), (256, 16)):
            N, NH, HD = 16, 4, 16
            D = NH * HD
            q, k, v = (rnd(N, L, D).requires_grad_() for L in (T, S, S))
            dout = rnd(N, T, D)
            f = 4.0 * N * NH * T * S * HD
            name, shape = "attention self" if T == S else "attention cross", "N16 T%d S%d NH4 HD16" % (T, S)
            with torch.no_grad():
                report(name, shape, "forward", f, lambda: sdpa(q, k, v, NH, False))
            o = sdpa(q, k, v, NH, False)  # backward through the graph of one forward, kept
            report(name, shape, "backward", 2.5 * f,
                   lambda: torch.autograd.grad(o, (q, k, v), dout, retain_graph=True))
    result.update({"warmup": a.warmup, "steps": a.steps, "cases": cases})
    return result


def main():
    best_environment()
    a = parse_args()
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_models as tm
    if a.device == "cuda" and not torch.cuda.is_available():
        fail(a, "--device cuda: PyTorch %s sees no CUDA device (CUDA build: %s)" % (
            torch.__version__, torch.version.cuda or "no"), 1)
    if a.compile and not hasattr(torch, "compile"):
        fail(a, "--compile: PyTorch %s has no torch.compile (2.0 or later)" % torch.__version__, 3)
    if a.compile and a.warmup < 1:
        fail(a, "--compile needs at least one warm-up step (compilation happens there)", 2)
    dev = torch.device(a.device)
    has_fused = hasattr(torch.nn.functional, "scaled_dot_product_attention")
    attention = a.attention
    if attention == "auto":
        attention = "fused" if a.device == "cuda" and has_fused else "baddbmm"
    if attention == "fused" and not has_fused:
        fail(a, "--attention fused: PyTorch %s has no F.scaled_dot_product_attention" % torch.__version__, 2)
    tm.sdpa = {"baddbmm": sdpa_baddbmm, "fused": sdpa_fused, "plain": tm.sdpa}[attention]
    if a.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = a.tf32
        torch.backends.cudnn.allow_tf32 = a.tf32
        torch.backends.cudnn.benchmark = True

    def sync():
        if a.device == "cuda":
            torch.cuda.synchronize()

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    if a.mode == "ops":
        if a.compile:
            fail(a, "--compile applies to train and sample", 2)
        result = {"bench": "ops", "device": "%s (PyTorch %s%s)" % (
                      torch.cuda.get_device_name(dev) if a.device == "cuda" else "cpu", torch.__version__,
                      ", CUDA %s" % torch.version.cuda if a.device == "cuda" else ""),
                  "torch_device": a.device, "torch_version": torch.__version__, "attention": attention,
                  "tf32": a.tf32 if a.device == "cuda" else False, "threads": torch.get_num_threads()}
        bench_ops(a, torch, dev, tm.sdpa, sync, result)
        if a.json:
            print(json.dumps(result))
        else:
            for c in result["cases"]:
                print("%-16s %-26s %-10s %9.3f ms %9.2f GFLOP/s" % (c["case"], c["shape"], c["pass"],
                                                                  1e3 * c["median_s"], c["gflops_per_s"]))
        return
    with open(a.model_config) as f:
        mc = json.load(f)
    ucfg, ccfg = dict(mc["unet"]), dict(mc["text_encoder"])
    merges = mc.get("tokenizer", {}).get("merges", 400)
    L = mc.get("tokenizer", {}).get("model_max_length", ccfg["max_position_embeddings"])
    ccfg["vocab_size"] = a.vocab_size or 514 + merges
    unet, clip = tm.UNet2DConditionModel(ucfg).to(dev), tm.CLIPTextModel(ccfg).to(dev)
    C, S = ucfg["in_channels"], ucfg["sample_size"]
    T = mc["scheduler"].get("num_train_timesteps", 1000)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    if a.channels_last:
        unet = unet.to(memory_format=torch.channels_last)

    def images(n):
        return torch.randn(n, C, S, S, device=dev).contiguous(memory_format=fmt)

    if a.device == "cuda":
        device_name = "%s (PyTorch %s, CUDA %s)" % (torch.cuda.get_device_name(dev), torch.__version__,
                                                    torch.version.cuda)
    else:
        device_name = "cpu (PyTorch %s)" % torch.__version__
    result = {"bench": a.mode, "device": device_name, "torch_device": a.device, "torch_version": torch.__version__,
              "compile": a.compile, "tf32": a.tf32 if a.device == "cuda" else False,
              "threads": torch.get_num_threads(),
              "blas": loaded_blas(), "channels_last": a.channels_last, "attention": attention,
              "env": {k: os.environ.get(k) for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                                 "OMP_NUM_THREADS", "OMP_WAIT_POLICY")}}
    ref = None
    if a.mode == "train":
        obj = a.objective
        rows = a.train_batch_size * ROWS_PER_ITEM[obj]
        train_text = obj == "sft" if a.train_text_encoder == "auto" else a.train_text_encoder == "true"
        if obj in NEEDS_REF:
            ref = tm.UNet2DConditionModel(ucfg).to(dev)
            ref.load_state_dict(unet.state_dict())
            ref.requires_grad_(False)
            if a.channels_last:
                ref = ref.to(memory_format=torch.channels_last)
        clip.requires_grad_(train_text)
        params = list(unet.parameters()) + (list(clip.parameters()) if train_text else [])
        opt = torch.optim.AdamW(params, lr=a.learning_rate, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                                foreach=True)
        ema = [p.detach().clone() for p in unet.parameters()] if a.use_ema == "true" else None

        def inputs():
            x, tgt = images(rows), images(rows)
            t = torch.randint(0, T, (rows // ROWS_PER_ITEM[obj],), device=dev).repeat(ROWS_PER_ITEM[obj]).float()
            ids = torch.randint(0, ccfg["vocab_size"], (rows, L), device=dev)
            signs = torch.where(torch.rand(rows, device=dev) < 0.5, 1.0, -1.0)
            if obj == "tkto":
                signs = torch.cat([torch.ones(rows // 2, device=dev), -torch.ones(rows // 2, device=dev)])
            return x, tgt, t, ids, signs

        def forward_loss(x, tgt, t, ids, signs):
            if train_text:
                ehs = run_clip(ids)
            else:
                with torch.no_grad():
                    ehs = run_clip(ids)
            r = None
            if ref is not None:
                with torch.no_grad():
                    r = ((run_ref(x, t, ehs) - tgt) ** 2).mean(dim=(1, 2, 3))
            e = ((run_unet(x, t, ehs) - tgt) ** 2).mean(dim=(1, 2, 3))
            return objective_loss(obj, e, r, signs)

        def step(s):
            t0 = time.perf_counter()
            batch = inputs()
            host = time.perf_counter() - t0
            opt.zero_grad(set_to_none=True)
            loss = forward_loss(*batch)
            loss.backward()
            if a.max_grad_norm > 0:
                torch.nn.utils.clip_grad_norm_(params, a.max_grad_norm)
            opt.step()
            if ema is not None:
                d = min(0.999, (1.0 + s) / (10.0 + s))
                with torch.no_grad():
                    live = [p.detach() for p in unet.parameters()]
                    torch._foreach_mul_(ema, d)
                    torch._foreach_add_(ema, live, alpha=1 - d)
            return host, float(loss)

        counter = FlopCounter(tm, [unet, clip] + ([ref] if ref is not None else []))
        with torch.no_grad():  # one forward of each model on the step's shapes
            b = inputs()
            ehs = clip(b[3])
            clip_f, counter.total = counter.total, 0.0
            unet(b[0], b[2], ehs)
            unet_f = counter.total
        counter.close()
        flops = clip_f * (3 if train_text else 1) + unet_f * (4 if ref is not None else 3)
        result.update({"objective": obj, "train_batch_size": a.train_batch_size, "rows_per_micro_batch": rows,
                       "train_text_encoder": train_text, "use_ema": a.use_ema == "true", "images_per_step": rows})
    else:
        guided = a.cfg > 1
        rows = 2 * a.batch if guided else a.batch
        unet.requires_grad_(False)
        clip.requires_grad_(False)
        with torch.inference_mode():
            ehs = clip(torch.randint(0, ccfg["vocab_size"], (rows, L), device=dev))
        x = images(a.batch)

        def step(s):
            nonlocal x
            t0 = time.perf_counter()
            t = torch.full((rows,), float(T - 1 - (s * 40) % T), device=dev)
            ca, cb = 0.99, -0.05  # a DDIM update x = ca x + cb eps (coefficients do not change the cost)
            host = time.perf_counter() - t0
            with torch.inference_mode():
                xin = torch.cat([x, x]) if guided else x
                eps = run_unet(xin, t, ehs)
                if guided:
                    u, c = eps.chunk(2)
                    eps = u + a.cfg * (c - u)
                x = ca * x + cb * eps
            return host, None

        counter = FlopCounter(tm, [unet])
        with torch.inference_mode():
            unet(torch.cat([x, x]) if guided else x, torch.zeros(rows, device=dev), ehs)
        flops = counter.total
        counter.close()
        result.update({"batch": a.batch, "cfg": a.cfg, "guided": guided, "unet_rows": rows,
                       "images_per_step": a.batch})

    run_unet, run_clip, run_ref = unet, clip, ref
    if a.compile:  # after the FLOP count, which hooks the eager modules
        run_unet, run_clip = torch.compile(unet), torch.compile(clip)
        run_ref = torch.compile(ref) if ref is not None else None
    if a.device == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    try:
        for s in range(a.warmup):
            t0 = time.perf_counter()
            step(s)
            sync()
            if s == 0:
                result["first_step_s"] = time.perf_counter() - t0
    except Exception as e:  # noqa: BLE001 - any failure to compile is reported, not raised
        if not a.compile:
            raise
        fail(a, "torch.compile failed: %s: %s" % (type(e).__name__, str(e).strip().splitlines()[0][:500]
                                                   if str(e).strip() else ""), 3)
    times, hosts, loss = [], [], None
    for s in range(a.warmup, a.warmup + a.steps):
        sync()
        t0 = time.perf_counter()
        host, loss = step(s)
        sync()
        times.append(time.perf_counter() - t0)
        hosts.append(host)
    med, lo, hi = stats(times)
    result.update({"warmup": a.warmup, "steps": a.steps, "median_s": med, "min_s": lo, "max_s": hi,
                   "images_per_s": result["images_per_step"] / med, "gflop_per_step": flops * 1e-9,
                   "gflops_per_s": flops * 1e-9 / med, "host_median_s": statistics.median(hosts),
                   "host_fraction": statistics.median(hosts) / med,
                   "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
                   "peak_device_bytes": torch.cuda.max_memory_allocated(dev) if a.device == "cuda" else 0,
                   "unet_parameters": sum(p.numel() for p in unet.parameters()),
                   "text_encoder_parameters": sum(p.numel() for p in clip.parameters())})
    if loss is not None and math.isfinite(loss):
        result["last_loss"] = loss
    if a.json:
        print(json.dumps(result))
    else:
        for k, v in result.items():
            print("%-24s %s" % (k, v))


if __name__ == "__main__":
    main()
