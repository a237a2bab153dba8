"""Plain-PyTorch reference of the models vkpref implements.

An independent re-implementation of the diffusers UNet2DConditionModel subset
and the transformers CLIPTextModel that vkpref supports,
with module names chosen so that state_dict() keys are exactly the diffusers /
transformers parameter names. Debian packages no diffusers, so golden data for
the tests is made with this file (Debian's python3-torch only).
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


# ---------------------------------------------------------------------------
# UNet2DConditionModel


def timestep_embedding(t, dim, flip_sin_to_cos, freq_shift, max_period=10000):
    half = dim // 2
    exponent = -math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / (half - freq_shift)
    emb = t[:, None].float() * torch.exp(exponent)[None, :]
    emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=-1)
    if flip_sin_to_cos:
        emb = torch.cat([emb[:, half:], emb[:, :half]], dim=-1)
    return emb


class TimestepEmbedding(nn.Module):
    def __init__(self, cin, dim):
        super().__init__()
        self.linear_1 = nn.Linear(cin, dim)
        self.linear_2 = nn.Linear(dim, dim)

    def forward(self, x):
        return self.linear_2(F.silu(self.linear_1(x)))


class ResnetBlock2D(nn.Module):
    def __init__(self, cin, cout, temb, groups, eps):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, cin, eps=eps)
        self.conv1 = nn.Conv2d(cin, cout, 3, padding=1)
        self.time_emb_proj = nn.Linear(temb, cout)
        self.norm2 = nn.GroupNorm(groups, cout, eps=eps)
        self.conv2 = nn.Conv2d(cout, cout, 3, padding=1)
        self.conv_shortcut = nn.Conv2d(cin, cout, 1) if cin != cout else None

    def forward(self, x, temb):
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_emb_proj(F.silu(temb))[:, :, None, None]
        h = self.conv2(F.silu(self.norm2(h)))
        if self.conv_shortcut is not None:
            x = self.conv_shortcut(x)
        return x + h


class Attention(nn.Module):
    def __init__(self, qdim, kvdim, heads):
        super().__init__()
        self.heads = heads
        self.to_q = nn.Linear(qdim, qdim, bias=False)
        self.to_k = nn.Linear(kvdim, qdim, bias=False)
        self.to_v = nn.Linear(kvdim, qdim, bias=False)
        self.to_out = nn.ModuleList([nn.Linear(qdim, qdim), nn.Dropout(0.0)])

    def forward(self, x, ctx=None):
        ctx = x if ctx is None else ctx
        return self.to_out[0](sdpa(self.to_q(x), self.to_k(ctx), self.to_v(ctx), self.heads, causal=False))


def sdpa(q, k, v, heads, causal):
    n, t, c = q.shape
    s = k.shape[1]
    hd = c // heads
    q = q.view(n, t, heads, hd).transpose(1, 2)
    k = k.view(n, s, heads, hd).transpose(1, 2)
    v = v.view(n, s, heads, hd).transpose(1, 2)
    scores = q @ k.transpose(-1, -2) / math.sqrt(hd)
    if causal:
        mask = torch.triu(torch.ones(t, s, dtype=torch.bool, device=q.device), diagonal=1)
        scores = scores.masked_fill(mask, float("-inf"))
    o = torch.softmax(scores, dim=-1) @ v
    return o.transpose(1, 2).reshape(n, t, c)


class GEGLU(nn.Module):
    def __init__(self, dim, inner):
        super().__init__()
        self.proj = nn.Linear(dim, 2 * inner)

    def forward(self, x):
        h, gate = self.proj(x).chunk(2, dim=-1)
        return h * F.gelu(gate)


class FeedForward(nn.Module):
    def __init__(self, dim):
        super().__init__()
        self.net = nn.ModuleList([GEGLU(dim, 4 * dim), nn.Dropout(0.0), nn.Linear(4 * dim, dim)])

    def forward(self, x):
        return self.net[2](self.net[0](x))


class BasicTransformerBlock(nn.Module):
    def __init__(self, dim, heads, cross_dim):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn1 = Attention(dim, dim, heads)
        self.norm2 = nn.LayerNorm(dim)
        self.attn2 = Attention(dim, cross_dim, heads)
        self.norm3 = nn.LayerNorm(dim)
        self.ff = FeedForward(dim)

    def forward(self, h, ctx):
        h = self.attn1(self.norm1(h)) + h
        h = self.attn2(self.norm2(h), ctx) + h
        return self.ff(self.norm3(h)) + h


class Transformer2DModel(nn.Module):
    def __init__(self, c, heads, cross_dim, groups, linear_projection):
        super().__init__()
        self.linear = linear_projection
        self.norm = nn.GroupNorm(groups, c, eps=1e-6)
        self.proj_in = nn.Linear(c, c) if linear_projection else nn.Conv2d(c, c, 1)
        self.transformer_blocks = nn.ModuleList([BasicTransformerBlock(c, heads, cross_dim)])
        self.proj_out = nn.Linear(c, c) if linear_projection else nn.Conv2d(c, c, 1)

    def forward(self, x, ctx):
        n, c, hh, ww = x.shape
        h = self.norm(x)
        if self.linear:
            h = self.proj_in(h.permute(0, 2, 3, 1).reshape(n, hh * ww, c))
        else:
            h = self.proj_in(h).permute(0, 2, 3, 1).reshape(n, hh * ww, c)
        h = self.transformer_blocks[0](h, ctx)
        if self.linear:
            h = self.proj_out(h).reshape(n, hh, ww, c).permute(0, 3, 1, 2)
        else:
            h = self.proj_out(h.reshape(n, hh, ww, c).permute(0, 3, 1, 2))
        return h + x


class Downsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, stride=2, padding=1)

    def forward(self, x):
        return self.conv(x)


class Upsample2D(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.conv = nn.Conv2d(c, c, 3, padding=1)

    def forward(self, x):
        return self.conv(F.interpolate(x, scale_factor=2.0, mode="nearest"))


class DownBlock(nn.Module):
    def __init__(self, cin, cout, layers, temb, groups, eps, attn, heads, cross_dim, linear, add_down):
        super().__init__()
        self.resnets = nn.ModuleList(
            [ResnetBlock2D(cin if j == 0 else cout, cout, temb, groups, eps) for j in range(layers)])
        if attn:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(cout, heads, cross_dim, groups, linear) for _ in range(layers)])
        else:
            self.attentions = None
        self.downsamplers = nn.ModuleList([Downsample2D(cout)]) if add_down else None

    def forward(self, h, temb, ctx):
        out = ()
        for j, r in enumerate(self.resnets):
            h = r(h, temb)
            if self.attentions is not None:
                h = self.attentions[j](h, ctx)
            out += (h,)
        if self.downsamplers is not None:
            h = self.downsamplers[0](h)
            out += (h,)
        return h, out


class UpBlock(nn.Module):
    def __init__(self, cin, prev, cout, layers, temb, groups, eps, attn, heads, cross_dim, linear, add_up):
        super().__init__()
        rs = []
        for j in range(layers + 1):
            skip = cin if j == layers else cout
            rin = prev if j == 0 else cout
            rs.append(ResnetBlock2D(rin + skip, cout, temb, groups, eps))
        self.resnets = nn.ModuleList(rs)
        if attn:
            self.attentions = nn.ModuleList(
                [Transformer2DModel(cout, heads, cross_dim, groups, linear) for _ in range(layers + 1)])
        else:
            self.attentions = None
        self.upsamplers = nn.ModuleList([Upsample2D(cout)]) if add_up else None

    def forward(self, h, skips, temb, ctx):
        for j, r in enumerate(self.resnets):
            s = skips[-1]
            skips = skips[:-1]
            h = r(torch.cat([h, s], dim=1), temb)
            if self.attentions is not None:
                h = self.attentions[j](h, ctx)
        if self.upsamplers is not None:
            h = self.upsamplers[0](h)
        return h


class MidBlock(nn.Module):
    def __init__(self, c, temb, groups, eps, heads, cross_dim, linear):
        super().__init__()
        self.resnets = nn.ModuleList([ResnetBlock2D(c, c, temb, groups, eps), ResnetBlock2D(c, c, temb, groups, eps)])
        self.attentions = nn.ModuleList([Transformer2DModel(c, heads, cross_dim, groups, linear)])

    def forward(self, h, temb, ctx):
        h = self.resnets[0](h, temb)
        h = self.attentions[0](h, ctx)
        return self.resnets[1](h, temb)


def heads_list(cfg):
    n = len(cfg["block_out_channels"])
    h = cfg.get("num_attention_heads") or cfg.get("attention_head_dim", 8)
    return list(h) if isinstance(h, (list, tuple)) else [h] * n


class UNet2DConditionModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        boc = cfg["block_out_channels"]
        n = len(boc)
        c0 = boc[0]
        temb = 4 * c0
        g = cfg.get("norm_num_groups", 32)
        eps = cfg.get("norm_eps", 1e-5)
        lpb = cfg.get("layers_per_block", 2)
        xd = cfg["cross_attention_dim"]
        lin = cfg.get("use_linear_projection", False)
        heads = heads_list(cfg)
        self.conv_in = nn.Conv2d(cfg["in_channels"], c0, 3, padding=1)
        self.time_embedding = TimestepEmbedding(c0, temb)
        downs, out = [], c0
        for i, t in enumerate(cfg["down_block_types"]):
            cin, out = out, boc[i]
            downs.append(DownBlock(cin, out, lpb, temb, g, eps, t == "CrossAttnDownBlock2D", heads[i], xd, lin,
                                   i < n - 1))
        self.down_blocks = nn.ModuleList(downs)
        self.mid_block = MidBlock(boc[-1], temb, g, eps, heads[-1], xd, lin)
        rb, rh = list(reversed(boc)), list(reversed(heads))
        ups, out = [], rb[0]
        for i, t in enumerate(cfg["up_block_types"]):
            prev, out = out, rb[i]
            cin = rb[min(i + 1, n - 1)]
            ups.append(UpBlock(cin, prev, out, lpb, temb, g, eps, t == "CrossAttnUpBlock2D", rh[i], xd, lin, i < n - 1))
        self.up_blocks = nn.ModuleList(ups)
        self.conv_norm_out = nn.GroupNorm(g, c0, eps=eps)
        self.conv_out = nn.Conv2d(c0, cfg["out_channels"], 3, padding=1)

    def forward(self, x, t, ctx):
        cfg = self.cfg
        emb = timestep_embedding(t, cfg["block_out_channels"][0], cfg.get("flip_sin_to_cos", True),
                                 cfg.get("freq_shift", 0))
        emb = self.time_embedding(emb.to(x.dtype))  # float32 like vkpref's, then the model's dtype
        h = self.conv_in(x)
        skips = (h,)
        for b in self.down_blocks:
            h, s = b(h, emb, ctx)
            skips += s
        h = self.mid_block(h, emb, ctx)
        for b in self.up_blocks:
            k = len(b.resnets)
            h = b(h, skips[-k:], emb, ctx)
            skips = skips[:-k]
        return self.conv_out(F.silu(self.conv_norm_out(h)))


# ---------------------------------------------------------------------------
# CLIPTextModel


class CLIPAttention(nn.Module):
    def __init__(self, d, heads):
        super().__init__()
        self.heads = heads
        self.q_proj, self.k_proj, self.v_proj, self.out_proj = (nn.Linear(d, d) for _ in range(4))

    def forward(self, x):
        return self.out_proj(sdpa(self.q_proj(x), self.k_proj(x), self.v_proj(x), self.heads, causal=True))


class CLIPMLP(nn.Module):
    def __init__(self, d, inner, act):
        super().__init__()
        self.act = act
        self.fc1 = nn.Linear(d, inner)
        self.fc2 = nn.Linear(inner, d)

    def forward(self, x):
        h = self.fc1(x)
        h = h * torch.sigmoid(1.702 * h) if self.act == "quick_gelu" else F.gelu(h)
        return self.fc2(h)


class CLIPEncoderLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        d, eps = cfg["hidden_size"], cfg.get("layer_norm_eps", 1e-5)
        self.layer_norm1 = nn.LayerNorm(d, eps=eps)
        self.self_attn = CLIPAttention(d, cfg["num_attention_heads"])
        self.layer_norm2 = nn.LayerNorm(d, eps=eps)
        self.mlp = CLIPMLP(d, cfg["intermediate_size"], cfg.get("hidden_act", "quick_gelu"))

    def forward(self, h):
        h = h + self.self_attn(self.layer_norm1(h))
        return h + self.mlp(self.layer_norm2(h))


class CLIPEmbeddings(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.token_embedding = nn.Embedding(cfg["vocab_size"], cfg["hidden_size"])
        self.position_embedding = nn.Embedding(cfg["max_position_embeddings"], cfg["hidden_size"])


class CLIPEncoder(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.layers = nn.ModuleList([CLIPEncoderLayer(cfg) for _ in range(cfg["num_hidden_layers"])])


class CLIPTextTransformer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.embeddings = CLIPEmbeddings(cfg)
        self.encoder = CLIPEncoder(cfg)
        self.final_layer_norm = nn.LayerNorm(cfg["hidden_size"], eps=cfg.get("layer_norm_eps", 1e-5))


class CLIPTextModel(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.text_model = CLIPTextTransformer(cfg)

    def forward(self, ids):
        tm = self.text_model
        pos = torch.arange(ids.shape[1], device=ids.device)[None, :].expand_as(ids)
        h = tm.embeddings.token_embedding(ids) + tm.embeddings.position_embedding(pos)
        for layer in tm.encoder.layers:
            h = layer(h)
        return tm.final_layer_norm(h)


# ---------------------------------------------------------------------------
# safetensors writer (the safetensors package is not in Debian 12)

def save_safetensors(path, tensors, metadata=None):
    import json
    import struct
    header, blobs, offset = {}, [], 0
    if metadata:
        header["__metadata__"] = metadata
    for name in sorted(tensors):
        t = tensors[name].detach().contiguous()
        if t.dtype == torch.float32:
            dt, b = "F32", t.numpy().tobytes()
        elif t.dtype == torch.float16:
            dt, b = "F16", t.numpy().tobytes()
        elif t.dtype == torch.int64:
            dt, b = "I64", t.numpy().tobytes()
        else:
            raise ValueError(f"{name}: dtype {t.dtype}")
        header[name] = {"dtype": dt, "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
