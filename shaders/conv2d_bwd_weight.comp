#version 450
#include "common.glsl"
#include "conv2d.glsl"
// conv2d_bwd_weight: dw[k][c][kh][kw] += sum_{n, oh, ow} dy[n][k][oh][ow] * x[n][c][oh*S - P + kh][ow*S - P + kw]
//   and, when HAS_DB, db[k] += sum_{n, oh, ow} dy[n][k][oh][ow].
// x [N, C, H, W], dy [N, K, OH, OW] (uniform texel buffers), dw [K, C, KH, KW], db [K]
//   (storage buffers, accumulated).
// Mapping: invocation i of a 1-D grid (flat_index) owns the KBW x CBW x KH x KW block of
//   dw at output channels k0 = (i % KBN) * KBW.., input channels c0 = (i / KBN) * CBW..
//   in registers (consecutive invocations share their x windows), and reduces over n, oh and blocks of PX output columns in that fixed
//   order, so the result does not depend on scheduling (deterministic, no atomics).
//   The host covers (n, oh) in one dispatch or, past the device's loop budget, in
//   several accumulating ones in a fixed order (samples, then row ranges).
//   Per block it fetches KBW x PX dy values and the CBW x KH input windows (conv2d.glsl)
//   once and does KBW*CBW*KH*KW*PX FMAs, in register tiles of TK output channels x KW
//   taps of one (c, kh) that accumulate over the PX columns. The invocations with c0 = 0 also write db from
//   the dy values they fetch anyway. Columns past OW are masked to 0 in dy; channels
//   past K / C are clamped on read and not written.
// Spec constants: 0..2 workgroup size; 3 KBW; 4 CBW; 5 PX (multiple of 4); 6 VEC_X
//   (floats per x texel: 4 when W and off_x are multiples of 4, else 1); 7 VEC_DY (same
//   for dy with OW, off_dy); 8..11 KH, KW, STRIDE, PAD; 12 HAS_DB.
layout(constant_id = 3) const int KBW = 8;
layout(constant_id = 4) const int CBW = 4;
layout(constant_id = 5) const int PX = 16;
layout(constant_id = 6) const int VEC_X = 1;
layout(constant_id = 7) const int VEC_DY = 1;
layout(constant_id = 12) const bool HAS_DB = false;
const int TK = KBW % 4 == 0 ? 4 : KBW;

layout(binding = 0) uniform samplerBuffer X;
layout(binding = 1) uniform samplerBuffer DY;
layout(binding = 2) buffer DW { float dw[]; };
layout(binding = 3) buffer DB { float db[]; };  // any buffer when !HAS_DB
layout(push_constant) uniform P {
    uint N, C, K, H, W, OH, OW;
    uint KBN, CBN;  // channel blocks: ceil(K / KBW), ceil(C / CBW)
    uint oh0, oh1;  // output rows [oh0, oh1) of every sample (the host splits long sweeps)
    uint off_x, off_dy, off_dw, off_db;  // elements from the start of each binding
} p;

const int WLO = CONV2D_WIN_LO(-PAD, VEC_X);
const int NWIN = CONV2D_NWIN(KW - 1 - PAD, WLO, PX, STRIDE, VEC_X);
const int NWT = NWIN / VEC_X;

void main() {
    uint i = flat_index();
    if (i >= p.KBN * p.CBN) return;
    uint k0 = (i % p.KBN) * KBW, c0 = (i / p.KBN) * CBW;  // once per invocation
    uint xplane = p.H * p.W, yplane = p.OH * p.OW;

    // Channels clamped into range: their sums are computed and discarded.
    uint xch[CBW], ych[KBW];
    [[unroll]] for (int c = 0; c < CBW; c++) xch[c] = min(c0 + c, p.C - 1) * xplane;
    [[unroll]] for (int k = 0; k < KBW; k++) ych[k] = min(k0 + k, p.K - 1) * yplane;

    float acc[KBW * CBW * T];
    [[unroll]] for (int a = 0; a < KBW * CBW * T; a++) acc[a] = 0.0;
    float dbacc[KBW];
    [[unroll]] for (int k = 0; k < KBW; k++) dbacc[k] = 0.0;

    for (uint n = 0; n < p.N; n++) {
        uint xbase = p.off_x + n * p.C * xplane, ybase = p.off_dy + n * p.K * yplane;
        for (uint oh = p.oh0; oh < p.oh1; oh++) {
            int rows[KH];
            [[unroll]] for (int kh = 0; kh < KH; kh++) rows[kh] = int(oh) * STRIDE - PAD + kh;
            for (uint q0 = 0; q0 < p.OW; q0 += PX) {
                int xoff[KH * NWT];
                float xmask[KH * NWT];
                CONV2D_WINDOW_SETUP(xoff, xmask, KH, rows, int(q0) * STRIDE + WLO, NWT, VEC_X, int(p.H), int(p.W))
                float win[CBW * KH * NWIN];
                CONV2D_WINDOW_LOAD(win, X, xbase, xch, CBW, KH, NWT, NWIN, VEC_X, xoff, xmask)
                float g[KBW * PX];
                [[unroll]] for (int k = 0; k < KBW; k++) {
                    uint e = ybase + ych[k] + oh * p.OW;
                    [[unroll]] for (int x = 0; x < PX; x += VEC_DY) {
                        uint q = min(q0 + x, p.OW - VEC_DY);
                        float m = q0 + x < p.OW ? 1.0 : 0.0;
                        if (VEC_DY == 4) {
                            vec4 v = texelFetch(DY, int((e + q) >> 2)) * m;
                            g[k * PX + x] = v.x, g[k * PX + x + 1] = v.y, g[k * PX + x + 2] = v.z, g[k * PX + x + 3] = v.w;
                        } else {
                            g[k * PX + x] = texelFetch(DY, int(e + q)).x * m;
                        }
                    }
                }
                [[unroll]] for (int k = 0; k < KBW; k++)
                    [[unroll]] for (int x = 0; x < PX; x++) dbacc[k] += g[k * PX + x];
                // Register tiles: TK output channels x KW taps of one (c, kh) accumulate
                // over the PX columns, each column's dy and window values used TK x KW times.
                [[unroll]] for (int kt = 0; kt < KBW; kt += TK)
                    [[unroll]] for (int c = 0; c < CBW; c++)
                        [[unroll]] for (int kh = 0; kh < KH; kh++) {
                            int w0 = (c * KH + kh) * NWIN - PAD - WLO;
                            [[unroll]] for (int x = 0; x < PX; x++)
                                [[unroll]] for (int ki = 0; ki < TK; ki++)
                                    [[unroll]] for (int kw = 0; kw < KW; kw++) {
                                        int a = ((kt + ki) * CBW + c) * T + kh * KW + kw;
                                        acc[a] = fma(g[(kt + ki) * PX + x], win[w0 + kw + x * STRIDE], acc[a]);
                                    }
                        }
            }
        }
    }

    [[unroll]] for (int k = 0; k < KBW; k++) {
        if (k0 + k >= p.K) break;
        [[unroll]] for (int c = 0; c < CBW; c++) {
            if (c0 + c >= p.C) break;
            uint e = p.off_dw + ((k0 + k) * p.C + c0 + c) * T;
            [[unroll]] for (int t = 0; t < T; t++) dw[e + t] += acc[(k * CBW + c) * T + t];
        }
        if (HAS_DB && c0 == 0) db[p.off_db + k0 + k] += dbacc[k];
    }
}
