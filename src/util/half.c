// half.c: see half.h.
#include "util/half.h"

#include <math.h>

// Half precision. Round to nearest even by letting the FPU do the rounding
// (subnormals: add a magic number whose ulp is the half's ulp) or by adding
// the rounding bias to the bit pattern (normals); needs the default rounding
// mode and no -ffast-math, which this project never sets.

typedef union {
    float f;
    uint32_t u;
} F32Bits;

uint16_t f32_to_f16(float f) {
    F32Bits v = {.f = f};
    uint32_t sign = v.u & 0x80000000u;
    v.u ^= sign;
    uint16_t o;
    if (v.u >= (127u + 16u) << 23) {              // |f| >= 65536 (or inf/nan): no half is that large
        o = v.u > 0x7f800000u ? 0x7e00 : 0x7c00;  // NaN -> quiet NaN, else infinity
    } else if (v.u < (127u - 14u) << 23) {        // below 2^-14: half subnormal or zero
        const F32Bits magic = {.u = ((127u - 15u) + (23u - 10u) + 1u) << 23};  // 0.5: its ulp is 2^-24
        v.f += magic.f;
        o = (uint16_t)(v.u - magic.u);
    } else {
        uint32_t mant_odd = (v.u >> 13) & 1u;
        v.u += ((uint32_t)(15 - 127) << 23) + 0xfffu;  // rebias exponent, add just under half an ulp
        v.u += mant_odd;                               // ... plus one for ties to even
        o = (uint16_t)(v.u >> 13);                     // a carry into the exponent gives infinity correctly
    }
    return (uint16_t)(o | (sign >> 16));
}

float f16_to_f32(uint16_t h) {
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16;
    uint32_t exp = (h >> 10) & 0x1fu, mant = h & 0x3ffu;
    F32Bits v;
    if (exp == 0) {
        v.f = ldexpf((float)mant, -24);  // zero or subnormal: mant * 2^-24, exact in float
        v.u |= sign;
    } else if (exp == 31) {
        v.u = sign | 0x7f800000u | (mant << 13);
    } else {
        v.u = sign | ((exp + 112u) << 23) | (mant << 13);
    }
    return v.f;
}

uint16_t f32_to_bf16(float f) {
    F32Bits v = {.f = f};
    if ((v.u & 0x7fffffffu) > 0x7f800000u) return (uint16_t)((v.u >> 16) | 0x40u);  // keep NaN a (quiet) NaN
    v.u += 0x7fffu + ((v.u >> 16) & 1u);
    return (uint16_t)(v.u >> 16);
}

float bf16_to_f32(uint16_t h) {
    F32Bits v = {.u = (uint32_t)h << 16};
    return v.f;
}
