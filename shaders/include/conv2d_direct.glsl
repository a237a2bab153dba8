// conv2d_direct.glsl: the register-blocked direct convolution behind conv2d_fwd.comp
// (CONV2D_DATA_GRAD 0) and conv2d_bwd_data.comp (CONV2D_DATA_GRAD 1). Both compute
//   OUT[n][oc][RO + RS*r][CO + CS*q] (+)= sum_{ic, th, tw} W'(oc, ic, th, tw) * IN[n][ic][r*SR + offh(th)][q*SQ + offw(tw)]
// over OCN output channels, ICN input channels, R x Q outputs, IN [N, ICN, IH, IW]
// zero outside its plane, W'(oc, ic, th, tw) = w[off_w + oc*ocs + ic*ics + kh(th)*KW + kw(tw)]:
//   forward:       oc = k, ic = c, every tap (th = kh, tw = kw), offh(th) = kh - PAD,
//                  SR = SQ = STRIDE, OUT = y written (+ bias), RO = CO = 0, RS = CS = 1;
//   data gradient: oc = c, ic = k, OUT = dx accumulated, one of STRIDE^2 phases (PH, PW):
//                  dx rows PH + STRIDE*r and columns PW + STRIDE*q only receive the taps
//                  kh = KH0 + STRIDE*th with (PH + PAD - kh) % STRIDE == 0, from dy row
//                  r + (PH + PAD - kh) / STRIDE: a stride-1 correlation with the taps of
//                  that phase (STRIDE 1: one phase, all taps, the flipped kernel).
// Mapping: invocation i of a 1-D grid (flat_index) owns KB output channels x PR output
//   rows x PX consecutive columns: i = (n * OCB + ocb) * RB * QB + rb * QB + qb with
//   RB = ceil(R / PR) (consecutive invocations take consecutive column blocks, then row
//   blocks). Per step of CB input channels it fetches the CB x NR input windows
//   (conv2d.glsl; NR = (PR - 1) * SR + NTH rows, shared by the PR output rows) and the
//   CB x NTH x NTW x KB weights it needs once, then does CB*NTH*NTW*KB*PR*PX FMAs from
//   registers, tile by tile (TO channels x TX columns: +10% on lavapipe over sweeping
//   the whole block per tap). No shared memory, no barriers, no division in the loop.
// Weights: VEC_W = 4 reads RGBA32F texels of w: forward along (c, kh, kw) of one k
//   (CB = 4, C % 4 == 0: 4 input channels x T taps = T texels); data gradient along
//   (c, kh, kw) of one k, i.e. 4 output channels (KB % 4 == 0, C % 4 == 0). VEC_W = 1: R32F.
// Spec constants: 0..2 workgroup size; 3 KB output channels per invocation; 4 PX
//   columns per invocation (multiple of 4); 5 CB input channels per step (1 or 4,
//   ICN % CB == 0); 6 VEC_X floats per IN texel (1, or 4 when IW and off_in are
//   multiples of 4); 7 VEC_W (1 or 4); 8..11 KH, KW, STRIDE, PAD (conv2d.glsl);
//   12 VEC_OUT: store (and, for the data gradient, load) OUT as vec4 (CS = 1, and
//   OUT_W, off_out multiples of 4, so Q = OUT_W is too); forward 13 HAS_BIAS;
//   data gradient 13 PH, 14 PW; 15 PR output rows per invocation; forward 16 RES_MODE:
//   add RES (from off_res) to the stored outputs after the bias, so (conv + b) + r
//   rounds as a separate add of r would: 1 a tensor of y's shape (it may be y itself),
//   2 one value per (sample, output channel), [N, OCN], broadcast over the plane.
// Storage-buffer accesses cost a loop over the lanes on lavapipe: with few input
// channels (conv_in, the data gradient of conv_out) the epilogue dominates, and
// VEC_OUT quarters it.
layout(constant_id = 3) const int KB = 8;
layout(constant_id = 4) const int PX = 16;
layout(constant_id = 5) const int CB = 4;
layout(constant_id = 6) const int VEC_X = 1;
layout(constant_id = 7) const int VEC_W = 1;
layout(constant_id = 12) const bool VEC_OUT = false;
layout(constant_id = 15) const int PR = 1;
// Register tile of the FMA loop (see main): TO output channels x TX columns.
const int TO = KB % 4 == 0 ? 4 : KB, TX = 4;

