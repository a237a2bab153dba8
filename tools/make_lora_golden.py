#!/usr/bin/python3
"""Writes the PyTorch golden data of the LoRA tests (tests/test_lora_golden.c).

Usage: tools/make_lora_golden.py [OUT_DIR]   (default tests/data/golden; needs Debian's python3-torch)

The base is the `tiny` UNet of tools/make_golden.py (OUT_DIR/tiny/unet, the same
seeded weights). Adapters are plain PyTorch written here, not vkpref's or PEFT's
code: y = base(x) + (alpha / r) B(A(x)), A a Linear [r, in] or a convolution
like the base's (stride, padding) to r channels, B a Linear [out, r] or a 1x1
convolution. They sit on attention (to_q, to_k, to_v, to_out.0), feed-forward
(ff.net.0.proj, ff.net.2) and ResNet convolutions (conv1, conv2), rank 3 and
lora_alpha 6 except where PEFT's patterns say otherwise (ff.net.2: rank 2;
conv2: alpha 1.5, as suffix patterns the way PEFT matches them). A and B are
random (B is zero at PEFT's initialisation, which would hide A's gradient).

OUT_DIR/tiny_lora/ gets
  peft.safetensors      diffusers/PEFT keys "unet.<module>.lora_A.weight" / "lora_B.weight"
                        with lora_adapter_metadata (unet.r, unet.lora_alpha, patterns)
  kohya.safetensors     the same adapters as kohya keys "lora_unet_<module with _>"
                        ".lora_down.weight" / ".lora_up.weight" / ".alpha"
  old_diffusers.safetensors  attention-only adapters in the older diffusers layout
                        "<attention>.processor.to_q_lora.down.weight" ... (no alpha: scale 1)
  text_encoder_kohya.safetensors / text_encoder_peft.safetensors: a UNet adapter plus
                        one key of SDXL's text encoders each (lora_te1_... / text_encoder_2....)
  te_peft.safetensors   adapters on every Linear of the text encoder clip_tiny (make_golden.py)
                        attention and MLP, rank 2, alpha 3: "text_encoder.<module>.lora_A.weight"
                        with metadata text_encoder.r / text_encoder.lora_alpha, beside one
                        UNet adapter (a file adapting both models, as kohya's and diffusers'
                        --train_text_encoder write)
  te_kohya.safetensors  the same as "lora_te_<module with _>.lora_down.weight" ... ".alpha"
  te_old.safetensors    the same A and B as diffusers 0.17+ wrote them
                        ("text_encoder.<module>.lora_linear_layer.down.weight", no alpha: scale 1)
  golden.safetensors    x_t, timesteps, encoder_hidden_states, noise; output (base +
                        the PEFT/kohya adapters), loss = mean((output - noise)^2),
                        grad.<module>.lora_A.weight / lora_B.weight of that loss;
                        output_old (base + the older diffusers adapters),
                        output_both (the PEFT and the older adapters applied together);
                        te_ids, te_output (clip_tiny's last_hidden_state with the te_peft
                        adapters), te_output_old (with te_old's, scale 1)
Computed in float64, stored as float32.
"""
import json
import os
import re
import sys

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_golden import UNET_CONFIGS, make_clip, make_unet  # noqa: E402
from torch_models import save_safetensors  # noqa: E402

TE_TARGETS = ["q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2"]
TE_RANK, TE_ALPHA = 2, 3.0
TARGETS = ["to_q", "to_k", "to_v", "to_out.0", "ff.net.0.proj", "ff.net.2", "conv1", "conv2"]
RANK, ALPHA = 3, 6.0
RANK_PATTERN = {"ff.net.2": 2}
ALPHA_PATTERN = {"conv2": 1.5}
OLD_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]
OLD_RANK = 2


def pattern_value(pattern, module, default):
    """PEFT's rule: a pattern key matches a module equal to it or ending with '.' + key."""
    for key, value in pattern.items():
        if re.fullmatch(rf"(.*\.)?{re.escape(key)}", module):
            return value
    return default


class LoraLinearOrConv(nn.Module):
    """base(x) + scale * B(A(x)); A and B random, scale = alpha / rank. `extra`: more
    (A, B, scale) adapters on the same layer, added (two files applied together)."""

    def __init__(self, base, rank, alpha, gen):
        super().__init__()
        self.base, self.rank, self.alpha, self.scale = base, rank, alpha, alpha / rank
        if isinstance(base, nn.Linear):
            a_shape, b_shape = (rank, base.in_features), (base.out_features, rank)
        else:
            a_shape = (rank, base.in_channels) + tuple(base.kernel_size)
            b_shape = (base.out_channels, rank, 1, 1)
        self.A = nn.Parameter(0.3 * torch.randn(a_shape, generator=gen, dtype=torch.float64))
        self.B = nn.Parameter(0.3 * torch.randn(b_shape, generator=gen, dtype=torch.float64))
        self.extra = []

    def low_rank(self, x, A, B):
        if isinstance(self.base, nn.Linear):
            return F.linear(F.linear(x, A), B)
        return F.conv2d(F.conv2d(x, A, stride=self.base.stride, padding=self.base.padding), B)

    def forward(self, x):
        y = self.base(x) + self.scale * self.low_rank(x, self.A, self.B)
        for A, B, scale in self.extra:
            y = y + scale * self.low_rank(x, A, B)
        return y


