#version 450
#include "common.glsl"
#include "softmax_xent.glsl"
// softmax_xent_bwd: dlogits[n, k] += coef[n] * (softmax(logits[n])[k] - [k == labels[n]])
//   logits [N, K] (R32F texel view), labels [N] uint32, coef [N] written on the GPU
//   (read here, never a push constant, so a recorded step replays with new
//   coefficients; the mean over a batch is coef = 1/N), dlogits [N, K] (storage,
//   accumulated). An ignored row (label >= K) adds nothing.
// Mapping: one invocation per row n (1-D grid, flat_index()): it recomputes the
//   row's log-sum-exp (as the forward does), then updates its K gradients.
// Spec constants: 0..2 workgroup size (WG, 1, 1).
layout(binding = 2) readonly buffer COEF { float coef[]; };
layout(binding = 3) buffer DLOGITS { float dlogits[]; };

void main() {
    uint n = flat_index();
    if (n >= p.N) return;
    uint y = labels[p.off_labels + n];
    if (y >= p.K) return;
    float lse = row_logsumexp(n), c = coef[p.off_coef + n];
    uint base = n * p.K;
    for (uint k = 0; k < p.K; k++) {
        float prob = exp(logit(base + k) - lse);
        dlogits[p.off_out + base + k] += c * (k == y ? prob - 1.0 : prob);
    }
}