layout(binding = 0) uniform samplerBuffer IN;
layout(binding = 1) uniform samplerBuffer WT;
#if CONV2D_DATA_GRAD
layout(constant_id = 13) const int PH = 0;
layout(constant_id = 14) const int PW = 0;
layout(binding = 2) buffer Out { float outv[]; };
layout(binding = 2) buffer Out4 { vec4 outv4[]; };  // the same buffer, for VEC_OUT
// Taps of phase (PH, PW): kh = KH0 + STRIDE*th, dy row offset OFFH0 - th (and the same for columns).
const int KH0 = (PH + PAD) % STRIDE, KW0 = (PW + PAD) % STRIDE;
const int NTH = (KH - KH0 + STRIDE - 1) / STRIDE, NTW = (KW - KW0 + STRIDE - 1) / STRIDE;
const int OFFH0 = (PH + PAD - KH0) / STRIDE, OFFW0 = (PW + PAD - KW0) / STRIDE;
const int SR = 1, SQ = 1, RO = PH, CO = PW, RS = STRIDE, CS = STRIDE;
const int OFF_MIN = OFFW0 - (NTW - 1), OFF_MAX = OFFW0;
int tap_kh(int th) { return KH0 + STRIDE * th; }
int tap_kw(int tw) { return KW0 + STRIDE * tw; }
int tap_offh(int th) { return OFFH0 - th; }
// Window row of tap th (output row offset 0): rows ROW0 + j, j = pr * SR + tap_row(th).
int tap_row(int th) { return NTH - 1 - th; }
const int ROW0 = OFFH0 - (NTH - 1);
int tap_offw(int tw) { return OFFW0 - tw; }
#else
layout(constant_id = 13) const bool HAS_BIAS = false;
layout(binding = 2) uniform samplerBuffer BIAS;  // R32F; any view when !HAS_BIAS
layout(binding = 3) writeonly buffer Out { float outv[]; };
layout(binding = 3) writeonly buffer Out4 { vec4 outv4[]; };  // the same buffer, for VEC_OUT
layout(constant_id = 16) const int RES_MODE = 0;  // 0 none, 1 tensor, 2 per (n, oc)
layout(binding = 4) uniform samplerBuffer RES;  // mode 1: VEC_OUT ? RGBA32F : R32F; mode 2: R32F; any view for 0
const int NTH = KH, NTW = KW;
const int SR = STRIDE, SQ = STRIDE, RO = 0, CO = 0, RS = 1, CS = 1;
const int OFF_MIN = -PAD, OFF_MAX = KW - 1 - PAD;
int tap_kh(int th) { return th; }
int tap_kw(int tw) { return tw; }
int tap_offh(int th) { return th - PAD; }
int tap_row(int th) { return th; }
const int ROW0 = -PAD;
int tap_offw(int tw) { return tw - PAD; }
#endif

layout(push_constant) uniform P {
    uint N, OCN, ICN;     // batch, output and input channels of this op
    uint IH, IW;          // IN plane (forward H, W; data gradient OH, OW)
    uint R, Q, QB;        // output rows and columns computed, column blocks per row (ceil(Q / PX))
    uint OUT_H, OUT_W;    // OUT plane (forward OH, OW; data gradient H, W)
    uint ocs, ics;        // element strides of w along oc and ic
    uint off_in, off_w, off_b, off_out, off_res;  // elements from the start of each binding
} p;

const int WLO = CONV2D_WIN_LO(OFF_MIN, VEC_X);
const int NWIN = CONV2D_NWIN(OFF_MAX, WLO, PX, SQ, VEC_X);
const int NWT = NWIN / VEC_X;
const int NR = (PR - 1) * SR + NTH;  // input rows an invocation reads per input channel

