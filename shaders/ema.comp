#version 450
#include "common.glsl"
#include "optim.glsl"
// ema: ema = decay * ema + (1 - decay) * param, computed as
//   ema += (1 - decay) * (param - ema)   (diffusers EMAModel's form: an ema equal to
//   param stays bit-identical), decay = scalars[3] (op_optim.h STEP_EMA_DECAY),
//   read from the GPU so a recorded step replays with each step's decay.
// ema [n] (storage, updated in place); param [n] (texel view of VEC floats per
//   texel); scalars (R32F texel view).
// Mapping: invocation i (flat_index) owns texel i = elements [VEC i, VEC i + VEC);
//   with VEC = 4 (ema and param offsets multiples of 4) a full texel is one vec4
//   access and the last, partial texel goes element by element, so nothing past n
//   is written.
// Spec constants: 0..2 workgroup size (WG, 1, 1); 3 VEC (1 or 4).
layout(constant_id = 3) const uint VEC = 1;

layout(binding = 0) buffer EMA { float ema[]; };
layout(binding = 0) buffer EMA4 { vec4 ema4[]; };
layout(binding = 1) uniform samplerBuffer PARAM;
layout(binding = 2) uniform samplerBuffer SCALARS;
layout(push_constant) uniform P {
    uint n;
    uint off_e, off_p, off_s;  // elements from each binding's start (e, p multiples of 4 when VEC = 4)
} p;

void main() {
    uint i = flat_index(), e0 = i * VEC;
    if (e0 >= p.n) return;
    float a = 1.0 - texelFetch(SCALARS, int(p.off_s + 3)).x;
    if (VEC == 4 && e0 + 4 <= p.n) {
        uint te = p.off_e / 4 + i;
        vec4 x = ema4[te];
        ema4[te] = x + a * (texelFetch(PARAM, int(p.off_p / 4 + i)) - x);
        return;
    }
    for (uint e = e0; e < min(e0 + VEC, p.n); e++) {
        float x = ema[p.off_e + e];
        ema[p.off_e + e] = x + a * (texel_element(PARAM, p.off_p + e, VEC) - x);
    }
}
