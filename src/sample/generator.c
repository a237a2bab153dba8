// generator.c: see generator.h.
#include "sample/generator.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "ops/op_sample.h"
#include "util/check.h"
#include "util/rng.h"

const char* sampler_name(SamplerKind k) {
    switch (k) {
    case SAMPLER_DDPM: return "ddpm";
    case SAMPLER_DDIM: return "ddim";
    case SAMPLER_EULER: return "euler";
    }
    return "?";
}

void generator_noise(uint64_t seed, int step, int64_t numel, float* out) {
    rng_normal_fill(out, numel, seed, (uint64_t)step, RNG_STREAM_SAMPLE, 0);
}

// encode: token ids -> last_hidden_state [R, L, D], kept in the `text` arena for
// every replay of `step`.
static Tensor record_encode(Generator* g) {
    Cmd* c = &g->encode;
    cmd_begin(c, g->gpu);
    Graph gt = {.cmd = c, .ps = &g->pipe->text_ps, .act = &g->text, .tmp = &g->tmp, .training = false,
                .lora = g->pipe->text_lora};
    ClipActs* acts = xcalloc(1, sizeof *acts);  // needed while recording only: replays read the arenas
    Tensor ehs = clip_forward(&gt, &g->pipe->clip, acts, &g->ids, g->rows, g->pipe->max_length);
    free(acts);
    cmd_end(c);
    return ehs;
}

// step: one denoising step on x in place.
static void record_step(Generator* g, const Tensor* ehs) {
    Cmd* c = &g->step;
    cmd_begin(c, g->gpu);
    // The two recordings never run concurrently, so they share `tmp`.
    arena_reset(&g->tmp);
    Tensor xin = g->x;
    if (g->guided) {  // the UNet sees [x; x]: unconditional rows first, as the captions
        xin = arena_tensor4(&g->act, g->rows, g->channels, g->size, g->size);
        int64_t n = (int64_t)g->batch * g->numel;
        Tensor lo = tensor_slice(xin, 0, n), hi = tensor_slice(xin, n, n);
        cmd_copy(c, &lo, &g->x);
        cmd_copy(c, &hi, &g->x);
    }
    Graph gu = {.cmd = c, .ps = g->set.use_ema ? &g->unet_view : &g->pipe->unet_ps, .act = &g->act, .tmp = &g->tmp,
                .training = false, .lora = g->pipe->unet_lora};
    UNetActs* acts = xcalloc(1, sizeof *acts);  // needed while recording only
    Tensor out = unet_forward(&gu, &g->pipe->unet, acts, &xin, &g->timesteps, ehs);
    free(acts);
    op_sampler_step(c, &g->x, &out, &g->noise, &g->coefs, g->guided, g->set.cfg);
    cmd_end(c);
}

// decode: the VAE decoder on x (rescaled in place by the host) into `image`.
static void record_decode(Generator* g) {
    Cmd* c = &g->decode;
    cmd_begin(c, g->gpu);
    Graph gv = {.cmd = c, .ps = &g->pipe->vae_ps, .tmp = &g->vae_tmp, .training = false};
    vae_decode(&gv, &g->pipe->vae, &g->vae_scratch, &g->x, &g->image);
    cmd_end(c);
}

