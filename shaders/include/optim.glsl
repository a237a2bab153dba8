// optim.glsl: helpers of the elementwise optimizer shaders (adamw, ema).

// Element e of a texel view of `vec` floats per texel (1: R32F, 4: RGBA32F); for
// the last, partial texel of a tensor, read element by element.
float texel_element(samplerBuffer t, uint e, uint vec) {
    return vec == 4 ? texelFetch(t, int(e / 4))[e % 4] : texelFetch(t, int(e)).x;
}
