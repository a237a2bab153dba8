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

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import CLIPTextModel, UNet2DConditionModel, save_safetensors  # noqa: E402

UNET_CONFIGS = {
    # MODEL.md's `tiny`
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


def unet_golden(name, cfg, out_dir):
    gen = torch.Generator().manual_seed(1234)
    torch.manual_seed(1234)
    model = UNet2DConditionModel(cfg)
    randomize(model, gen)
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
    gen = torch.Generator().manual_seed(99)
    torch.manual_seed(99)
    model = CLIPTextModel(CLIP_CONFIG)
    randomize(model, gen)
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


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                                 "golden")
    torch.set_num_threads(1)
    for name, cfg in UNET_CONFIGS.items():
        unet_golden(name, cfg, out_dir)
    clip_golden(out_dir)


if __name__ == "__main__":
    main()