void generator_init(Generator* g, GpuContext* gpu, DiffusionPipeline* p, int batch, GenerateSettings s) {
    memset(g, 0, sizeof *g);
    int T = p->sched.num_train_timesteps;
    if (batch < 1) die("generator: batch size %d (need >= 1)", batch);
    if (s.steps < 1 || s.steps > T) die("generator: %d steps (need 1..%d, the training timesteps)", s.steps, T);
    if (!(s.eta >= 0) || !isfinite(s.cfg)) die("generator: eta %g, cfg %g (need eta >= 0, finite cfg)", s.eta, s.cfg);
    if (p->unet_cfg.in_channels != p->unet_cfg.out_channels)
        die("generator: the UNet predicts %d channels for %d input channels", p->unet_cfg.out_channels,
            p->unet_cfg.in_channels);
    g->gpu = gpu;
    g->pipe = p;
    g->set = s;
    g->batch = batch;
    g->guided = s.cfg > 1.0f;
    g->rows = g->guided ? 2 * batch : batch;
    g->channels = p->unet_cfg.in_channels;
    g->size = p->unet_cfg.sample_size;
    g->numel = (int64_t)g->channels * g->size * g->size;
    pipeline_image_shape(p, &g->image_channels, &g->image_size);
    g->image_numel = (int64_t)g->image_channels * g->image_size * g->image_size;
    uint64_t image_bytes = (uint64_t)batch * (uint64_t)g->image_numel * sizeof(float);
    if (p->latent && image_bytes > gpu->props.limits.maxStorageBufferRange)
        die("generator: %d images of %dx%d take %llu MiB, over the device's %u MiB per buffer: lower the batch size",
            batch, g->image_size, g->image_size, (unsigned long long)(image_bytes >> 20),
            gpu->props.limits.maxStorageBufferRange >> 20);
    if (s.use_ema) {  // forward ops read only entry values: a view whose values are the EMA tensors
        if (!p->unet_ps.has_ema)
            die("generator: use_ema needs a UNet loaded with EMA weights (PipelineAlloc.unet_ema)");
        g->unet_view = p->unet_ps;
        g->unet_view.e = xmalloc((size_t)p->unet_ps.n * sizeof *g->unet_view.e);
        for (int i = 0; i < p->unet_ps.n; i++) {
            g->unet_view.e[i] = p->unet_ps.e[i];
            g->unet_view.e[i].value = p->unet_ps.e[i].ema;
        }
    }
    schedule_init(&g->sched, &p->sched);
    g->plan = xmalloc((size_t)s.steps * sizeof *g->plan);
    for (int i = 0; i < s.steps; i++) g->plan[i] = sampler_step(&g->sched, s.sampler, s.steps, i, s.eta);

    int L = p->max_length;
    arena_init(&g->io, gpu, "generator io", 0, true);
    arena_init(&g->text, gpu, "generator text states", 0, false);
    arena_init(&g->act, gpu, "generator activations", 0, false);
    arena_init(&g->tmp, gpu, "generator temporaries", 0, false);
    g->x = arena_tensor4(&g->io, batch, g->channels, g->size, g->size);
    g->noise = arena_tensor4(&g->io, batch, g->channels, g->size, g->size);
    g->ids = arena_tensor1(&g->io, (int64_t)g->rows * L);
    g->timesteps = arena_tensor1(&g->io, g->rows);
    g->coefs = arena_tensor1(&g->io, SAMPLER_COEF_COUNT);
    // Steps without noise multiply it by 0, which would still turn stale NaN bits into NaN.
    memset(tensor_host_ptr(&g->noise), 0, (size_t)tensor_bytes(&g->noise));
    g->tok = xmalloc((size_t)L * sizeof *g->tok);
    if (g->guided) {  // the unconditional rows are the empty prompt in every batch
        uint32_t* ids = (uint32_t*)tensor_host_ptr(&g->ids);
        tokenizer_encode(&p->tok, "", L, g->tok);
        for (int r = 0; r < batch; r++)
            for (int k = 0; k < L; k++) ids[(int64_t)r * L + k] = (uint32_t)g->tok[k];
    }
    Tensor ehs = record_encode(g);
    record_step(g, &ehs);
    if (p->latent) {
        g->image = arena_tensor4(&g->io, batch, g->image_channels, g->image_size, g->image_size);
        arena_init(&g->vae_tmp, gpu, "generator vae temporaries", 0, false);
        vae_scratch_init(&g->vae_scratch, gpu);
        record_decode(g);
    }
}

// Latent pipelines: x <- x / scaling_factor + shift_factor, then the decoder.
static const float* decode_batch(Generator* g, float* x) {
    if (!g->pipe->latent) return x;
    const VaeConfig* vc = &g->pipe->vae.cfg;
    for (int64_t j = 0; j < (int64_t)g->batch * g->numel; j++) x[j] = x[j] / vc->scaling_factor + vc->shift_factor;
    cmd_submit(&g->decode);
    return tensor_host_ptr(&g->image);
}

