#!/usr/bin/python3
"""Writes a Stable Diffusion-architecture pipeline folder with random weights, laid
out as diffusers and transformers write one:

  model_index.json            StableDiffusionPipeline with unet, text_encoder,
                              tokenizer, scheduler and vae
  unet/                       UNet2DConditionModel: config.json,
                              diffusion_pytorch_model.safetensors and the
                              .fp16.safetensors variant
  text_encoder/               CLIPTextModel (quick_gelu): config.json,
                              model.safetensors, model.fp16.safetensors
  tokenizer/                  CLIP byte-level BPE: vocab.json, merges.txt,
                              tokenizer_config.json, special_tokens_map.json
  vae/                        AutoencoderKL with the original SD file's mid-block
                              attention names (query/key/value/proj_attn);
                              config.json, diffusion_pytorch_model.safetensors,
                              .fp16.safetensors
  scheduler/                  SD 1.5's PNDMScheduler config

--size tiny (the default) makes the small pipeline the tests use (64 px images,
8 x 8 latents, about 1.3 MB of files); --size sd15 makes one with exactly Stable
Diffusion 1.5's configs (859.5M UNet, 123M text encoder, 83.7M VAE: about 4.3 GB
of F32 files plus the fp16 ones) for measuring speed and memory at 512 px. The
tokenizer is small (every byte, the special tokens and merges of a few words)
whatever the size: the real one's 49,408 entries are not needed to exercise the
model, whose embedding table has the configured vocab_size rows.

Usage: tools/make_sd_pipeline.py OUT_DIR [--size tiny|sd15] [--seed N] [--flavor sd15|sd2]
--flavor sd2 writes SD 2.x's UNet options instead (attention_head_dim list,
use_linear_projection, v_prediction, 1024-wide cross-attention at sd15 size).
Needs Debian's python3-torch only.
"""
import argparse
import json
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from torch_models import CLIPTextModel, UNet2DConditionModel, save_safetensors  # noqa: E402

WORDS = ("a photo of the cat dog on red blue green shirt dress bag in an with and "
         "painting portrait landscape sunset city").split()


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, (chr(c) for c in cs)))


def learn_merges(words, count):
    """Plain BPE on the word list (each word ending in </w>): the most frequent pair first."""
    seqs = [list(w[:-1]) + [w[-1] + "</w>"] for w in words]
    merges = []
    while len(merges) < count:
        freq = {}
        for s in seqs:
            for a, b in zip(s, s[1:]):
                freq[(a, b)] = freq.get((a, b), 0) + 1
        if not freq:
            break
        best = max(sorted(freq), key=lambda p: freq[p])
        merges.append(best)
        for i, s in enumerate(seqs):
            out, j = [], 0
            while j < len(s):
                if j + 1 < len(s) and (s[j], s[j + 1]) == best:
                    out.append(s[j] + s[j + 1])
                    j += 2
                else:
                    out.append(s[j])
                    j += 1
            seqs[i] = out
    return merges


def write_tokenizer(d, max_length):
    os.makedirs(d, exist_ok=True)
    b2u = bytes_to_unicode()
    vocab = {}
    for b in range(256):
        vocab[b2u[b]] = len(vocab)
    for b in range(256):
        vocab[b2u[b] + "</w>"] = len(vocab)
    merges = learn_merges(WORDS, 60)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    with open(os.path.join(d, "vocab.json"), "w", encoding="utf-8") as f:
        json.dump(vocab, f, ensure_ascii=False)
    with open(os.path.join(d, "merges.txt"), "w", encoding="utf-8") as f:
        f.write("#version: 0.2\n" + "".join(f"{a} {b}\n" for a, b in merges))
    special = {"bos_token": "<|startoftext|>", "eos_token": "<|endoftext|>", "pad_token": "<|endoftext|>",
               "unk_token": "<|endoftext|>"}
    with open(os.path.join(d, "special_tokens_map.json"), "w") as f:
        json.dump(special, f, indent=2)
    cfg = {"add_prefix_space": False, "do_lower_case": True, "errors": "replace", "model_max_length": max_length,
           "tokenizer_class": "CLIPTokenizer", **special}
    with open(os.path.join(d, "tokenizer_config.json"), "w") as f:
        json.dump(cfg, f, indent=2)
    return len(vocab)


def write_config(d, name, cfg):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "w") as f:
        json.dump(cfg, f, indent=2)


def write_weights(d, stem, tensors):
    """stem.safetensors (F32) and stem.fp16.safetensors (the half variant diffusers' --variant fp16 reads)."""
    save_safetensors(os.path.join(d, stem + ".safetensors"), tensors, {"format": "pt"})
    save_safetensors(os.path.join(d, stem + ".fp16.safetensors"), {k: v.half() for k, v in tensors.items()},
                     {"format": "pt"})


