// activation.glsl: activation functions and their derivatives, fp32.
// ACT_* values match the Activation enum in src/ops/op_eltwise.h.
#define ACT_SILU 0
#define ACT_GELU 1        // exact: 0.5 x (1 + erf(x / sqrt 2))
#define ACT_QUICK_GELU 2  // x * sigmoid(1.702 x) (CLIP)
#define ACT_NONE 3        // identity

// erf with |error| < 1.2e-7 (Numerical Recipes erfc via Chebyshev fit; GLSL has no erf).
float erf_approx(float x) {
    float z = abs(x);
    float t = 1.0 / (1.0 + 0.5 * z);
    float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
              t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
              t * (-0.82215223 + t * 0.17087277)))))))));
    return x >= 0.0 ? 1.0 - r : r - 1.0;
}

float sigmoid(float x) { return 1.0 / (1.0 + exp(-x)); }

float act_forward(uint act, float x) {
    if (act == ACT_SILU) return x * sigmoid(x);
    if (act == ACT_GELU) return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
    if (act == ACT_QUICK_GELU) return x * sigmoid(1.702 * x);
    return x;
}

// d act(x) / dx
float act_derivative(uint act, float x) {
    if (act == ACT_SILU) { float s = sigmoid(x); return s * (1.0 + x * (1.0 - s)); }
    if (act == ACT_GELU)
        return 0.5 * (1.0 + erf_approx(x * 0.70710678118654752)) + x * 0.39894228040143268 * exp(-0.5 * x * x);
    if (act == ACT_QUICK_GELU) { float s = sigmoid(1.702 * x); return s * (1.0 + 1.702 * x * (1.0 - s)); }
    return 1.0;
}
