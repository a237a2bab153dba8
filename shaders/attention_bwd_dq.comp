#version 450
#include "common.glsl"
#include "attention.glsl"
// attention_bwd_dq: query-side backward, recomputing the probabilities from lse.
//   per (n, h, query i): D_i = dout_i . o_i; for every key j visible to i:
//   p_ij = exp(scale q_i . k_j - lse_i), dS_ij = p_ij (dout_i . v_j - D_i);
//   dq_i += scale * sum_j dS_ij k_j.
// q, k, v, o, dout (texel views, layouts in attention.glsl), lse [N, NH, T] (R32F texels);
// dq [N, T, NH*HD] (storage, accumulated). Each dq row is owned by one invocation:
// deterministic, no atomics.
// Mapping (attention.glsl): each invocation holds RB query rows of one head: q
//   (pre-scaled by scale * log2 e), dout, D, lse and the dq accumulators in
//   registers, and walks the keys one at a time.
// Spec constants: attention.glsl's 3..6.
layout(binding = 0) uniform samplerBuffer Q;
layout(binding = 1) uniform samplerBuffer K;
layout(binding = 2) uniform samplerBuffer V;
layout(binding = 3) uniform samplerBuffer O;
layout(binding = 4) uniform samplerBuffer DOUT;
layout(binding = 5) uniform samplerBuffer LSE;
layout(binding = 6) buffer DQbuf { float dq[]; };

vec4 qr[RB][HD4];   // q * scale * log2 e
vec4 dor[RB][HD4];  // dout rows
vec4 dqa[RB][HD4];  // sum_j dS_ij k_j
float lse2[RB], Dr[RB];

void main() {
    uint i0, h, n;
    if (!attn_block(p.T, i0, h, n)) return;
    float qscale = p.scale * LOG2E;
    [[unroll]] for (uint r = 0; r < RB; r++) {
        uint i = min(i0 + r, p.T - 1), e = attn_row(n, p.T, i, h);
        float d = 0.0;
        [[unroll]] for (uint c = 0; c < HD4; c++) {
            qr[r][c] = attn_fetch4(Q, p.off_q + e, c) * qscale;
            dor[r][c] = attn_fetch4(DOUT, p.off_dout + e, c);
            d += dot(dor[r][c], attn_fetch4(O, p.off_o + e, c));
            dqa[r][c] = vec4(0.0);
        }
        Dr[r] = d;
        lse2[r] = texelFetch(LSE, int(p.off_lse + (n * p.NH + h) * p.T + i)).x * LOG2E;
    }
    uint kend = CAUSAL ? min(p.S, i0 + RB) : p.S;
    for (uint j = 0; j < kend; j++) {
        uint e = attn_row(n, p.S, j, h);
        vec4 kv[HD4], vv[HD4];
        [[unroll]] for (uint c = 0; c < HD4; c++) kv[c] = attn_fetch4(K, p.off_k + e, c), vv[c] = attn_fetch4(V, p.off_v + e, c);
        [[unroll]] for (uint r = 0; r < RB; r++) {
            float s = 0.0, dp = 0.0;
            [[unroll]] for (uint c = 0; c < HD4; c++) s += dot(qr[r][c], kv[c]), dp += dot(dor[r][c], vv[c]);
            float pr = attn_visible(i0 + r, j) ? exp2(s - lse2[r]) : 0.0;
            float ds = pr * (dp - Dr[r]);
            [[unroll]] for (uint c = 0; c < HD4; c++) dqa[r][c] += ds * kv[c];
        }
    }
    [[unroll]] for (uint r = 0; r < RB; r++) {
        uint i = i0 + r;
        if (i >= p.T) break;
        uint e = p.off_dq + attn_row(n, p.T, i, h);
        [[unroll]] for (uint d = 0; d < HD; d++) dq[e + d] += p.scale * dqa[r][d / 4][d % 4];
    }
}
