// embed_example.c: a program that uses vkpref as a library through its public
// header alone: opens a device, fine-tunes a pipeline with Diffusion-DPO for a
// few steps (printing each step's metrics), saves it, samples one image from
// the result and evaluates it against the base under a judge.
//
// Usage: embed_example BASE_PIPELINE PAIRS.jsonl OUTPUT_DIR [STEPS]
// e.g.   build/embed_example assets/fmnist-base out/demo/pairs/pairs.jsonl out/embed 5
#include <stdio.h>
#include <stdlib.h>

#include "vkpref.h"

static int failed(const char* what, const VkpError* e) {
    fprintf(stderr, "embed_example: %s: %s\n", what, e->message);
    return e->status == VKP_ERR_DEVICE ? 3 : 1;
}

int main(int argc, char** argv) {
    if (argc < 4) {
        fprintf(stderr, "usage: %s BASE_PIPELINE PAIRS.jsonl OUTPUT_DIR [STEPS]\n", argv[0]);
        return 2;
    }
    const char *base_dir = argv[1], *pairs = argv[2], *out_dir = argv[3], *steps = argc > 4 ? argv[4] : "5";
    VkpError e;
    VkpDevice* dev;
    if (vkp_device_open(-1, &dev, &e)) return failed("device", &e);
    printf("device: %s\n", vkp_device_name(dev));

    VkpConfig* cfg;
    vkp_config_new(&cfg);
    const char* settings[][2] = {
        {"objective", "dpo"}, {"pretrained_model_name_or_path", base_dir}, {"dataset", pairs},
        {"output_dir", out_dir}, {"overwrite_output_dir", "true"}, {"max_train_steps", steps},
        {"train_batch_size", "2"}, {"learning_rate", "2.5e-7"}, {"lr_warmup_steps", "0"}, {"use_ema", "false"},
        {"checkpointing_steps", "0"}, {"validation_images", "0"}, {"validation_grid_seeds", "0"},
    };
    for (size_t i = 0; i < sizeof settings / sizeof *settings; i++)
        if (vkp_config_set(cfg, settings[i][0], settings[i][1], &e)) return failed(settings[i][0], &e);

    VkpRun* run;
    if (vkp_run_open(dev, cfg, &run, &e)) return failed("run", &e);
    while (vkp_run_done(run) < vkp_run_total(run)) {
        VkpStepMetrics m;
        if (vkp_run_step(run, &m, &e)) return failed("step", &e);
        printf("step %d/%d loss %.6f grad_norm %.4f", m.step, m.total, m.loss, m.grad_norm);
        for (int k = 1; k < m.nmetrics; k++)
            if (vkp_metric_name(k)[0] == 'i') printf(" %s %.3f", vkp_metric_name(k), m.metrics[k]);  // implicit_acc
        printf("\n");
    }
    if (vkp_run_save(run, &e)) return failed("save", &e);
    vkp_run_close(run);
    vkp_config_free(cfg);

    VkpModel *tuned, *base;
    if (vkp_model_open(dev, out_dir, &tuned, &e) || vkp_model_open(dev, base_dir, &base, &e))
        return failed("model", &e);
    int channels, size;
    vkp_model_image_shape(tuned, &channels, &size);
    float* image = malloc(sizeof(float) * (size_t)channels * (size_t)size * (size_t)size);
    const char* prompt[] = {"a photo of a bag"};
    const uint64_t seed[] = {1000};
    VkpSampleOptions so = {.sampler = "ddim", .steps = 4, .guidance_scale = 3};
    if (vkp_sample(tuned, &so, prompt, seed, 1, image, &e)) return failed("sample", &e);
    double mean = 0;
    for (int i = 0; i < channels * size * size; i++) mean += image[i];
    printf("sampled %dx%dx%d, mean pixel %.4f\n", channels, size, size, mean / (channels * size * size));
    VkpWinRate w;
    const uint64_t seeds[] = {1000, 1001};
    if (vkp_evaluate(tuned, base, "brightness", &so, prompt, 1, seeds, 2, 0, &w, &e)) return failed("evaluate", &e);
    printf("win rate against the base (brightness): %.3f [%.3f, %.3f] over %d comparisons\n", w.rate, w.ci95_lo,
           w.ci95_hi, w.comparisons);
    free(image);
    vkp_model_close(tuned);
    vkp_model_close(base);
    vkp_device_close(dev);
    return 0;
}