def vae_shapes(cfg):
    """(name, shape) of every AutoencoderKL parameter, mid-block attention under the original SD names."""
    boc, lpb, lat = cfg["block_out_channels"], cfg["layers_per_block"], cfg["latent_channels"]
    out = []

    def conv(n, o, i, k):
        out.extend([(n + ".weight", (o, i, k, k)), (n + ".bias", (o,))])

    def norm(n, c):
        out.extend([(n + ".weight", (c,)), (n + ".bias", (c,))])

    def resnet(n, i, o):
        norm(n + ".norm1", i), conv(n + ".conv1", o, i, 3), norm(n + ".norm2", o), conv(n + ".conv2", o, o, 3)
        if i != o:
            conv(n + ".conv_shortcut", o, i, 1)

    def mid(n, c):
        resnet(n + ".resnets.0", c, c)
        norm(n + ".attentions.0.group_norm", c)
        for p in ("query", "key", "value", "proj_attn"):
            out.extend([(f"{n}.attentions.0.{p}.weight", (c, c)), (f"{n}.attentions.0.{p}.bias", (c,))])
        resnet(n + ".resnets.1", c, c)

    conv("encoder.conv_in", boc[0], cfg["in_channels"], 3)
    prev = boc[0]
    for i, c in enumerate(boc):
        for j in range(lpb):
            resnet(f"encoder.down_blocks.{i}.resnets.{j}", prev if j == 0 else c, c)
        prev = c
        if i < len(boc) - 1:
            conv(f"encoder.down_blocks.{i}.downsamplers.0.conv", c, c, 3)
    mid("encoder.mid_block", boc[-1])
    norm("encoder.conv_norm_out", boc[-1])
    conv("encoder.conv_out", 2 * lat, boc[-1], 3)
    conv("quant_conv", 2 * lat, 2 * lat, 1)
    conv("post_quant_conv", lat, lat, 1)
    conv("decoder.conv_in", boc[-1], lat, 3)
    mid("decoder.mid_block", boc[-1])
    rev = list(reversed(boc))
    prev = rev[0]
    for i, c in enumerate(rev):
        for j in range(lpb + 1):
            resnet(f"decoder.up_blocks.{i}.resnets.{j}", prev if j == 0 else c, c)
        prev = c
        if i < len(rev) - 1:
            conv(f"decoder.up_blocks.{i}.upsamplers.0.conv", c, c, 3)
    norm("decoder.conv_norm_out", boc[0])
    conv("decoder.conv_out", cfg["out_channels"], boc[0], 3)
    return out


def vae_weights(cfg, gen):
    """Norm scales 1 and shifts 0 (with a little noise), other weights uniform in +-1/sqrt(fan_in) as torch's default."""
    t = {}
    for name, shape in vae_shapes(cfg):
        is_norm = ("norm" in name.split(".")[-2]) and len(shape) == 1
        if is_norm:
            base = 1.0 if name.endswith("weight") else 0.0
            t[name] = base + 0.05 * torch.randn(shape, generator=gen)
        else:
            fan_in = shape[1] * (shape[2] * shape[3] if len(shape) == 4 else 1) if len(shape) > 1 else shape[0]
            bound = 1.0 / fan_in ** 0.5
            t[name] = (torch.rand(shape, generator=gen) * 2 - 1) * bound
    return t


