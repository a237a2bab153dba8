// objective.glsl: constants and fp32 numerics of the preference objectives
// (docs/OBJECTIVES.md; src/objective/objective.h is the C side, and the
// constants come from it through the generated objective_gen.glsl).
//
// GLSL has no expm1/log1p, and its exp/log are only specified to a few ulps
// relative (log: 2^-21 ABSOLUTE inside [0.5, 2], useless near 1), so the helpers
// avoid exp(x) - 1 and log(1 + x) where those would cancel: short series where
// the argument is small, the library functions only where they are accurate.

// The enum values and metric indices of src/objective/objective.h, generated at build time.
#include "objective_gen.glsl"

// exp(x) - 1. |x| < ln(2)/2: Taylor to x^9 (truncation < 6e-10 relative), no
// cancellation; beyond, e^x is at least sqrt(2) away from 1 and exp(x) - 1 loses
// at most a factor 3.4 of exp's own relative error.
float obj_expm1(float x) {
    if (abs(x) < 0.34657359) {
        return x * (1.0 + x * (1.0 / 2.0 + x * (1.0 / 6.0 + x * (1.0 / 24.0 + x * (1.0 / 120.0 + x * (1.0 / 720.0 +
               x * (1.0 / 5040.0 + x * (1.0 / 40320.0 + x * (1.0 / 362880.0)))))))));
    }
    return exp(x) - 1.0;
}

// log(1 + x). On [-1/2, 1] (every call here has x = exp(-|u|) in (0, 1]):
// 2 atanh(t), t = x / (2 + x), |t| <= 1/3, odd series to t^17 (truncation
// < 3e-10 relative): no log call, so no absolute-error log near 1. Elsewhere
// 1 + x is outside [1/2, 2], where log is accurate to a few ulps relative.
float obj_log1p(float x) {
    if (x >= -0.5 && x <= 1.0) {
        float t = x / (2.0 + x), t2 = t * t;
        return 2.0 * t * (1.0 + t2 * (1.0 / 3.0 + t2 * (1.0 / 5.0 + t2 * (1.0 / 7.0 + t2 * (1.0 / 9.0 +
               t2 * (1.0 / 11.0 + t2 * (1.0 / 13.0 + t2 * (1.0 / 15.0 + t2 * (1.0 / 17.0)))))))));
    }
    return log(1.0 + x);
}

// Logistic function; exp only of -|u|, so no overflow and no inf/inf.
float obj_sigmoid(float u) {
    float t = exp(-abs(u));
    return u >= 0.0 ? 1.0 / (1.0 + t) : t / (1.0 + t);
}

// softplus(u) = log(1 + e^u) = max(u, 0) + log1p(exp(-|u|)) = -log sigma(-u).
float obj_softplus(float u) { return max(u, 0.0) + obj_log1p(exp(-abs(u))); }

// ---------------------------------------------------------------------------
// MaPO's score f(e) = s e / expm1(s e) as a function of a = s e.
// For |a| < 1: f(a) = 1 - a/2 + h(a) with the Bernoulli series
// h(a) = a^2/12 - a^4/720 + a^6/30240 - a^8/1209600 + a^10/47900160 - 691 a^12/1307674368000
// (next term < 2e-11 at |a| = 1).
const float MAPO_SERIES_LIMIT = 1.0;

float obj_mapo_h(float a) {
    float a2 = a * a;
    return a2 * (1.0 / 12.0 + a2 * (-1.0 / 720.0 + a2 * (1.0 / 30240.0 + a2 * (-1.0 / 1209600.0 +
           a2 * (1.0 / 47900160.0 + a2 * (-691.0 / 1307674368000.0))))));
}

// h'(a)
float obj_mapo_dh(float a) {
    float a2 = a * a;
    return a * (2.0 / 12.0 + a2 * (-4.0 / 720.0 + a2 * (6.0 / 30240.0 + a2 * (-8.0 / 1209600.0 +
           a2 * (10.0 / 47900160.0 + a2 * (-12.0 * 691.0 / 1307674368000.0))))));
}

// f(a); f(0) = 1; large a: a / inf = 0 (no NaN).
float obj_mapo_f(float a) {
    if (abs(a) < MAPO_SERIES_LIMIT) return (1.0 - 0.5 * a) + obj_mapo_h(a);
    return a / obj_expm1(a);
}

// df/da = (expm1(a) - a e^a) / expm1(a)^2 = (1 - a - a/m) / m with m = expm1(a):
// the second form has no e^a and no m^2, so it neither overflows nor gives inf/inf.
float obj_mapo_df(float a) {
    if (abs(a) < MAPO_SERIES_LIMIT) return -0.5 + obj_mapo_dh(a);
    float m = obj_expm1(a);
    return (1.0 - a - a / m) / m;
}

// f(a_w) - f(a_l), a = s e. For realistic errors the two scores are close
// (they differ by ~(s/2)(e_l - e_w)): subtracting them loses ~1e-7 absolute, which
// T = 1000 turns into a visible error of the logit. Instead, for |a_w - a_l| <= 1/2,
// integrate f' over [a_l, a_w] with 3-point Gauss-Legendre (error ~1e-10 of the
// result there; f' is smooth and has no cancellation): the result keeps the
// relative accuracy of f', and is exactly 0 when e_w = e_l. The width comes from
// e_w - e_l (exact for nearby floats). Far apart scores subtract without loss.
float obj_mapo_delta(float s, float ew, float el) {
    float width = s * (ew - el);
    if (abs(width) > 0.5) return obj_mapo_f(s * ew) - obj_mapo_f(s * el);
    float mid = 0.5 * (s * ew + s * el), half_w = 0.5 * width, x = 0.77459667 * half_w;  // sqrt(3/5)
    return half_w * ((8.0 / 9.0) * obj_mapo_df(mid) + (5.0 / 9.0) * (obj_mapo_df(mid - x) + obj_mapo_df(mid + x)));
}
