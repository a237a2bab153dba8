#version 450
#include "common.glsl"
#include "matmul.glsl"
// matmul: C[b] (+)= alpha * op(A[b]) op(B[b]) + bias   (bias not scaled by alpha)
//   op(A) [M, K]: A stored [M, K] row-major, or [K, M] when TRANS_A;
//   op(B) [K, N]: B stored [K, N], or [N, K] when TRANS_B;
//   C stored [M, N]; bias [N] added to every row; matrix b of each operand starts
//   at off_* + b * stride_* elements (stride 0 broadcasts one matrix).
// Mapping (register variant): the flat invocation index (1-D grid, flat_index())
//   enumerates the TM x TN blocks of C row-block-major, so consecutive invocations
//   (one SIMD program on CPU drivers, which vectorise along local x only) take
//   consecutive column blocks; workgroup z is the batch index.
//   Shared variant: invocation (x, y) of the 2-D grid takes the block at rows
//   y*TM.., columns x*TN.., so a workgroup owns one BM x BN tile (BM = WGY*TM, BN = WGX*TN).
// Two variants of the same register block:
//   USE_SHARED = false (CPU drivers): every invocation fetches its own A rows and
//     B columns from the texel buffers, four k at a time (vec4 texels along the
//     contiguous dimension when VEC_* = 4), with no barriers. Rows/columns past
//     M/N and k past K are clamped to the last one (valid memory); the results of
//     those rows/columns are discarded and A's values for k >= K are zeroed.
//   USE_SHARED = true (GPUs): the workgroup stages BM x BK and BK x BN tiles in
//     shared memory, zero-padded past M, N, K.
// Spec constants: 0..2 workgroup size (WGX, WGY, 1; WGY = 1 in the register
//   variant); 3 TM, 4 TN (multiples of 4); 5 TRANS_A, 6 TRANS_B; 7 VEC_A, 8 VEC_B,
//   9 VEC_C (floats per texel of the A / B views, per store of C: 1 or 4);
//   10 USE_SHARED; 11 BK (shared tile depth).
// Push flags: bit 0 bias, bit 1 accumulate (uniform branches in the epilogue
//   only, so they cost nothing and do not multiply the pipelines). k_begin,
//   k_end: the part of K summed; the host covers a K too long for the device's
//   loop budget with several dispatches, the later ones accumulating.
// Bindings: A, B, bias as texel views; C as a storage buffer, and C again as a
//   texel view (CIN, VEC_C floats per texel) from which accumulate reads the old
//   values: on lavapipe a storage load costs like a store, a texel fetch a fraction
//   (accumulating went from +15% to free at K = 64). Each element of C is read
//   and then written by one invocation only.
layout(constant_id = 3) const uint TM = 16;
layout(constant_id = 4) const uint TN = 8;
layout(constant_id = 5) const bool TRANS_A = false;
layout(constant_id = 6) const bool TRANS_B = false;
layout(constant_id = 7) const uint VEC_A = 1;
layout(constant_id = 8) const uint VEC_B = 1;
layout(constant_id = 9) const uint VEC_C = 1;
layout(constant_id = 10) const bool USE_SHARED = false;
layout(constant_id = 11) const uint BK = 16;

#define FLAG_BIAS 1u
#define FLAG_ACCUMULATE 2u

layout(binding = 0) uniform samplerBuffer A;
layout(binding = 1) uniform samplerBuffer B;
layout(binding = 2) uniform samplerBuffer BIAS;  // R32F; any view without FLAG_BIAS
// C as floats and, where N, off_c and stride_c are multiples of 4, as vec4 (the same binding).
layout(binding = 3) buffer Cbuf { float c[]; };
layout(binding = 3) buffer Cbuf4 { vec4 c4[]; };
layout(binding = 4) uniform samplerBuffer CIN;
layout(push_constant) uniform P {
    uint M, N, K;
    uint off_a, off_b, off_c, off_bias;  // elements from the start of each binding
    uint stride_a, stride_b, stride_c;   // elements between consecutive batch matrices
    float alpha;
    uint flags;
    uint k_begin, k_end;  // the k range this dispatch sums (the host splits long K; multiples of BK but K)
} p;

