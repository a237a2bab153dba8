#!/usr/bin/python3
"""Writes the golden data of the VAE tests with diffusers' own AutoencoderKL code.

Usage: tools/make_vae_golden.py DIFFUSERS_SRC [OUT_DIR]
       tools/make_vae_golden.py DIFFUSERS_SRC --sd OUT_DIR [H W]
       tools/make_vae_golden.py --compare GOT.safetensors WANT.safetensors
  DIFFUSERS_SRC: the src/ folder of a diffusers checkout (it holds diffusers/models/...);
  OUT_DIR: default tests/data/golden. Needs Debian's python3-torch only.
  --sd: the same for Stable Diffusion's VAE architecture (83,653,863 random
  parameters, a 335 MB folder: not for the repository) on one 40 x 32 image (or
  H x W: 512 512 as SD 1.5 runs it, ~2 GB of memory in PyTorch), as
  OUT_DIR/sd/{vae/, golden.safetensors}; check with
    vkpref forward --vae OUT_DIR/sd/vae --inputs OUT_DIR/sd/golden.safetensors --out got.safetensors
    tools/make_vae_golden.py --compare got.safetensors OUT_DIR/sd/golden.safetensors
  --compare: max |got - want| / max |want| of every tensor the two files share.

diffusers is not a Debian package and its package __init__ pulls in half of the
Hugging Face stack, so this loads only the modules the VAE is made of
(models/autoencoders/vae.py: Encoder, Decoder, DiagonalGaussianDistribution;
unets/unet_2d_blocks.py; resnet.py; attention_processor.py; downsampling.py;
upsampling.py; activations.py; normalization.py), unmodified, from DIFFUSERS_SRC,
with small stand-ins for the utilities they import (logging, deprecation, version
checks) and for the modules the VAE does not use (transformers, embeddings).
AutoencoderKL itself (autoencoder_kl.py) is a ModelMixin / ConfigMixin; its VAE
part is four attributes and two lines of forward, restated below with the same
attribute names (so state_dict() keys are diffusers'), and checked against the
source: the script fails if autoencoder_kl.py no longer builds the model that way.

For each config it writes OUT_DIR/<name>/vae/{config.json,
diffusion_pytorch_model.safetensors} (a diffusers vae/ folder) and
OUT_DIR/<name>/golden.safetensors: pixels [B, in, H, W] in [-1, 1], the encoder's
latent_mean and latent_logvar (posterior parameters, logvar clamped), latents
[B, latent, h, w] and decoded = decoder(latents). tiny_vae also gets
vae_legacy/ (the same weights under the original SD VAE file's mid-attention names
query / key / value / proj_attn) and vae_f16/ (weights rounded to float16, in
diffusers' variant file diffusion_pytorch_model.fp16.safetensors; its
golden_f16.safetensors holds the model's outputs with those rounded weights).
"""
import importlib.util
import json
import struct
import logging
import os
import re
import sys
import types

import torch
import torch.nn as nn


VAE_CONFIGS = {
    # two blocks, one layer: the smallest model with every part (shortcut convs, a
    # downsampler and an upsampler, the mid attention)
    "tiny_vae": {
        "in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": [8, 16],
        "down_block_types": ["DownEncoderBlock2D"] * 2, "up_block_types": ["UpDecoderBlock2D"] * 2,
        "layers_per_block": 1, "norm_num_groups": 4, "sample_size": 16, "scaling_factor": 0.18215,
        "act_fn": "silu",
    },
    # three blocks, two layers, 2 latent channels, non-square images whose sizes
    # go odd on the way down (22 x 18 -> 11 x 9 -> 5 x 4), 4 output channels
    "tiny_vae_odd": {
        "in_channels": 3, "out_channels": 4, "latent_channels": 2, "block_out_channels": [4, 8, 8],
        "down_block_types": ["DownEncoderBlock2D"] * 3, "up_block_types": ["UpDecoderBlock2D"] * 3,
        "layers_per_block": 2, "norm_num_groups": 2, "sample_size": 22, "scaling_factor": 0.5,
    },
}
SD_CONFIG = {  # Stable Diffusion 1.x / 2.x vae/config.json
    "in_channels": 3, "out_channels": 3, "latent_channels": 4, "block_out_channels": [128, 256, 512, 512],
    "down_block_types": ["DownEncoderBlock2D"] * 4, "up_block_types": ["UpDecoderBlock2D"] * 4,
    "layers_per_block": 2, "norm_num_groups": 32, "sample_size": 512, "scaling_factor": 0.18215, "act_fn": "silu",
}
IMAGES = {"tiny_vae": (2, 16, 16), "tiny_vae_odd": (2, 22, 18), "sd": (1, 40, 32)}  # batch, H, W


# ---------------------------------------------------------------------------
# diffusers' modules without the diffusers package


def _stub(name, attrs=None, package=False):
    m = types.ModuleType(name)
    if package:
        m.__path__ = []

    class _Unused:  # anything the VAE's modules import but never use
        def __init__(self, *a, **k):
            raise RuntimeError(f"{name}: not available in this loader")

    m.__getattr__ = lambda attr: _Unused
    for k, v in (attrs or {}).items():
        setattr(m, k, v)
    sys.modules[name] = m
    return m


