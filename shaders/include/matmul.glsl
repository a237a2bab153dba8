// matmul.glsl: operand fetches of the register-blocked GEMM (matmul.comp).
// Operands are uniform texel buffers: RGBA32F views (vec == 4) where the
// contiguous dimension, batch stride and element offset are multiples of 4,
// R32F views (vec == 1) otherwise. Every index below is in floats (elements),
// whatever the view's texel width.

// One element of a view with `vec` floats per texel.
float matmul_fetch(samplerBuffer t, uint vec, uint e) {
    return vec == 4 ? texelFetch(t, int(e >> 2))[e & 3u] : texelFetch(t, int(e)).x;
}

// MATMUL_LOAD_K4: v[i] = (X(i, k0), X(i, k0 + 1), X(i, k0 + 2), X(i, k0 + 3))
// for i < T, where X(i, k) is element part[i] + k * kstride of view X. KCONTIG:
// k is the contiguous dimension (kstride 1), so with vec4 texels one fetch
// covers four k of one i; otherwise i is contiguous and, with vec4 texels, one
// fetch covers four i of one k (part[4g] is then a multiple of 4 and
// part[4g + j] = part[4g] + j). k is clamped to klast except on the KCONTIG vec4
// path, where K % 4 == 0; the caller zeroes the values of k > klast.
// Four k per step even where a fetch brings one k: the unrolled loads overlap
// (one k per step ran at half the speed on lavapipe).
// A macro because GLSL functions cannot take the spec-constant-sized arrays.
#define MATMUL_LOAD_K4(v, X, T, VEC, KCONTIG, part, kstride, k0, klast)                         \
    if (KCONTIG && VEC == 4) {                                                                  \
        [[unroll]] for (uint i_ = 0; i_ < T; i_++) v[i_] = texelFetch(X, int((part[i_] + k0) >> 2)); \
    } else if (KCONTIG) {                                                                       \
        [[unroll]] for (uint i_ = 0; i_ < T; i_++)                                              \
            [[unroll]] for (uint k_ = 0; k_ < 4; k_++)                                          \
                v[i_][k_] = texelFetch(X, int(part[i_] + min(k0 + k_, klast))).x;               \
    } else if (VEC == 4) {                                                                      \
        [[unroll]] for (uint k_ = 0; k_ < 4; k_++) {                                            \
            uint row_ = min(k0 + k_, klast) * kstride;                                          \
            [[unroll]] for (uint g_ = 0; g_ < T; g_ += 4) {                                     \
                vec4 t_ = texelFetch(X, int((part[g_] + row_) >> 2));                           \
                v[g_][k_] = t_.x, v[g_ + 1][k_] = t_.y, v[g_ + 2][k_] = t_.z, v[g_ + 3][k_] = t_.w; \
            }                                                                                   \
        }                                                                                       \
    } else {                                                                                    \
        [[unroll]] for (uint k_ = 0; k_ < 4; k_++) {                                            \
            uint row_ = min(k0 + k_, klast) * kstride;                                          \
            [[unroll]] for (uint i_ = 0; i_ < T; i_++) v[i_][k_] = texelFetch(X, int(part[i_] + row_)).x; \
        }                                                                                       \
    }
