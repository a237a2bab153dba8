// conv2d.glsl: pieces shared by the conv2d kernels (conv2d_fwd and conv2d_bwd_data
// through conv2d_direct.glsl, and conv2d_bwd_weight): the kernel-geometry spec
// constants and the input-row "window" that an invocation fetches once per
// (input channel, input row) and reuses for every tap and output channel it owns
// (the register blocking of PERFORMANCE.md's fastest lavapipe conv).
//
// Window: a block of PX consecutive outputs q0 .. q0 + PX - 1 along a row reads the
// input columns q * SQ + off, off in [OFF_MIN, OFF_MAX] (SQ: input columns per
// output column). The window starts at column q0 * SQ + WIN_LO and holds NWIN
// floats, fetched as NWT texels of VEC floats. With VEC = 4 (RGBA32F view: the
// row length and every row start are multiples of 4, and so is q0 * SQ) WIN_LO is
// OFF_MIN floored to a multiple of 4, so each texel lies wholly inside or wholly
// outside the row. Padding is read from a clamped, valid address and multiplied
// by a 0 mask: no out-of-range fetch and no branch in the inner loop.

layout(constant_id = 8) const int KH = 3;
layout(constant_id = 9) const int KW = 3;
layout(constant_id = 10) const int STRIDE = 1;
layout(constant_id = 11) const int PAD = 1;
const int T = KH * KW;  // taps per (output, input) channel pair

// Floor to a multiple of 4 (>> on int is arithmetic, so negative values floor too).
#define CONV2D_FLOOR4(v) (((v) >> 2) << 2)
#define CONV2D_WIN_LO(OFF_MIN, VEC) ((VEC) == 4 ? CONV2D_FLOOR4(OFF_MIN) : (OFF_MIN))
#define CONV2D_NWIN(OFF_MAX, WLO, PX, SQ, VEC) (((OFF_MAX) + ((PX) - 1) * (SQ) - (WLO) + (VEC)) / (VEC) * (VEC))

// For each of NROWS input rows rows[i] and each window texel t (window starting at
// input column col0): xoff[i * NWT + t] = element offset of the texel within an
// input channel plane [IH, IW] (clamped into the plane), xmask[...] = 1 when the
// texel is inside the plane, else 0.
#define CONV2D_WINDOW_SETUP(xoff, xmask, NROWS, rows, col0, NWT, VEC, IH, IW)           \
    [[unroll]] for (int r_ = 0; r_ < NROWS; r_++) {                                     \
        bool rv_ = rows[r_] >= 0 && rows[r_] < (IH);                                    \
        int rc_ = clamp(rows[r_], 0, (IH) - 1) * (IW);                                  \
        [[unroll]] for (int t_ = 0; t_ < NWT; t_++) {                                   \
            int c_ = (col0) + t_ * (VEC);                                               \
            xoff[r_ * NWT + t_] = rc_ + clamp(c_, 0, (IW) - (VEC));                     \
            xmask[r_ * NWT + t_] = rv_ && c_ >= 0 && c_ + (VEC) <= (IW) ? 1.0 : 0.0;    \
        }                                                                               \
    }

// win[(ch * NROWS + i) * NWIN + u] = element u of the window of row i of channel ch,
// for CH channels whose planes start at element base + choff[ch] of X.
#define CONV2D_WINDOW_LOAD(win, X, base, choff, CH, NROWS, NWT, NWIN, VEC, xoff, xmask)  \
    [[unroll]] for (int ch_ = 0; ch_ < CH; ch_++)                                       \
        [[unroll]] for (int r_ = 0; r_ < NROWS; r_++)                                   \
            [[unroll]] for (int t_ = 0; t_ < NWT; t_++) {                               \
                int i_ = r_ * NWT + t_, w_ = (ch_ * NROWS + r_) * NWIN + t_ * (VEC);    \
                uint e_ = (base) + choff[ch_] + uint(xoff[i_]);                          \
                if ((VEC) == 4) {                                                       \
                    vec4 v_ = texelFetch(X, int(e_ >> 2)) * xmask[i_];                  \
                    win[w_] = v_.x, win[w_ + 1] = v_.y, win[w_ + 2] = v_.z, win[w_ + 3] = v_.w; \
                } else {                                                                \
                    win[w_] = texelFetch(X, int(e_)).x * xmask[i_];                     \
                }                                                                       \
            }
