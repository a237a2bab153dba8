// layout.glsl: what the layout and elementwise kernels share (add, scale, act_*,
// geglu_*, add_channel_fwd, upsample2x_*, concat_*, tokens_transpose,
// embedding_*): the item width VEC, input fetches, output stores and the push
// constants of the flat (one item per invocation) kernels. Include after common.glsl.
//
// An "item" is VEC consecutive floats: with VEC = 4 inputs are RGBA32F texel views
// and outputs are stored as vec4 (one memory
// instruction per 4 floats, inputs through the texture path); with VEC = 1 they
// are R32F views and float stores. The host picks VEC = 4 only where every
// operand starts on a 4-float boundary and the sizes involved are multiples of 4.
// Every index below is in items unless it says elements.
//
// Bindings start at the device's offset alignment at or below their tensor; the
// push constants carry each tensor's distance from its binding's start in
// elements (off_*), a multiple of VEC.

// constant_id 3: floats per item (1 or 4).
layout(constant_id = 3) const uint VEC = 1;

// Item i of an input view; components past VEC are 0.
vec4 fetch(samplerBuffer t, uint i) {
    vec4 v = texelFetch(t, int(i));
    return VEC == 4 ? v : vec4(v.x, 0.0, 0.0, 0.0);
}

// An output binding seen both as floats and as vec4s (two aliased declarations of
// one storage buffer, which Vulkan allows); STORE/ACCUM pick the one VEC says.
// Macros because GLSL cannot pass buffer arrays to functions.
#define OUTPUT_BUFFER(BINDING, NAME)                                      \
    layout(binding = BINDING) buffer NAME##_S { float NAME##_s[]; };      \
    layout(binding = BINDING) buffer NAME##_V { vec4 NAME##_v[]; };
#define STORE(NAME, i, val)                 \
    {                                       \
        if (VEC == 4) NAME##_v[i] = (val);  \
        else NAME##_s[i] = (val).x;         \
    }
#define ACCUM(NAME, i, val)                 \
    {                                       \
        if (VEC == 4) NAME##_v[i] += (val); \
        else NAME##_s[i] += (val).x;        \
    }
// STORE, or ACCUM when `acc` (a specialization constant) is true.
#define WRITE(NAME, i, val, acc)        \
    {                                   \
        if (acc) ACCUM(NAME, i, val)    \
        else STORE(NAME, i, val)        \
    }

// Push constants of the flat kernels (add, scale, act_fwd, act_bwd): n items;
// off_in0/off_in1/off_out: element offsets of the inputs and the output; alpha:
// the scalar of scale.
#define FLAT_PUSH                                    \
    layout(push_constant) uniform P {                \
        uint n, off_in0, off_in1, off_out;           \
        float alpha;                                 \
    } p;
