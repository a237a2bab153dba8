#version 450
#include "common.glsl"
#include "softmax_xent.glsl"
// softmax_xent_fwd: loss[n] = logsumexp_k logits[n, k] - logits[n, labels[n]]
//   (= -log softmax(logits[n])[labels[n]], torch.nn.functional.cross_entropy with
//   reduction="none"); a label >= K marks an ignored row: loss[n] = 0.
//   logits [N, K] (R32F texel view), labels [N] uint32, loss [N] (storage).
// Mapping: one invocation per row n (1-D grid, flat_index()), looping over its K
//   classes: the op serves classifier heads (K ~ 10), where a row is far too short
//   to split between invocations.
// Spec constants: 0..2 workgroup size (WG, 1, 1).
layout(binding = 2) writeonly buffer LOSS { float loss[]; };

void main() {
    uint n = flat_index();
    if (n >= p.N) return;
    uint y = labels[p.off_labels + n];
    loss[p.off_out + n] = y < p.K ? row_logsumexp(n) - logit(n * p.K + y) : 0.0;
}
