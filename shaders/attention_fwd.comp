#version 450
#include "common.glsl"
#include "attention.glsl"
// attention_fwd: flash-attention forward, one pass over the keys, nothing of size T x S stored.
//   per (n, h, query i): s_j = scale * q_i . k_j (j <= i when causal), m = max_j s_j,
//   o_i = sum_j exp(s_j - m) v_j / sum_j exp(s_j - m), lse_i = m + log sum_j exp(s_j - m).
// q [N, T, NH*HD], k, v [N, S, NH*HD] (texel views); o [N, T, NH*HD], lse [N, NH, T] (storage).
// Mapping (attention.glsl): each invocation holds RB query rows of one head: their
//   q (pre-scaled by scale * log2 e), output accumulators, running max m and sum l
//   in registers. Keys go in blocks of BS: BS scores per row, one rescale of the
//   accumulators per block (online softmax), then o += p_j v_j.
// Spec constants: attention.glsl's 3..6, and 7 BS (keys per online-softmax block).
layout(constant_id = 7) const uint BS = 8;
layout(binding = 0) uniform samplerBuffer Q;
layout(binding = 1) uniform samplerBuffer K;
layout(binding = 2) uniform samplerBuffer V;
layout(binding = 3) writeonly buffer Obuf { float o[]; };
layout(binding = 4) writeonly buffer LSEbuf { float lse[]; };

vec4 qr[RB][HD4];   // q rows * scale * log2 e: scores come out in base-2 units
vec4 acc[RB][HD4];  // sum_j exp2(s_j - m) v_j
float m[RB], l[RB]; // running max (base 2) and sum of exp2(s_j - m)
float s[RB][BS];    // scores of the current key block, then their exp2

void main() {
    uint i0, h, n;
    if (!attn_block(p.T, i0, h, n)) return;
    float qscale = p.scale * LOG2E;
    [[unroll]] for (uint r = 0; r < RB; r++) {
        uint e = p.off_q + attn_row(n, p.T, min(i0 + r, p.T - 1), h);
        [[unroll]] for (uint c = 0; c < HD4; c++) qr[r][c] = attn_fetch4(Q, e, c) * qscale, acc[r][c] = vec4(0.0);
        m[r] = -BIG, l[r] = 0.0;
    }
    // Causal: no row of this block sees keys past its last row.
    uint kend = CAUSAL ? min(p.S, i0 + RB) : p.S;
    for (uint j0 = 0; j0 < kend; j0 += BS) {
        [[unroll]] for (uint b = 0; b < BS; b++) {
            uint e = p.off_k + attn_row(n, p.S, min(j0 + b, kend - 1), h);
            vec4 kv[HD4];
            [[unroll]] for (uint c = 0; c < HD4; c++) kv[c] = attn_fetch4(K, e, c);
            [[unroll]] for (uint r = 0; r < RB; r++) {
                float d = 0.0;
                [[unroll]] for (uint c = 0; c < HD4; c++) d += dot(qr[r][c], kv[c]);
                s[r][b] = d;
            }
        }
        // Online softmax: new max over the visible keys of the block, rescale the
        // running sum and accumulators once. Key 0 is visible to every row, so m is
        // finite after the first block and masked keys get exactly p = 0.
        [[unroll]] for (uint r = 0; r < RB; r++) {
            float mn = m[r];
            [[unroll]] for (uint b = 0; b < BS; b++)
                if (j0 + b < kend && attn_visible(i0 + r, j0 + b)) mn = max(mn, s[r][b]);
            float alpha = exp2(m[r] - mn);
            m[r] = mn;
            float sum = l[r] * alpha;
            [[unroll]] for (uint b = 0; b < BS; b++) {
                bool vis = j0 + b < kend && attn_visible(i0 + r, j0 + b);
                s[r][b] = vis ? exp2(s[r][b] - mn) : 0.0;
                sum += s[r][b];
            }
            l[r] = sum;
            [[unroll]] for (uint c = 0; c < HD4; c++) acc[r][c] *= alpha;
        }
        [[unroll]] for (uint b = 0; b < BS; b++) {
            uint e = p.off_v + attn_row(n, p.S, min(j0 + b, kend - 1), h);
            [[unroll]] for (uint c = 0; c < HD4; c++) {
                vec4 vv = attn_fetch4(V, e, c);
                [[unroll]] for (uint r = 0; r < RB; r++) acc[r][c] += s[r][b] * vv;
            }
        }
    }
    [[unroll]] for (uint r = 0; r < RB; r++) {
        uint i = i0 + r;
        if (i >= p.T) break;
        uint e = p.off_o + attn_row(n, p.T, i, h);
        float inv = 1.0 / l[r];
        [[unroll]] for (uint d = 0; d < HD; d++) o[e + d] = acc[r][d / 4][d % 4] * inv;
        lse[p.off_lse + (n * p.NH + h) * p.T + i] = (m[r] + log2(l[r])) / LOG2E;
    }
}