def configs(size, flavor, vocab):
    sd2 = flavor == "sd2"
    if size == "sd15":
        unet = {"block_out_channels": [320, 640, 1280, 1280], "layers_per_block": 2, "norm_num_groups": 32,
                "cross_attention_dim": 1024 if sd2 else 768, "attention_head_dim": [5, 10, 20, 20] if sd2 else 8,
                "sample_size": 64}
        clip = {"hidden_size": 1024 if sd2 else 768, "intermediate_size": 4096 if sd2 else 3072,
                "num_hidden_layers": 23 if sd2 else 12, "num_attention_heads": 16 if sd2 else 12,
                "vocab_size": 49408, "hidden_act": "gelu" if sd2 else "quick_gelu"}
        vae = {"block_out_channels": [128, 256, 512, 512], "layers_per_block": 2, "norm_num_groups": 32,
               "sample_size": 512}
    else:
        unet = {"block_out_channels": [16, 32], "layers_per_block": 1, "norm_num_groups": 4,
                "cross_attention_dim": 16, "attention_head_dim": [2, 4] if sd2 else 2, "sample_size": 8}
        clip = {"hidden_size": 16, "intermediate_size": 32, "num_hidden_layers": 2, "num_attention_heads": 2,
                "vocab_size": vocab, "hidden_act": "quick_gelu"}
        vae = {"block_out_channels": [8, 16, 16, 16], "layers_per_block": 1, "norm_num_groups": 4,
               "sample_size": 64}
    unet.update({
        "_class_name": "UNet2DConditionModel", "_diffusers_version": "0.27.2", "act_fn": "silu",
        "center_input_sample": False, "downsample_padding": 1, "flip_sin_to_cos": True, "freq_shift": 0,
        "in_channels": 4, "out_channels": 4, "mid_block_scale_factor": 1, "norm_eps": 1e-5,
        "down_block_types": ["CrossAttnDownBlock2D"] * (len(unet["block_out_channels"]) - 1) + ["DownBlock2D"],
        "up_block_types": ["UpBlock2D"] + ["CrossAttnUpBlock2D"] * (len(unet["block_out_channels"]) - 1),
        "use_linear_projection": sd2, "upcast_attention": sd2, "dual_cross_attention": False,
        "only_cross_attention": False, "class_embed_type": None, "num_class_embeds": None,
    })
    clip.update({"_name_or_path": "openai/clip-vit-large-patch14", "architectures": ["CLIPTextModel"],
                 "attention_dropout": 0.0, "bos_token_id": 0, "dropout": 0.0, "eos_token_id": 2,
                 "initializer_factor": 1.0, "initializer_range": 0.02, "layer_norm_eps": 1e-5,
                 "max_position_embeddings": 77, "model_type": "clip_text_model", "pad_token_id": 1,
                 "projection_dim": 768, "torch_dtype": "float32", "transformers_version": "4.22.0.dev0"})
    vae.update({"_class_name": "AutoencoderKL", "_diffusers_version": "0.27.2", "act_fn": "silu",
                "in_channels": 3, "out_channels": 3, "latent_channels": 4, "scaling_factor": 0.18215,
                "down_block_types": ["DownEncoderBlock2D"] * len(vae["block_out_channels"]),
                "up_block_types": ["UpDecoderBlock2D"] * len(vae["block_out_channels"])})
    sched = {"_class_name": "DDIMScheduler" if sd2 else "PNDMScheduler", "_diffusers_version": "0.27.2",
             "beta_end": 0.012, "beta_schedule": "scaled_linear", "beta_start": 0.00085, "clip_sample": False,
             "num_train_timesteps": 1000, "set_alpha_to_one": False, "skip_prk_steps": True, "steps_offset": 1,
             "prediction_type": "v_prediction" if sd2 else "epsilon", "trained_betas": None}
    return unet, clip, vae, sched


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("out")
    ap.add_argument("--size", choices=("tiny", "sd15"), default="tiny")
    ap.add_argument("--flavor", choices=("sd15", "sd2"), default="sd15")
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    if os.path.exists(os.path.join(a.out, "model_index.json")):
        sys.exit(f"{a.out}: already holds a pipeline (remove it first)")
    torch.manual_seed(a.seed)
    gen = torch.Generator().manual_seed(a.seed)
    vocab = write_tokenizer(os.path.join(a.out, "tokenizer"), 77)
    unet_cfg, clip_cfg, vae_cfg, sched = configs(a.size, a.flavor, vocab)
    with torch.no_grad():
        unet = UNet2DConditionModel(unet_cfg)
        # torch's default init leaves zero biases; a little noise on every 1-d parameter (norms, biases)
        for p in unet.parameters():
            if p.dim() == 1:
                p.add_(0.05 * torch.randn(p.shape, generator=gen))
        d = os.path.join(a.out, "unet")
        write_config(d, "config.json", unet_cfg)
        write_weights(d, "diffusion_pytorch_model", dict(unet.state_dict()))
        del unet
        clip = CLIPTextModel(clip_cfg)
        d = os.path.join(a.out, "text_encoder")
        write_config(d, "config.json", clip_cfg)
        write_weights(d, "model", dict(clip.state_dict()))
        del clip
    d = os.path.join(a.out, "vae")
    write_config(d, "config.json", vae_cfg)
    write_weights(d, "diffusion_pytorch_model", vae_weights(vae_cfg, gen))
    write_config(os.path.join(a.out, "scheduler"), "scheduler_config.json", sched)
    index = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.2",
             "feature_extractor": [None, None], "safety_checker": [None, None], "requires_safety_checker": False,
             "scheduler": ["diffusers", sched["_class_name"]], "text_encoder": ["transformers", "CLIPTextModel"],
             "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
             "vae": ["diffusers", "AutoencoderKL"]}
    write_config(a.out, "model_index.json", index)  # last: a folder without it is unfinished
    print(f"{a.out}: {a.size} {a.flavor} pipeline written")


if __name__ == "__main__":
    main()
