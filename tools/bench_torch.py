#!/usr/bin/python3
"""The PyTorch baseline of `vkpref bench train` / `vkpref bench sample`.

The same architecture (tools/torch_models.py, the independent PyTorch
implementation the golden tests use), config, batch and objective on the CPU,
timed the same way (warm-up, then the median of timed steps), printing the same
JSON keys where they apply.

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
    p.add_argument("mode", choices=["train", "sample"])
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
    p.add_argument("--attention", default="baddbmm", choices=["baddbmm", "plain"],
                   help="baddbmm: diffusers' AttnProcessor; plain: torch_models.sdpa as written")
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
    scores = torch.baddbmm(torch.empty(n * heads, t, s, dtype=q.dtype), q, k.transpose(1, 2), beta=0,
                           alpha=1 / math.sqrt(hd))
    if causal:
        scores = scores.masked_fill(torch.triu(torch.ones(t, s, dtype=torch.bool), diagonal=1), float("-inf"))
    o = torch.bmm(scores.softmax(dim=-1), v)
    return o.reshape(n, heads, t, hd).permute(0, 2, 1, 3).reshape(n, t, c)


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


def main():
    best_environment()
    a = parse_args()
    import torch
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import torch_models as tm
    if a.attention == "baddbmm":
        tm.sdpa = sdpa_baddbmm

    torch.set_num_threads(a.threads)
    torch.manual_seed(a.seed)
    with open(a.model_config) as f:
        mc = json.load(f)
    ucfg, ccfg = dict(mc["unet"]), dict(mc["text_encoder"])
    merges = mc.get("tokenizer", {}).get("merges", 400)
    L = mc.get("tokenizer", {}).get("model_max_length", ccfg["max_position_embeddings"])
    ccfg["vocab_size"] = a.vocab_size or 514 + merges
    unet, clip = tm.UNet2DConditionModel(ucfg), tm.CLIPTextModel(ccfg)
    C, S = ucfg["in_channels"], ucfg["sample_size"]
    T = mc["scheduler"].get("num_train_timesteps", 1000)
    fmt = torch.channels_last if a.channels_last else torch.contiguous_format
    if a.channels_last:
        unet = unet.to(memory_format=torch.channels_last)

    def images(n):
        return torch.randn(n, C, S, S).contiguous(memory_format=fmt)

    result = {"bench": a.mode, "device": "cpu (PyTorch %s)" % torch.__version__, "threads": torch.get_num_threads(),
              "blas": loaded_blas(), "channels_last": a.channels_last, "attention": a.attention,
              "env": {k: os.environ.get(k) for k in ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_",
                                                                 "OMP_NUM_THREADS", "OMP_WAIT_POLICY")}}
    if a.mode == "train":
        obj = a.objective
        rows = a.train_batch_size * ROWS_PER_ITEM[obj]
        train_text = obj == "sft" if a.train_text_encoder == "auto" else a.train_text_encoder == "true"
        ref = None
        if obj in NEEDS_REF:
            ref = tm.UNet2DConditionModel(ucfg)
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
            t = torch.randint(0, T, (rows // ROWS_PER_ITEM[obj],)).repeat(ROWS_PER_ITEM[obj]).float()
            ids = torch.randint(0, ccfg["vocab_size"], (rows, L))
            signs = torch.where(torch.rand(rows) < 0.5, 1.0, -1.0)
            if obj == "tkto":
                signs = torch.cat([torch.ones(rows // 2), -torch.ones(rows // 2)])
            return x, tgt, t, ids, signs

        def forward_loss(x, tgt, t, ids, signs):
            if train_text:
                ehs = clip(ids)
            else:
                with torch.no_grad():
                    ehs = clip(ids)
            r = None
            if ref is not None:
                with torch.no_grad():
                    r = ((ref(x, t, ehs) - tgt) ** 2).mean(dim=(1, 2, 3))
            e = ((unet(x, t, ehs) - tgt) ** 2).mean(dim=(1, 2, 3))
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
            ehs = clip(torch.randint(0, ccfg["vocab_size"], (rows, L)))
        x = images(a.batch)

        def step(s):
            nonlocal x
            t0 = time.perf_counter()
            t = torch.full((rows,), float(T - 1 - (s * 40) % T))
            ca, cb = 0.99, -0.05  # a DDIM update x = ca x + cb eps (coefficients do not change the cost)
            host = time.perf_counter() - t0
            with torch.inference_mode():
                xin = torch.cat([x, x]) if guided else x
                eps = unet(xin, t, ehs)
                if guided:
                    u, c = eps.chunk(2)
                    eps = u + a.cfg * (c - u)
                x = ca * x + cb * eps
            return host, None

        counter = FlopCounter(tm, [unet])
        with torch.inference_mode():
            unet(torch.cat([x, x]) if guided else x, torch.zeros(rows), ehs)
        flops = counter.total
        counter.close()
        result.update({"batch": a.batch, "cfg": a.cfg, "guided": guided, "unet_rows": rows,
                       "images_per_step": a.batch})

    for s in range(a.warmup):
        step(s)
    times, hosts, loss = [], [], None
    for s in range(a.warmup, a.warmup + a.steps):
        t0 = time.perf_counter()
        host, loss = step(s)
        times.append(time.perf_counter() - t0)
        hosts.append(host)
    med, lo, hi = stats(times)
    result.update({"warmup": a.warmup, "steps": a.steps, "median_s": med, "min_s": lo, "max_s": hi,
                   "images_per_s": result["images_per_step"] / med, "gflop_per_step": flops * 1e-9,
                   "gflops_per_s": flops * 1e-9 / med, "host_median_s": statistics.median(hosts),
                   "host_fraction": statistics.median(hosts) / med,
                   "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
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
