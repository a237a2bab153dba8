#!/usr/bin/python3
"""Writes the PyTorch golden data the model tests compare against.

Usage: tools/make_golden.py [OUT_DIR]   (default tests/data/golden; needs Debian's python3-torch)

For each UNet config below it writes OUT_DIR/<name>/unet/{config.json,
diffusion_pytorch_model.safetensors} (a diffusers UNet folder) and
OUT_DIR/<name>/golden.safetensors holding the inputs (x_t, timesteps,
encoder_hidden_states, noise), the output, loss = mean((output - noise)^2) and
grad.<parameter> for every parameter, plus dL/d(encoder_hidden_states).
For the text encoder it writes OUT_DIR/clip_tiny/text_encoder/{config.json,
model.safetensors} and golden.safetensors (ids, last_hidden_state, the
projection r and grad.<parameter> of sum(r * last_hidden_state)).
The models are tools/torch_models.py: plain PyTorch named like diffusers.
"""
import json
import os
import sys

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import CLIPTextModel, UNet2DConditionModel, save_safetensors  # noqa: E402

UNET_CONFIGS = {
    # the `tiny` test config
    "tiny": {
        "sample_size": 8, "in_channels": 1, "out_channels": 1, "block_out_channels": [16, 32],
        "layers_per_block": 1, "down_block_types": ["DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D"], "mid_block_type": "UNetMidBlock2DCrossAttn",
        "cross_attention_dim": 16, "attention_head_dim": 2, "norm_num_groups": 4, "norm_eps": 1e-5,
        "flip_sin_to_cos": True, "freq_shift": 0, "use_linear_projection": False, "act_fn": "silu",
    },
    # every other supported option: 3 blocks, 2 layers, per-block heads, linear projections,
    # sin-first timestep embedding with freq_shift 1, more input/output channels
    "tiny_linear": {
        "sample_size": 8, "in_channels": 2, "out_channels": 3, "block_out_channels": [8, 16, 24],
        "layers_per_block": 2, "down_block_types": ["CrossAttnDownBlock2D", "DownBlock2D", "CrossAttnDownBlock2D"],
        "up_block_types": ["CrossAttnUpBlock2D", "UpBlock2D", "CrossAttnUpBlock2D"],
        "cross_attention_dim": 12, "attention_head_dim": [1, 2, 3], "norm_num_groups": 4, "norm_eps": 1e-6,
        "flip_sin_to_cos": False, "freq_shift": 1, "use_linear_projection": True,
    },
}

CLIP_CONFIG = {
    "vocab_size": 50, "hidden_size": 16, "intermediate_size": 40, "num_hidden_layers": 2,
    "num_attention_heads": 2, "max_position_embeddings": 8, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-5,
}


