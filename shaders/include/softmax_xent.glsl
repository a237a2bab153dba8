// softmax_xent.glsl: what softmax_xent_fwd.comp and softmax_xent_bwd.comp share:
// their bindings 0 and 1, their push constants, and the row's log-sum-exp,
// computed by the same code in both so that the backward differentiates exactly
// the loss the forward reported. Include after common.glsl.
//
// logits [N, K] row-major through an R32F texel view; labels [N] uint32 (storage).

layout(binding = 0) uniform samplerBuffer LOGITS;
layout(binding = 1) readonly buffer LABELS { uint labels[]; };
layout(push_constant) uniform P {
    uint N, K;                    // rows, classes
    uint off_logits, off_labels;  // elements from each binding's start
    uint off_out;                 // loss (forward) or dlogits (backward)
    uint off_coef;                // backward only
} p;

float logit(uint i) { return texelFetch(LOGITS, int(p.off_logits + i)).x; }

// log sum_k exp(logits[row, k]): the maximum first, so no exp overflows whatever
// the logits' scale, then the exponentials summed in k order (deterministic; a
// classifier head has few classes, so a plain fp32 sum loses nothing that matters).
float row_logsumexp(uint row) {
    uint base = row * p.K;
    float m = logit(base);
    for (uint k = 1; k < p.K; k++) m = max(m, logit(base + k));
    float s = 0.0;
    for (uint k = 0; k < p.K; k++) s += exp(logit(base + k) - m);
    return m + log(s);
}
