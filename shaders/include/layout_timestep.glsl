// layout_timestep.glsl: what timestep_embed_fwd and timestep_embed_bwd share:
// push constants, the angle a = t[n] * f_j and its sine and cosine.
//   nhalf = D / 2, f_j = exp(k j) with k = -ln(max_period) / (nhalf - freq_shift)
//   (computed in double on the host), as diffusers' get_timestep_embedding.
// Spec constant 3 = FLIP (flip_sin_to_cos: y = [cos, sin] instead of [sin, cos]).
layout(constant_id = 3) const bool FLIP = false;
layout(push_constant) uniform P {
    uint N, nhalf;              // batch, D / 2
    float k;
    uint off_t, off_y, off_dt;  // elements from the start of the t, y (or dy) and dt bindings
} p;

// (sin a, cos a) with a reduced to [-pi, pi] first (Cody-Waite, 2 pi split in
// three floats; q * P1 and q * P2 are exact for |q| < 2^12, |a| < ~25000): the
// timesteps make a up to ~1000 rad, and Vulkan promises sin/cos accuracy only on
// [-pi, pi].
vec2 sincos_reduced(float a) {
    const float P1 = 6.28125;                // 2 pi to 8 bits
    const float P2 = 1.93500518798828125e-3; // the next 12 bits (4058 / 2^21)
    const float P3 = 3.0199159795074593e-7;  // the rest
    float q = round(a * 0.15915494309189535);
    float r = ((a - q * P1) - q * P2) - q * P3;
    return vec2(sin(r), cos(r));
}

// f_j
float timestep_freq(uint j) { return exp(p.k * float(j)); }