const uint BM = gl_WorkGroupSize.y * TM;
const uint BN = gl_WorkGroupSize.x * TN;
// Sized 1 in the register variant so CPU drivers reserve no workgroup memory.
shared float sa[USE_SHARED ? BK * BM : 1];  // sa[k * BM + m] = op(A)(tile row m, k)
shared float sb[USE_SHARED ? BK * BN : 1];  // sb[k * BN + n] = op(B)(k, tile column n)

float acc[TM][TN];

// Register variant: see the header. pa[i] / pb[j] are the element indices of
// op(A)(m0 + i, 0) / op(B)(0, n0 + j); ka / kb the element steps along k.
void gemm_registers(uint m0, uint n0, uint base_a, uint base_b) {
    uint pa[TM], pb[TN];
    [[unroll]] for (uint i = 0; i < TM; i++) {
        uint m = m0 + i;
        if (TRANS_A) pa[i] = base_a + (VEC_A == 4 ? min(m - i % 4, p.M - 4) + i % 4 : min(m, p.M - 1));
        else pa[i] = base_a + min(m, p.M - 1) * p.K;
    }
    [[unroll]] for (uint j = 0; j < TN; j++) {
        uint n = n0 + j;
        if (TRANS_B) pb[j] = base_b + min(n, p.N - 1) * p.K;
        else pb[j] = base_b + (VEC_B == 4 ? min(n - j % 4, p.N - 4) + j % 4 : min(n, p.N - 1));
    }
    uint ka = TRANS_A ? p.M : 1, kb = TRANS_B ? 1 : p.N, klast = p.K - 1;
    vec4 av[TM], bv[TN];
    for (uint k0 = p.k_begin; k0 < p.k_end; k0 += 4) {
        MATMUL_LOAD_K4(av, A, TM, VEC_A, !TRANS_A, pa, ka, k0, klast)
        MATMUL_LOAD_K4(bv, B, TN, VEC_B, TRANS_B, pb, kb, k0, klast)
        if (k0 + 4 > p.K) {  // last step of a K that is not a multiple of 4
            vec4 keep = vec4(lessThan(uvec4(k0) + uvec4(0, 1, 2, 3), uvec4(p.K)));
            [[unroll]] for (uint i = 0; i < TM; i++) av[i] *= keep;
        }
        [[unroll]] for (uint i = 0; i < TM; i++)
            [[unroll]] for (uint j = 0; j < TN; j++)
                acc[i][j] = fma(av[i].w, bv[j].w, fma(av[i].z, bv[j].z, fma(av[i].y, bv[j].y, fma(av[i].x, bv[j].x, acc[i][j]))));
    }
}