def randomize(model, gen):
    """Default init, then noise on every norm scale and bias so no gradient is trivially zero."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


def make_unet(cfg):
    """The golden UNet of cfg (seeded: the same weights every call) and its generator, ready for the inputs."""
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)
    model = UNet2DConditionModel(cfg)
    randomize(model, gen)
    return model, gen


def make_clip():
    """The golden text encoder (seeded like make_unet) and its generator."""
    gen = torch.Generator().manual_seed(99)
    torch.manual_seed(99)
    model = CLIPTextModel(CLIP_CONFIG)
    randomize(model, gen)
    return model, gen


def unet_golden(name, cfg, out_dir):
    model, gen = make_unet(cfg)
    d = os.path.join(out_dir, name)
    os.makedirs(os.path.join(d, "unet"), exist_ok=True)
    with open(os.path.join(d, "unet", "config.json"), "w") as f:
        json.dump(dict(cfg, _class_name="UNet2DConditionModel"), f, indent=2)
    save_safetensors(os.path.join(d, "unet", "diffusion_pytorch_model.safetensors"), dict(model.state_dict()))

    n, s, length = 2, cfg["sample_size"], 5
    x = torch.randn(n, cfg["in_channels"], s, s, generator=gen)
    t = torch.tensor([17.0, 803.0])
    ctx = torch.randn(n, length, cfg["cross_attention_dim"], generator=gen, requires_grad=True)
    noise = torch.randn(n, cfg["out_channels"], s, s, generator=gen)
    out = model(x, t, ctx)
    loss = ((out - noise) ** 2).mean()
    loss.backward()
    g = {"x_t": x, "timesteps": t, "encoder_hidden_states": ctx.detach(), "noise": noise, "output": out.detach(),
         "loss": loss.detach().reshape(1), "grad.encoder_hidden_states": ctx.grad}
    for pname, p in model.named_parameters():
        g["grad." + pname] = p.grad
    save_safetensors(os.path.join(d, "golden.safetensors"), g)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, loss {loss.item():.6f}")


def clip_golden(out_dir):
    model, gen = make_clip()
    d = os.path.join(out_dir, "clip_tiny")
    os.makedirs(os.path.join(d, "text_encoder"), exist_ok=True)
    with open(os.path.join(d, "text_encoder", "config.json"), "w") as f:
        json.dump(dict(CLIP_CONFIG, architectures=["CLIPTextModel"]), f, indent=2)
    save_safetensors(os.path.join(d, "text_encoder", "model.safetensors"), dict(model.state_dict()))
    ids = torch.tensor([[48, 3, 7, 7, 49, 49, 49, 49], [48, 11, 2, 30, 41, 5, 49, 49]])  # repeated ids accumulate
    out = model(ids)
    r = torch.randn(out.shape, generator=gen)
    (out * r).sum().backward()
    g = {"ids": ids, "last_hidden_state": out.detach(), "r": r}
    for pname, p in model.named_parameters():
        g["grad." + pname] = p.grad
    save_safetensors(os.path.join(d, "golden.safetensors"), g)
    print(f"clip_tiny: {sum(p.numel() for p in model.parameters())} parameters")


# The Diffusion-DPO case: one micro-batch of DPO_PAIRS pairs on the `tiny` UNet.
DPO_PAIRS = 3
DPO_BETA = 40.0       # |z| in [0.27, 1.7]: sigma(-z) in [0.26, 0.84], far from saturation
DPO_PERTURB = 0.5     # policy = reference + DPO_PERTURB * rms(p) * N(0, 1) on every bias and norm scale
DPO_TIMESTEPS = [50, 400, 900]
DPO_IDS = [[48, 5, 9, 21, 49, 49, 49, 49], [48, 33, 2, 2, 7, 49, 49, 49], [48, 17, 40, 12, 3, 26, 11, 49]]


def pair_batch():
    """The micro-batch the DPO and DSPO cases share: reference tiny/unet, text encoder
    clip_tiny/text_encoder, a policy that differs from the reference in every 1-D tensor
    (biases, norm scales), rows [winners; losers], each pair sharing noise, timestep and
    caption, its two images independent. Float64 models and inputs."""
    cfg = UNET_CONFIGS["tiny"]
    ref, _ = make_unet(cfg)
    clip, _ = make_clip()
    gen = torch.Generator().manual_seed(2311)  # Diffusion-DPO's arXiv number
    policy = UNet2DConditionModel(cfg)
    policy.load_state_dict(ref.state_dict())
    with torch.no_grad():
        for p in policy.parameters():
            if p.dim() == 1:
                p.add_(DPO_PERTURB * p.pow(2).mean().sqrt() * torch.randn(p.shape, generator=gen))
    b, s, c = DPO_PAIRS, cfg["sample_size"], cfg["in_channels"]
    x0 = torch.randn(2 * b, c, s, s, generator=gen)              # winners then losers: independent images
    noise = torch.randn(b, c, s, s, generator=gen).repeat(2, 1, 1, 1)
    t = torch.tensor(DPO_TIMESTEPS * 2, dtype=torch.float32)
    ids = torch.tensor(DPO_IDS * 2)
    betas = torch.linspace(0.00085 ** 0.5, 0.012 ** 0.5, 1000, dtype=torch.float64) ** 2  # SD's scaled_linear
    acp = torch.cumprod(1 - betas, 0)[t.long()].float()[:, None, None, None]
    x_t = acp.sqrt() * x0 + (1 - acp).sqrt() * noise
    return ref.double(), policy.double(), clip.double(), x_t, noise, t, ids


def save_pair_golden(out_dir, name, policy, g):
    """Adds grad.<name> of every policy parameter and policy.<name> of its 1-D tensors
    (the rest equals tiny/unet's) to g and writes OUT_DIR/<name>/golden.safetensors."""
    for pname, p in policy.named_parameters():
        g["grad." + pname] = p.grad
        if p.dim() == 1:
            g["policy." + pname] = p.detach()
    d = os.path.join(out_dir, name)
    os.makedirs(d, exist_ok=True)
    save_safetensors(os.path.join(d, "golden.safetensors"), {k: v.float() if v.is_floating_point() else v
                                                             for k, v in g.items()})


def dpo_golden(out_dir):
    """OUT_DIR/tiny_dpo/golden.safetensors: a Diffusion-DPO micro-batch in float64 (pair_batch).

    Official loss (docs/OBJECTIVES.md): z = -beta/2 ((e_w - e_l) - (r_w - r_l)),
    loss = mean softplus(-z). Records the inputs (x_t, target = noise, timesteps, ids,
    beta), e (mse), r (mse_ref), z, coef = dloss/de, loss, implicit_acc and grad.<name>
    of the loss for every policy parameter.
    """
    ref, policy, clip, x_t, noise, t, ids = pair_batch()
    b = DPO_PAIRS
    with torch.no_grad():
        ctx = clip(ids)
        r = ((ref(x_t.double(), t, ctx) - noise.double()) ** 2).mean(dim=(1, 2, 3))
    e = ((policy(x_t.double(), t, ctx) - noise.double()) ** 2).mean(dim=(1, 2, 3))
    e.retain_grad()
    z = -0.5 * DPO_BETA * ((e[:b] - e[b:]) - (r[:b] - r[b:]))
    loss = F.softplus(-z).mean()
    loss.backward()
    g = {"x_t": x_t, "target": noise, "timesteps": t, "ids": ids, "beta": torch.tensor([DPO_BETA]),
         "mse": e.detach(), "mse_ref": r, "z": z.detach(), "coef": e.grad, "loss": loss.detach().reshape(1),
         "implicit_acc": (z > 0).double().mean().reshape(1)}
    save_pair_golden(out_dir, "tiny_dpo", policy, g)
    print(f"tiny_dpo: beta {DPO_BETA}, z {[round(v, 4) for v in z.tolist()]}, loss {loss.item():.6f}")


DSPO_BETA = 0.8  # c = beta sigma(-z) ~ 0.4: both backward terms (1 - c and c^2 - c) count


def dspo_golden(out_dir):
    """OUT_DIR/tiny_dspo/golden.safetensors: the DSPO loss of the official SD1.5 code on
    pair_batch's micro-batch, written elementwise (not from per-sample errors):
    z = -beta/2 ((e_w - e_l) - (r_w - r_l)) (not detached), c = beta (1 - sigma(z)),
    loss = mean over the winners' elements of ((pred_w - eps) - c (pred_w - pred_ref,w))^2.
    Records the inputs, beta, mse, mse_ref, q (mean (pred - pred_ref)^2 per row), loss and
    grad.<name> of the loss for every policy parameter.
    """
    ref, policy, clip, x_t, noise, t, ids = pair_batch()
    b = DPO_PAIRS
    with torch.no_grad():
        ctx = clip(ids)
        ref_pred = ref(x_t.double(), t, ctx)
    pred = policy(x_t.double(), t, ctx)
    target = noise.double()
    e = ((pred - target) ** 2).mean(dim=(1, 2, 3))
    r = ((ref_pred - target) ** 2).mean(dim=(1, 2, 3))
    z = -0.5 * DSPO_BETA * ((e[:b] - e[b:]) - (r[:b] - r[b:]))
    c = DSPO_BETA * (1 - torch.sigmoid(z))
    loss = ((pred[:b] - target[:b]) - c[:, None, None, None] * (pred[:b] - ref_pred[:b])).pow(2).mean()
    loss.backward()
    q = ((pred - ref_pred) ** 2).mean(dim=(1, 2, 3))
    g = {"x_t": x_t, "target": noise, "timesteps": t, "ids": ids, "beta": torch.tensor([DSPO_BETA]),
         "mse": e.detach(), "mse_ref": r, "q": q.detach(), "loss": loss.detach().reshape(1)}
    save_pair_golden(out_dir, "tiny_dspo", policy, g)
    print(f"tiny_dspo: beta {DSPO_BETA}, c {[round(v, 4) for v in c.tolist()]}, loss {loss.item():.6f}")


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                                 "golden")
    torch.set_num_threads(1)
    for name, cfg in UNET_CONFIGS.items():
        unet_golden(name, cfg, out_dir)
    clip_golden(out_dir)
    dpo_golden(out_dir)
    dspo_golden(out_dir)


if __name__ == "__main__":
    main()