def _torch_version_is(op, ver):
    def parse(s):
        return tuple(int(x) for x in re.findall(r"\d+", s)[:3])
    a, b = parse(torch.__version__), parse(ver)
    return {"<": a < b, "<=": a <= b, "==": a == b, "!=": a != b, ">=": a >= b, ">": a > b}[op]


def load_diffusers_vae(src):
    root = os.path.join(src, "diffusers")
    if not os.path.isfile(os.path.join(root, "models", "autoencoders", "vae.py")):
        sys.exit(f"{src}: not a diffusers src/ folder (no diffusers/models/autoencoders/vae.py)")
    no = lambda *a, **k: False  # noqa: E731
    utils = dict(deprecate=lambda *a, **k: None, logging=types.SimpleNamespace(get_logger=logging.getLogger),
                 BaseOutput=object, is_torch_version=_torch_version_is, is_torch_available=lambda: True,
                 is_torch_npu_available=no, is_torch_xla_available=no, is_torch_xla_version=no,
                 is_xformers_available=no, maybe_allow_in_graph=lambda c: c, apply_freeu=None,
                 randn_tensor=lambda shape, generator=None, device=None, dtype=None: torch.randn(
                     shape, generator=generator, device=device, dtype=dtype))
    _stub("diffusers", package=True)
    _stub("diffusers.utils", utils, package=True)
    _stub("diffusers.utils.import_utils", utils)
    _stub("diffusers.utils.torch_utils", utils)
    _stub("diffusers.image_processor")
    for p in ["models", "models.unets", "models.autoencoders", "models.transformers"]:
        _stub("diffusers." + p, package=True)
    for p in ["models.embeddings", "models.transformers.dual_transformer_2d", "models.transformers.transformer_2d"]:
        _stub("diffusers." + p)
    mods = {}
    for rel in ["activations", "normalization", "attention_processor", "upsampling", "downsampling", "resnet",
                "unets.unet_2d_blocks", "autoencoders.vae"]:
        name = "diffusers.models." + rel
        spec = importlib.util.spec_from_file_location(name, os.path.join(root, "models", *rel.split(".")) + ".py")
        mod = importlib.util.module_from_spec(spec)
        sys.modules[name] = mod
        spec.loader.exec_module(mod)
        mods[rel] = mod
    check_autoencoder_kl(os.path.join(root, "models", "autoencoders", "autoencoder_kl.py"))
    return mods["autoencoders.vae"]


def check_autoencoder_kl(path):
    """The lines of AutoencoderKL that AutoencoderKLGolden restates must still be there."""
    text = open(path).read()
    for line in ["self.encoder = Encoder(", "self.decoder = Decoder(", "double_z=True",
                 "self.quant_conv = nn.Conv2d(2 * latent_channels, 2 * latent_channels, 1) if use_quant_conv else None",
                 "self.post_quant_conv = nn.Conv2d(latent_channels, latent_channels, 1) if use_post_quant_conv else None",
                 "enc = self.quant_conv(enc)", "posterior = DiagonalGaussianDistribution(h)", "z = self.post_quant_conv(z)",
                 "dec = self.decoder(z)"]:
        if line not in text:
            sys.exit(f"{path}: no longer contains `{line}`: update AutoencoderKLGolden")


def make_autoencoder(vae_mod, cfg):
    """diffusers' AutoencoderKL.__init__ (autoencoder_kl.py) with its defaults, minus the mixins."""
    class AutoencoderKLGolden(nn.Module):
        def __init__(self):
            super().__init__()
            kw = dict(block_out_channels=cfg["block_out_channels"], layers_per_block=cfg["layers_per_block"],
                      act_fn=cfg.get("act_fn", "silu"), norm_num_groups=cfg["norm_num_groups"],
                      mid_block_add_attention=cfg.get("mid_block_add_attention", True))
            self.encoder = vae_mod.Encoder(in_channels=cfg["in_channels"], out_channels=cfg["latent_channels"],
                                           down_block_types=cfg["down_block_types"], double_z=True, **kw)
            self.decoder = vae_mod.Decoder(in_channels=cfg["latent_channels"], out_channels=cfg["out_channels"],
                                           up_block_types=cfg["up_block_types"], **kw)
            lat = cfg["latent_channels"]
            self.quant_conv = nn.Conv2d(2 * lat, 2 * lat, 1) if cfg.get("use_quant_conv", True) else None
            self.post_quant_conv = nn.Conv2d(lat, lat, 1) if cfg.get("use_post_quant_conv", True) else None

        def encode(self, x):  # AutoencoderKL._encode + encode
            h = self.encoder(x)
            if self.quant_conv is not None:
                h = self.quant_conv(h)
            return vae_mod.DiagonalGaussianDistribution(h)

        def decode(self, z):  # AutoencoderKL._decode
            if self.post_quant_conv is not None:
                z = self.post_quant_conv(z)
            return self.decoder(z)

    return AutoencoderKLGolden()


