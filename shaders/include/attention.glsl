// attention.glsl: what the three attention kernels (attention_fwd, attention_bwd_dq,
// attention_bwd_dkv) share: specialization constants, push constants, row fetches.
//
// Layout (op_attention.h): q, o, dout [N, T, NH*HD]; k, v [N, S, NH*HD], head h in
// columns h*HD .. h*HD+HD-1; lse [N, NH, T]. Scores are kept in base-2 units
// (s2 = s * log2 e, exp2 instead of exp) by folding log2(e)/sqrt(HD) into q or k.
// A head row lives in HD4 = ceil(HD/4) vec4 registers, zero-padded past HD so that
// dot products and accumulations need no tail code.
//
// Spec constants (0..2: workgroup size, x only):
//   3 HD      head width (a pipeline per width: loops and register arrays are sized by it)
//   4 VEC     floats per texel of the q/k/v/o/dout views: 4 (RGBA32F) when every head
//             row starts on a texel (HD % 4 == 0 and aligned tensors), else 1 (R32F)
//   5 CAUSAL  mask keys j > query i (T == S)
//   6 RB      rows per invocation: query rows (fwd, dq) or key rows (dkv)
// Grid: 1-D (flat_index()), invocation g = (n * NH + h) * nblocks + block takes rows
// block*RB .. block*RB+RB-1 of head h, batch n (clamped to the last row for loads,
// not stored). Flat rather than one workgroup row per head so that few row blocks
// (S = 16 text tokens, say) still fill every SIMD lane; consecutive invocations are
// consecutive row blocks of one head, which read the same k/v (or q/dout) rows.
layout(constant_id = 3) const uint HD = 16;
layout(constant_id = 4) const uint VEC = 4;
layout(constant_id = 5) const bool CAUSAL = false;
layout(constant_id = 6) const uint RB = 8;
const uint HD4 = (HD + 3) / 4;
const float LOG2E = 1.4426950408889634;
const float BIG = 3.0e38;  // finite "-infinity" for running maxima: exp2(-BIG - m) is 0, never NaN

// Element offsets (off_*) place each tensor inside its binding, which starts at the
// aligned offset at or below the tensor (src/ops/op_attention.c).
layout(push_constant) uniform P {
    uint N, T, S, NH;
    float scale;  // 1/sqrt(HD)
    uint off_q, off_k, off_v, off_o, off_lse, off_dout, off_dq, off_dk, off_dv;
} p;

// This invocation's first row, head and batch index over `rows` rows per head;
// false past the end of the grid. One runtime division per invocation.
bool attn_block(uint rows, out uint row0, out uint h, out uint n) {
    uint nblocks = (rows + RB - 1) / RB, g = flat_index(), hn = g / nblocks;
    row0 = (g - hn * nblocks) * RB;
    h = hn % p.NH, n = hn / p.NH;
    return n < p.N;
}

// Element index of (n, row, head h, 0) in a [N, rows, NH*HD] tensor.
uint attn_row(uint n, uint rows, uint row, uint h) { return (n * rows + row) * (p.NH * HD) + h * HD; }

// Elements e + 4c .. e + 4c + 3 of a head row starting at element e; zero past HD.
vec4 attn_fetch4(samplerBuffer t, uint e, uint c) {
    if (VEC == 4) return texelFetch(t, int((e >> 2) + c));
    vec4 r = vec4(0.0);
    [[unroll]] for (uint i = 0; i < 4; i++)
        if (4 * c + i < HD) r[i] = texelFetch(t, int(e + 4 * c + i)).x;
    return r;
}

// Whether query i sees key j (j < S is the caller's business).
bool attn_visible(uint i, uint j) { return !CAUSAL || j <= i; }