// Writes the captions of one batch: item k of the batch is item k0 + min(k, m - 1)
// of the run (the padding of a short last batch repeats its last item).
static void write_captions(Generator* g, const char* const* prompts, int k0, int m) {
    int L = g->pipe->max_length;
    uint32_t* ids = (uint32_t*)tensor_host_ptr(&g->ids) + (g->guided ? (int64_t)g->batch * L : 0);
    for (int k = 0; k < g->batch; k++) {
        tokenizer_encode(&g->pipe->tok, prompts[k0 + (k < m ? k : m - 1)], L, g->tok);
        for (int j = 0; j < L; j++) ids[(int64_t)k * L + j] = (uint32_t)g->tok[j];
    }
}

// Noise of `step` for every image of the batch (x_T when step is 0).
static void write_noise(Generator* g, float* dst, const uint64_t* seeds, int k0, int m, int step) {
    for (int k = 0; k < g->batch; k++)
        generator_noise(seeds[k0 + (k < m ? k : m - 1)], step, g->numel, dst + k * g->numel);
}

int generator_run(Generator* g, const char* const* prompts, const uint64_t* seeds, int n, float* images,
                  GenerateProgress progress, void* user) {
    int nbatches = (n + g->batch - 1) / g->batch, total = nbatches * g->set.steps, done = 0, bad = 0;
    float *x = tensor_host_ptr(&g->x), *noise = tensor_host_ptr(&g->noise), *ts = tensor_host_ptr(&g->timesteps);
    float* coefs = tensor_host_ptr(&g->coefs);
    for (int k0 = 0; k0 < n; k0 += g->batch) {
        int m = n - k0 < g->batch ? n - k0 : g->batch;
        write_captions(g, prompts, k0, m);
        cmd_submit(&g->encode);
        write_noise(g, x, seeds, k0, m, 0);
        for (int i = 0; i < g->set.steps; i++) {
            const SamplerStep* st = &g->plan[i];
            for (int r = 0; r < g->rows; r++) ts[r] = st->timestep;
            sampler_pack_coefs(st, coefs);
            if (st->cnoise != 0.0f) write_noise(g, noise, seeds, k0, m, i + 1);
            cmd_submit(&g->step);
            if (progress) progress(user, ++done, total);
        }
        const float* img = decode_batch(g, x);
        for (int k = 0; k < m; k++) {
            float* out = images + (int64_t)(k0 + k) * g->image_numel;
            bool finite = true;
            for (int64_t j = 0; j < g->image_numel; j++) {
                float v = img[k * g->image_numel + j];
                finite = finite && isfinite(v);
                out[j] = v < -1.0f ? -1.0f : v > 1.0f ? 1.0f : v;  // comparisons with NaN are false: it stays
            }
            bad += !finite;
        }
    }
    return bad;
}

int generator_max_batch(const GpuContext* gpu, const DiffusionPipeline* p) {
    if (!p->latent) return INT_MAX;
    int c, s;
    pipeline_image_shape(p, &c, &s);
    uint64_t most = gpu->props.limits.maxStorageBufferRange / ((uint64_t)c * (uint64_t)s * (uint64_t)s * sizeof(float));
    return most < 1 ? 1 : most > 1024 ? 1024 : (int)most;
}

void generator_free(Generator* g) {
    cmd_free(&g->encode);
    cmd_free(&g->step);
    if (g->pipe->latent) {
        cmd_free(&g->decode);
        vae_scratch_free(&g->vae_scratch);
        arena_free(&g->vae_tmp);
    }
    arena_free(&g->io), arena_free(&g->text), arena_free(&g->act), arena_free(&g->tmp);
    schedule_free(&g->sched);
    if (g->set.use_ema) free(g->unet_view.e);
    free(g->plan);
    free(g->tok);
    memset(g, 0, sizeof *g);
}