def add_adapters(model, targets, rank_of, alpha_of, gen):
    """Wraps every Linear/Conv2d whose name ends with a target; returns {module name: wrapper} in name order."""
    names = [n for n, m in model.named_modules()
             if isinstance(m, (nn.Linear, nn.Conv2d)) and any(re.fullmatch(rf"(.*\.)?{re.escape(t)}", n)
                                                             for t in targets)]
    wrapped = {}
    for name in sorted(names):
        parent_name, _, leaf = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        base = getattr(parent, leaf) if not leaf.isdigit() else parent[int(leaf)]
        w = LoraLinearOrConv(base, rank_of(name), alpha_of(name), gen)
        if leaf.isdigit():
            parent[int(leaf)] = w
        else:
            setattr(parent, leaf, w)
        wrapped[name] = w
    return wrapped


def kohya_key(module):
    return "lora_unet_" + module.replace(".", "_")


def f32(t):
    return t.detach().float().contiguous()


def main():
    out_root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                                  "golden")
    torch.set_num_threads(1)
    cfg = UNET_CONFIGS["tiny"]
    out_dir = os.path.join(out_root, "tiny_lora")
    os.makedirs(out_dir, exist_ok=True)

    # The inputs (their own generator: the base's weights are make_unet's).
    gen = torch.Generator().manual_seed(4242)
    n, s, length = 2, cfg["sample_size"], 5
    x = torch.randn(n, cfg["in_channels"], s, s, generator=gen, dtype=torch.float64)
    t = torch.tensor([31.0, 612.0], dtype=torch.float64)
    ctx = torch.randn(n, length, cfg["cross_attention_dim"], generator=gen, dtype=torch.float64)
    noise = torch.randn(n, cfg["out_channels"], s, s, generator=gen, dtype=torch.float64)

    # PEFT / kohya adapters: forward, loss, the adapters' gradients.
    model, _ = make_unet(cfg)
    model = model.double()
    for p in model.parameters():
        p.requires_grad_(False)
    ad = add_adapters(model, TARGETS, lambda m: pattern_value(RANK_PATTERN, m, RANK),
                      lambda m: pattern_value(ALPHA_PATTERN, m, ALPHA), gen)
    out = model(x, t, ctx)
    loss = ((out - noise) ** 2).mean()
    loss.backward()
    golden = {"x_t": x, "timesteps": t, "encoder_hidden_states": ctx, "noise": noise, "output": out,
              "loss": loss.reshape(1)}
    peft, kohya = {}, {}
    for name, w in ad.items():
        golden[f"grad.{name}.lora_A.weight"] = w.A.grad
        golden[f"grad.{name}.lora_B.weight"] = w.B.grad
        peft[f"unet.{name}.lora_A.weight"] = f32(w.A)
        peft[f"unet.{name}.lora_B.weight"] = f32(w.B)
        kohya[kohya_key(name) + ".lora_down.weight"] = f32(w.A)
        kohya[kohya_key(name) + ".lora_up.weight"] = f32(w.B)
        kohya[kohya_key(name) + ".alpha"] = torch.tensor(w.alpha, dtype=torch.float32)
    meta = {"unet.r": RANK, "unet.lora_alpha": ALPHA, "unet.rank_pattern": RANK_PATTERN,
            "unet.alpha_pattern": ALPHA_PATTERN, "unet.target_modules": TARGETS}
    save_safetensors(os.path.join(out_dir, "peft.safetensors"), peft,
                     {"format": "pt", "lora_adapter_metadata": json.dumps(meta)})
    save_safetensors(os.path.join(out_dir, "kohya.safetensors"), kohya, {"format": "pt"})

    # Files from the wild that also adapt the text encoder.
    first = next(iter(ad))  # one UNet adapter beside the text encoder's key
    te_kohya = {k: v for k, v in kohya.items() if k.startswith(kohya_key(first) + ".")}
    te_kohya["lora_te1_text_model_encoder_layers_0_self_attn_q_proj.lora_down.weight"] = torch.zeros(RANK, 16)
    save_safetensors(os.path.join(out_dir, "text_encoder_kohya.safetensors"), te_kohya, {"format": "pt"})
    te_peft = {k: v for k, v in peft.items() if k.startswith(f"unet.{first}.")}
    te_peft["text_encoder_2.text_model.encoder.layers.0.self_attn.q_proj.lora_A.weight"] = torch.zeros(RANK, 16)
    save_safetensors(os.path.join(out_dir, "text_encoder_peft.safetensors"), te_peft, {"format": "pt"})

    # Older diffusers attention processors: attention only, no alpha (scale 1).
    old_model, _ = make_unet(cfg)
    old_model = old_model.double()
    old = add_adapters(old_model, OLD_TARGETS, lambda m: OLD_RANK, lambda m: float(OLD_RANK), gen)
    with torch.no_grad():
        golden["output_old"] = old_model(x, t, ctx)
    # Both files applied together: the PEFT adapters plus the older ones, added.
    both_model, _ = make_unet(cfg)
    both_model = both_model.double()
    both = add_adapters(both_model, TARGETS, lambda m: pattern_value(RANK_PATTERN, m, RANK),
                        lambda m: pattern_value(ALPHA_PATTERN, m, ALPHA), torch.Generator().manual_seed(0))
    with torch.no_grad():
        for name, w in both.items():
            w.A.copy_(ad[name].A), w.B.copy_(ad[name].B)
            if name in old:
                w.extra.append((old[name].A, old[name].B, old[name].scale))
        golden["output_both"] = both_model(x, t, ctx)
    old_file = {}
    for name, w in old.items():
        attn, _, part = re.fullmatch(r"(.*)\.(to_q|to_k|to_v|to_out\.0)", name).group(1, 0, 2)
        part = "to_out" if part == "to_out.0" else part
        old_file[f"{attn}.processor.{part}_lora.down.weight"] = f32(w.A)
        old_file[f"{attn}.processor.{part}_lora.up.weight"] = f32(w.B)
    save_safetensors(os.path.join(out_dir, "old_diffusers.safetensors"), old_file)

    # Text-encoder adapters (after everything above: the UNet data keeps its generator's draws).
    te_gen = torch.Generator().manual_seed(5151)
    ids = torch.tensor([[48, 3, 7, 7, 49, 49, 49, 49], [48, 11, 2, 30, 41, 5, 49, 49]])
    clip = make_clip()[0].double()
    te = add_adapters(clip, TE_TARGETS, lambda m: TE_RANK, lambda m: TE_ALPHA, te_gen)
    old_clip = make_clip()[0].double()
    te_old = add_adapters(old_clip, TE_TARGETS, lambda m: TE_RANK, lambda m: float(TE_RANK), te_gen)
    with torch.no_grad():
        for name, w in te_old.items():
            w.A.copy_(te[name].A), w.B.copy_(te[name].B)
        golden["te_ids"] = ids.double()
        golden["te_output"] = clip(ids)
        golden["te_output_old"] = old_clip(ids)
    unet_one = {k: v for k, v in peft.items() if k.startswith(f"unet.{first}.")}
    te_peft_file, te_kohya_file, te_old_file = dict(unet_one), {}, {}
    for name, w in te.items():
        te_peft_file[f"text_encoder.{name}.lora_A.weight"] = f32(w.A)
        te_peft_file[f"text_encoder.{name}.lora_B.weight"] = f32(w.B)
        key = "lora_te_" + name.replace(".", "_")
        te_kohya_file[key + ".lora_down.weight"] = f32(w.A)
        te_kohya_file[key + ".lora_up.weight"] = f32(w.B)
        te_kohya_file[key + ".alpha"] = torch.tensor(TE_ALPHA, dtype=torch.float32)
        te_old_file[f"text_encoder.{name}.lora_linear_layer.down.weight"] = f32(w.A)
        te_old_file[f"text_encoder.{name}.lora_linear_layer.up.weight"] = f32(w.B)
    te_meta = {"unet.r": RANK, "unet.lora_alpha": ALPHA, "text_encoder.r": TE_RANK, "text_encoder.lora_alpha": TE_ALPHA}
    save_safetensors(os.path.join(out_dir, "te_peft.safetensors"), te_peft_file,
                     {"format": "pt", "lora_adapter_metadata": json.dumps(te_meta)})
    save_safetensors(os.path.join(out_dir, "te_kohya.safetensors"), te_kohya_file, {"format": "pt"})
    save_safetensors(os.path.join(out_dir, "te_old.safetensors"), te_old_file, {"format": "pt"})

    save_safetensors(os.path.join(out_dir, "golden.safetensors"), {k: f32(v) for k, v in golden.items()})
    print(f"tiny_lora: {len(ad)} adapters, {sum(w.A.numel() + w.B.numel() for w in ad.values())} adapter weights, "
          f"loss {loss.item():.6f}; {len(old)} older diffusers adapters; {len(te)} text-encoder adapters")


if __name__ == "__main__":
    main()