# ---------------------------------------------------------------------------


def save_safetensors(path, tensors):
    """A safetensors file of F32 / F16 tensors (names sorted, contiguous offsets)."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        dt = {torch.float32: "F32", torch.float16: "F16"}[t.dtype]
        b = t.numpy().tobytes()
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def randomize(model, gen):
    """Default init, then noise on every 1-D tensor (biases, norm scales) so none is trivial."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() == 1:
                p.add_(0.1 * torch.randn(p.shape, generator=gen))


LEGACY = {"to_q": "query", "to_k": "key", "to_v": "value", "to_out.0": "proj_attn"}


def legacy_names(sd):
    out = {}
    for k, v in sd.items():
        m = re.match(r"(.*mid_block\.attentions\.0\.)(to_q|to_k|to_v|to_out\.0)\.(weight|bias)$", k)
        out[m.group(1) + LEGACY[m.group(2)] + "." + m.group(3) if m else k] = v
    return out


def write_vae_folder(d, cfg, sd, dtype=torch.float32):
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "config.json"), "w") as f:
        json.dump(dict(cfg, _class_name="AutoencoderKL"), f, indent=2)
    name = "diffusion_pytorch_model.fp16.safetensors" if dtype == torch.float16 else "diffusion_pytorch_model.safetensors"
    save_safetensors(os.path.join(d, name), {k: v.to(dtype) for k, v in sd.items()})


@torch.no_grad()
def run(model, pixels, latents):
    post = model.encode(pixels)
    return {"latent_mean": post.mean, "latent_logvar": post.logvar, "decoded": model.decode(latents)}


@torch.no_grad()
def vae_golden(vae_mod, name, cfg, out_dir, image=None):
    gen = torch.Generator().manual_seed(4242)
    torch.manual_seed(4242)
    model = make_autoencoder(vae_mod, cfg)
    randomize(model, gen)
    model.eval()
    sd = {k: v.detach().clone() for k, v in model.state_dict().items()}
    d = os.path.join(out_dir, name)
    write_vae_folder(os.path.join(d, "vae"), cfg, sd)

    b, hh, ww = image or IMAGES[name]
    pixels = torch.rand(b, cfg["in_channels"], hh, ww, generator=gen) * 2 - 1
    post = model.encode(pixels)
    lh, lw = post.mean.shape[2:]
    latents = torch.randn(b, cfg["latent_channels"], lh, lw, generator=gen)
    g = dict(pixels=pixels, latents=latents, latent_mean=post.mean, latent_logvar=post.logvar,
             decoded=model.decode(latents))
    save_safetensors(os.path.join(d, "golden.safetensors"), g)
    print(f"{name}: {sum(p.numel() for p in model.parameters())} parameters, latents {list(latents.shape)}, "
          f"decoded {list(g['decoded'].shape)}")

    if name == "tiny_vae":
        write_vae_folder(os.path.join(d, "vae_legacy"), cfg, legacy_names(sd))
        # A diffusers model loads the old names too (its _convert_deprecated_attention_blocks).
        # F16 weights: the golden outputs are the model's with the weights rounded to F16.
        write_vae_folder(os.path.join(d, "vae_f16"), cfg, sd, torch.float16)
        model.load_state_dict({k: v.half().float() for k, v in sd.items()})
        save_safetensors(os.path.join(d, "golden_f16.safetensors"), run(model, pixels, latents))


def read_safetensors(path):
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for k, v in header.items():
        if k == "__metadata__":
            continue
        dt = {"F32": torch.float32, "F16": torch.float16}[v["dtype"]]
        b, e = v["data_offsets"]
        out[k] = torch.frombuffer(bytearray(data[b:e]), dtype=dt).reshape(v["shape"]).float()
    return out


def compare(got_path, want_path):
    got, want = read_safetensors(got_path), read_safetensors(want_path)
    for k in sorted(set(got) & set(want)):
        err = (got[k] - want[k]).abs().max() / want[k].abs().max()
        print(f"{k} {list(got[k].shape)}: max |got - want| / max |want| = {err:.2e}")


def main():
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    if sys.argv[1] == "--compare" and len(sys.argv) == 4:
        return compare(sys.argv[2], sys.argv[3])
    if len(sys.argv) in (4, 6) and sys.argv[2] == "--sd":
        torch.set_num_threads(2)
        image = (1, int(sys.argv[4]), int(sys.argv[5])) if len(sys.argv) == 6 else None
        return vae_golden(load_diffusers_vae(sys.argv[1]), "sd", SD_CONFIG, sys.argv[3], image)
    out_dir = sys.argv[2] if len(sys.argv) > 2 else os.path.join(os.path.dirname(__file__), "..", "tests", "data",
                                                                 "golden")
    torch.set_num_threads(1)
    vae_mod = load_diffusers_vae(sys.argv[1])
    for name, cfg in VAE_CONFIGS.items():
        vae_golden(vae_mod, name, cfg, out_dir)


if __name__ == "__main__":
    main()