void main() {
    uint RB = (p.R + PR - 1) / PR;
    uint sblocks = RB * p.QB, ocbn = (p.OCN + KB - 1) / KB;
    uint i = flat_index();
    if (i >= sblocks * ocbn * p.N) return;
    // Once per invocation: the loop below has no division.
    uint s = i % sblocks, rest = i / sblocks;
    uint ocb = rest % ocbn, n = rest / ocbn;
    uint rb = s / p.QB, qb = s - rb * p.QB, r = rb * PR;
    uint oc0 = ocb * KB, q0 = qb * PX, plane = p.IH * p.IW;

    int rows[NR];
    [[unroll]] for (int j = 0; j < NR; j++) rows[j] = int(r) * SR + ROW0 + j;
    int xoff[NR * NWT];
    float xmask[NR * NWT];
    CONV2D_WINDOW_SETUP(xoff, xmask, NR, rows, int(q0) * SQ + WLO, NWT, VEC_X, int(p.IH), int(p.IW))

    // wb[oc]: element of W'(oc, 0, 0, 0), output channel clamped (results past OCN are discarded).
    // Data gradient with VEC_W = 4 reads 4 output channels per texel: wb[4g] is the group's start.
    uint wb[KB];
    [[unroll]] for (int oc = 0; oc < KB; oc++) {
        uint ocg = CONV2D_DATA_GRAD != 0 && VEC_W == 4 ? min(oc0 + oc, p.OCN - 4 + oc % 4) : min(oc0 + oc, p.OCN - 1);
        wb[oc] = p.off_w + ocg * p.ocs;
    }

    float acc[KB * PR * PX];  // acc[(oc * PR + pr) * PX + x]
    [[unroll]] for (int a = 0; a < KB * PR * PX; a++) acc[a] = 0.0;

    uint choff[CB];
    [[unroll]] for (int ici = 0; ici < CB; ici++) choff[ici] = ici * plane;
    uint in_base = p.off_in + n * p.ICN * plane, woff = 0;
    for (uint ic0 = 0; ic0 < p.ICN; ic0 += CB) {
        float win[CB * NR * NWIN];
        CONV2D_WINDOW_LOAD(win, IN, in_base, choff, CB, NR, NWT, NWIN, VEC_X, xoff, xmask)

        // wr[((ici * NTH + th) * NTW + tw) * KB + oc] = W'(oc0 + oc, ic0 + ici, th, tw)
        float wr[CB * NTH * NTW * KB];
        if (VEC_W == 4 && CONV2D_DATA_GRAD == 0) {
            // T texels per output channel: f = ici * T + kh * KW + kw.
            [[unroll]] for (int oc = 0; oc < KB; oc++)
                [[unroll]] for (int j = 0; j < CB * T / 4; j++) {
                    vec4 v = texelFetch(WT, int(((wb[oc] + woff) >> 2) + j));
                    [[unroll]] for (int e = 0; e < 4; e++) {
                        int f = 4 * j + e, t = f % T;
                        wr[(((f / T) * NTH + t / KW) * NTW + t % KW) * KB + oc] = v[e];
                    }
                }
        } else if (VEC_W == 4) {
            // T texels per group of 4 output channels: f = (oc % 4) * T + kh * KW + kw; only
            // the taps of this phase are kept.
            [[unroll]] for (int ici = 0; ici < CB; ici++)
                [[unroll]] for (int g = 0; g < KB; g += 4)
                    [[unroll]] for (int j = 0; j < T; j++) {
                        vec4 v = texelFetch(WT, int(((wb[g] + woff + ici * p.ics) >> 2) + j));
                        [[unroll]] for (int e = 0; e < 4; e++) {
                            int f = 4 * j + e, t = f % T, kh = t / KW, kw = t % KW;
                            int th = (kh - tap_kh(0)) / STRIDE, tw = (kw - tap_kw(0)) / STRIDE;
                            if (kh >= tap_kh(0) && kw >= tap_kw(0) && tap_kh(th) == kh && tap_kw(tw) == kw)
                                wr[((ici * NTH + th) * NTW + tw) * KB + g + f / T] = v[e];
                        }
                    }
        } else {
            [[unroll]] for (int ici = 0; ici < CB; ici++)
                [[unroll]] for (int th = 0; th < NTH; th++)
                    [[unroll]] for (int tw = 0; tw < NTW; tw++)
                        [[unroll]] for (int oc = 0; oc < KB; oc++)
                            wr[((ici * NTH + th) * NTW + tw) * KB + oc] =
                                texelFetch(WT, int(wb[oc] + woff + ici * p.ics + tap_kh(th) * KW + tap_kw(tw))).x;
        }

        // Register tiles of TO output channels x TX columns: their accumulators stay
        // in registers over all CB x NTH x NTW taps of the step.
        [[unroll]] for (int o0 = 0; o0 < KB; o0 += TO)
            [[unroll]] for (int pr = 0; pr < PR; pr++)
                [[unroll]] for (int x0 = 0; x0 < PX; x0 += TX)
                    [[unroll]] for (int ici = 0; ici < CB; ici++)
                        [[unroll]] for (int th = 0; th < NTH; th++)
                            [[unroll]] for (int tw = 0; tw < NTW; tw++) {
                                int w0 = (ici * NR + pr * SR + tap_row(th)) * NWIN + tap_offw(tw) - WLO;
                                [[unroll]] for (int oi = 0; oi < TO; oi++) {
                                    int oc = o0 + oi, a0 = (oc * PR + pr) * PX + x0;
                                    float wv = wr[((ici * NTH + th) * NTW + tw) * KB + oc];
                                    [[unroll]] for (int xi = 0; xi < TX; xi++)
                                        acc[a0 + xi] = fma(wv, win[w0 + (x0 + xi) * SQ], acc[a0 + xi]);
                                }
                            }
        in_base += CB * plane;
        woff += CB * p.ics;
    }

    uint out_plane = p.OUT_H * p.OUT_W;
    [[unroll]] for (int pr = 0; pr < PR; pr++) {
        if (r + pr >= p.R) break;
        uint out_base = p.off_out + (n * p.OCN + oc0) * out_plane + (RO + RS * (r + pr)) * p.OUT_W + CO;
        [[unroll]] for (int oc = 0; oc < KB; oc++) {
            if (oc0 + oc >= p.OCN) break;
            int a0 = (oc * PR + pr) * PX;
#if CONV2D_DATA_GRAD
            float add = 0.0;
#else
            float add = HAS_BIAS ? texelFetch(BIAS, int(p.off_b + oc0 + oc)).x : 0.0;
            float cadd = RES_MODE == 2 ? texelFetch(RES, int(p.off_res + n * p.OCN + oc0 + oc)).x : 0.0;
#endif
            if (VEC_OUT) {
                [[unroll]] for (int x = 0; x < PX; x += 4) {
                    if (q0 + x >= p.Q) break;
                    uint e = (out_base + oc * out_plane + q0 + x) >> 2;
                    vec4 v = vec4(acc[a0 + x], acc[a0 + x + 1], acc[a0 + x + 2], acc[a0 + x + 3]);
#if CONV2D_DATA_GRAD
                    outv4[e] += v;
#else
                    v += add;
                    if (RES_MODE == 1) v += texelFetch(RES, int(e - (p.off_out >> 2) + (p.off_res >> 2)));
                    if (RES_MODE == 2) v += cadd;
                    outv4[e] = v;
#endif
                }
                continue;
            }
            [[unroll]] for (int x = 0; x < PX; x++) {
                if (q0 + x >= p.Q) break;
                uint e = out_base + oc * out_plane + CS * (q0 + x);
#if CONV2D_DATA_GRAD
                outv[e] += acc[a0 + x];
#else
                float v = acc[a0 + x] + add;
                if (RES_MODE == 1) v += texelFetch(RES, int(e - p.off_out + p.off_res)).x;
                if (RES_MODE == 2) v += cadd;
                outv[e] = v;
#endif
            }
        }
    }
}
