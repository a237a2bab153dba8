#version 450
#include "common.glsl"
#include "attention.glsl"
// attention_bwd_dkv: key/value-side backward, recomputing the probabilities from lse.
//   per (n, h, key j), over every query i that sees j: p_ij = exp(scale q_i . k_j - lse_i),
//   D_i = dout_i . o_i, dS_ij = p_ij (dout_i . v_j - D_i);
//   dk_j += scale * sum_i dS_ij q_i,  dv_j += sum_i p_ij dout_i.
// q, k, v, o, dout (texel views, layouts in attention.glsl), lse [N, NH, T] (R32F texels);
// dk, dv [N, S, NH*HD] (storage, accumulated). Each dk/dv row is owned by one
// invocation: deterministic, no atomics. D_i is recomputed from o (HD FMAs per query
// row and key block) because the op has no scratch buffer to pass it from the dq kernel.
// Mapping (attention.glsl): each invocation holds RB key rows of one head: k
//   (pre-scaled by scale * log2 e), v and the dk, dv accumulators in registers,
//   and walks the query rows one at a time (causal: from its first key on).
// Spec constants: attention.glsl's 3..6.
layout(binding = 0) uniform samplerBuffer Q;
layout(binding = 1) uniform samplerBuffer K;
layout(binding = 2) uniform samplerBuffer V;
layout(binding = 3) uniform samplerBuffer O;
layout(binding = 4) uniform samplerBuffer DOUT;
layout(binding = 5) uniform samplerBuffer LSE;
layout(binding = 6) buffer DKbuf { float dk[]; };
layout(binding = 7) buffer DVbuf { float dv[]; };

vec4 kr[RB][HD4];   // k * scale * log2 e
vec4 vr[RB][HD4];
vec4 dka[RB][HD4];  // sum_i dS_ij q_i
vec4 dva[RB][HD4];  // sum_i p_ij dout_i

void main() {
    uint j0, h, n;
    if (!attn_block(p.S, j0, h, n)) return;
    float kscale = p.scale * LOG2E;
    [[unroll]] for (uint r = 0; r < RB; r++) {
        uint e = attn_row(n, p.S, min(j0 + r, p.S - 1), h);
        [[unroll]] for (uint c = 0; c < HD4; c++) {
            kr[r][c] = attn_fetch4(K, p.off_k + e, c) * kscale;
            vr[r][c] = attn_fetch4(V, p.off_v + e, c);
            dka[r][c] = vec4(0.0), dva[r][c] = vec4(0.0);
        }
    }
    // Causal: queries before the block's first key see none of its keys.
    for (uint i = CAUSAL ? j0 : 0; i < p.T; i++) {
        uint e = attn_row(n, p.T, i, h);
        vec4 qv[HD4], dov[HD4];
        float D = 0.0;
        [[unroll]] for (uint c = 0; c < HD4; c++) {
            qv[c] = attn_fetch4(Q, p.off_q + e, c);
            dov[c] = attn_fetch4(DOUT, p.off_dout + e, c);
            D += dot(dov[c], attn_fetch4(O, p.off_o + e, c));
        }
        float lse2 = texelFetch(LSE, int(p.off_lse + (n * p.NH + h) * p.T + i)).x * LOG2E;
        [[unroll]] for (uint r = 0; r < RB; r++) {
            float s = 0.0, dp = 0.0;
            [[unroll]] for (uint c = 0; c < HD4; c++) s += dot(qv[c], kr[r][c]), dp += dot(dov[c], vr[r][c]);
            float pr = attn_visible(i, j0 + r) ? exp2(s - lse2) : 0.0;
            float ds = pr * (dp - D);
            [[unroll]] for (uint c = 0; c < HD4; c++) dva[r][c] += pr * dov[c], dka[r][c] += ds * qv[c];
        }
    }
    [[unroll]] for (uint r = 0; r < RB; r++) {
        uint j = j0 + r;
        if (j >= p.S) break;
        uint e = attn_row(n, p.S, j, h);
        [[unroll]] for (uint d = 0; d < HD; d++) {
            dk[p.off_dk + e + d] += p.scale * dka[r][d / 4][d % 4];
            dv[p.off_dv + e + d] += dva[r][d / 4][d % 4];
        }
    }
}