// Shared-memory variant: every invocation of the workgroup helps load the tiles
// (consecutive invocations take consecutive elements of the contiguous dimension),
// then computes its block from shared memory.
void gemm_shared(uint base_a, uint base_b) {
    uint tm0 = gl_WorkGroupID.y * BM, tn0 = gl_WorkGroupID.x * BN;
    uint lid = gl_LocalInvocationIndex, nt = gl_WorkGroupSize.x * gl_WorkGroupSize.y;
    uint lm = gl_LocalInvocationID.y * TM, ln = gl_LocalInvocationID.x * TN;
    for (uint k0 = p.k_begin; k0 < p.k_end; k0 += BK) {
        for (uint s = lid; s < BM * BK; s += nt) {
            uint m = TRANS_A ? s % BM : s / BK, k = TRANS_A ? s / BM : s % BK;
            uint gm = tm0 + m, gk = k0 + k;
            float v = 0.0;
            if (gm < p.M && gk < p.k_end) v = matmul_fetch(A, VEC_A, base_a + (TRANS_A ? gk * p.M + gm : gm * p.K + gk));
            sa[k * BM + m] = v;
        }
        for (uint s = lid; s < BN * BK; s += nt) {
            uint n = TRANS_B ? s / BK : s % BN, k = TRANS_B ? s % BK : s / BN;
            uint gn = tn0 + n, gk = k0 + k;
            float v = 0.0;
            if (gn < p.N && gk < p.k_end) v = matmul_fetch(B, VEC_B, base_b + (TRANS_B ? gn * p.K + gk : gk * p.N + gn));
            sb[k * BN + n] = v;
        }
        barrier();
        [[unroll]] for (uint k = 0; k < BK; k++) {
            float a[TM], b[TN];
            [[unroll]] for (uint i = 0; i < TM; i++) a[i] = sa[k * BM + lm + i];
            [[unroll]] for (uint j = 0; j < TN; j++) b[j] = sb[k * BN + ln + j];
            [[unroll]] for (uint i = 0; i < TM; i++)
                [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = fma(a[i], b[j], acc[i][j]);
        }
        barrier();
    }
}

void main() {
    uint m0, n0, batch = gl_WorkGroupID.z;
    if (USE_SHARED) {
        m0 = gl_GlobalInvocationID.y * TM, n0 = gl_GlobalInvocationID.x * TN;
    } else {
        uint col_blocks = (p.N + TN - 1) / TN, blk = flat_index(), rb = blk / col_blocks;
        m0 = rb * TM, n0 = (blk - rb * col_blocks) * TN;
        if (m0 >= p.M) return;  // no barriers in this variant
    }
    [[unroll]] for (uint i = 0; i < TM; i++)
        [[unroll]] for (uint j = 0; j < TN; j++) acc[i][j] = 0.0;
    uint base_a = p.off_a + batch * p.stride_a, base_b = p.off_b + batch * p.stride_b;
    if (USE_SHARED) gemm_shared(base_a, base_b);
    else gemm_registers(m0, n0, base_a, base_b);

    bool has_bias = (p.flags & FLAG_BIAS) != 0, accumulate = (p.flags & FLAG_ACCUMULATE) != 0;
    float bias[TN];
    [[unroll]] for (uint j = 0; j < TN; j++)
        bias[j] = has_bias ? texelFetch(BIAS, int(p.off_bias + min(n0 + j, p.N - 1))).x : 0.0;
    // Rows are stored by a loop that is not unrolled, shifting the next row of
    // acc into acc[0] each time: TN stores in the code instead of TM*TN, which
    // halves the CPU driver's compile time for a few register moves per row.
    uint e0 = p.off_c + batch * p.stride_c + m0 * p.N + n0;
    uint rows = m0 < p.M ? min(TM, p.M - m0) : 0;  // shared variant: whole tiles run
    for (uint i = 0; i < rows; i++, e0 += p.N) {
        [[unroll]] for (uint j = 0; j < TN; j += VEC_C) {
            if (n0 + j >= p.N) break;
            uint e = e0 + j;
            if (VEC_C == 4) {  // N % 4 == 0: the four columns are all inside
                vec4 v = p.alpha * vec4(acc[0][j], acc[0][j + 1], acc[0][j + 2], acc[0][j + 3]) +
                         vec4(bias[j], bias[j + 1], bias[j + 2], bias[j + 3]);
                if (accumulate) v += texelFetch(CIN, int(e >> 2));
                c4[e >> 2] = v;
            } else {
                float v = p.alpha * acc[0][j] + bias[j];
                if (accumulate) v += texelFetch(CIN, int(e)).x;
                c[e] = v;
            }
        }
        [[unroll]] for (uint r = 0; r + 1 < TM; r++)
            [[unroll]] for (uint j = 0; j < TN; j++) acc[r][j] = acc[r + 1][j];
    }
}
