// judge.c: see judge.h.
#include "judge/judge.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "io/fmnist.h"
#include "judge/classifier_infer.h"
#include "judge/classifier_io.h"
#include "util/check.h"
#include "util/fsutil.h"

#define IMAGE_PIXELS (FMNIST_SIDE * FMNIST_SIDE)
#define JUDGE_BATCH 64  // images per replay of the classifier's recorded forward

// A pixel is garment above the value halfway between raw FMNIST_INK - 1 and
// FMNIST_INK, so real images count exactly fmnist_measure's area and generated
// (continuous) images get the same rule.
static const double INK_THRESHOLD = (FMNIST_INK - 0.5) / 127.5 - 1.0;

struct JudgeModel {
    ParamStore ps;
    Classifier net;
    ClassifierRunner run;
};

static const char* const KNOWN =
    "brightness, contrast, ink, border, darkness, small, classifier or classifier:PATH, each optionally negated by a leading '-'";

int judge_open(Judge* j, GpuContext* g, const char* spec, char* err, size_t errlen) {
    memset(j, 0, sizeof *j);
    if (!spec || strlen(spec) >= sizeof j->name) return fail(err, errlen, "judge name too long or missing");
    snprintf(j->name, sizeof j->name, "%s", spec);
    const char* s = spec;
    if (*s == '-') j->negate = true, s++;
    if (!strcmp(s, "brightness")) j->kind = JUDGE_BRIGHTNESS;
    else if (!strcmp(s, "darkness")) j->kind = JUDGE_BRIGHTNESS, j->negate = !j->negate;
    else if (!strcmp(s, "contrast")) j->kind = JUDGE_CONTRAST;
    else if (!strcmp(s, "ink")) j->kind = JUDGE_INK;
    else if (!strcmp(s, "border")) j->kind = JUDGE_BORDER;
    else if (!strcmp(s, "small")) j->kind = JUDGE_INK, j->negate = !j->negate;
    else if (!strcmp(s, "classifier") || !strncmp(s, "classifier:", 11)) j->kind = JUDGE_CLASSIFIER;
    else return fail(err, errlen, "unknown judge \"%s\" (judges: %s)", spec, KNOWN);
    if (j->kind != JUDGE_CLASSIFIER) return 0;

    if (s[10] == ':') {
        if (!s[11]) return fail(err, errlen, "judge \"%s\": empty classifier folder after ':'", spec);
        snprintf(j->path, sizeof j->path, "%s", s + 11);
    } else {
        find_data_file(JUDGE_DEFAULT_CLASSIFIER, j->path, sizeof j->path);
    }
    if (!g) return fail(err, errlen, "judge \"%s\" needs a Vulkan device", spec);
    char e[4096];
    struct JudgeModel* m = xcalloc(1, sizeof *m);
    if (classifier_load(&m->net, &m->ps, g, j->path, e, sizeof e)) {
        free(m);
        return fail(err, errlen, "judge \"%s\": %s", spec, e);
    }
    ClassifierConfig c = m->net.cfg;
    if (c.image_size != FMNIST_SIDE || c.num_classes != FMNIST_CLASSES) {
        param_store_free(&m->ps);
        free(m);
        return fail(err, errlen, "judge \"%s\": %s classifies %dx%d images into %d classes, not %dx%d into %d", spec,
                    j->path, c.image_size, c.image_size, c.num_classes, FMNIST_SIDE, FMNIST_SIDE, FMNIST_CLASSES);
    }
    classifier_runner_init(&m->run, g, &m->net, &m->ps, JUDGE_BATCH);
    j->model = m;
    return 0;
}

void judge_close(Judge* j) {
    if (j->model) {
        classifier_runner_free(&j->model->run);
        param_store_free(&j->model->ps);
        free(j->model);
        j->model = NULL;
    }
}

bool judge_uses_captions(const Judge* j) { return j->kind == JUDGE_CLASSIFIER; }

#define BORDER_WIDTH 2  // FMNIST_PAD: the frame real images leave as pure background

// The statistic of one image, in double, pixels in index order.
static double image_statistic(JudgeKind kind, const float* img) {
    if (kind == JUDGE_BORDER) {
        double sum = 0;
        int n = 0;
        for (int y = 0; y < FMNIST_SIDE; y++)
            for (int x = 0; x < FMNIST_SIDE; x++)
                if (y < BORDER_WIDTH || y >= FMNIST_SIDE - BORDER_WIDTH || x < BORDER_WIDTH ||
                    x >= FMNIST_SIDE - BORDER_WIDTH)
                    sum += img[y * FMNIST_SIDE + x], n++;
        return sum / n;
    }
    double sum = 0, ink = 0;
    for (int i = 0; i < IMAGE_PIXELS; i++) sum += img[i], ink += img[i] > INK_THRESHOLD;
    double mean = sum / IMAGE_PIXELS;
    if (kind == JUDGE_BRIGHTNESS) return mean;
    if (kind == JUDGE_INK) return ink / IMAGE_PIXELS;
    double var = 0;
    for (int i = 0; i < IMAGE_PIXELS; i++) var += (img[i] - mean) * (img[i] - mean);
    return sqrt(var / IMAGE_PIXELS);
}

// Caption i's class, or -1 with j->err quoting it.
static int caption_labels(Judge* j, const char* const* captions, int n, int* labels) {
    if (!captions) return fail(j->err, sizeof j->err, "judge \"%s\" scores captions: none given", j->name);
    for (int i = 0; i < n; i++)
        if (!captions[i] || !fmnist_parse_caption(captions[i], &labels[i], NULL, NULL))
            return fail(j->err, sizeof j->err,
                        "judge \"%s\": caption %d \"%s\" is not a Fashion-MNIST caption "
                        "(\"a photo of a[n] [dark|bright] [small|large] <class>\")",
                        j->name, i, captions[i] ? captions[i] : "(null)");
    return 0;
}

int judge_score(Judge* j, const float* images, const char* const* captions, int n, double* scores) {
    j->err[0] = 0;
    if (n < 0) return fail(j->err, sizeof j->err, "judge \"%s\": %d images", j->name, n);
    if (j->kind == JUDGE_CLASSIFIER) {
        int* labels = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *labels);
        int r = caption_labels(j, captions, n, labels);
        if (!r) classifier_runner_run(&j->model->run, images, labels, n, NULL, scores);
        free(labels);
        if (r) return -1;
    } else {
        for (int i = 0; i < n; i++) scores[i] = image_statistic(j->kind, images + (size_t)i * IMAGE_PIXELS);
    }
    if (j->negate)
        for (int i = 0; i < n; i++) scores[i] = -scores[i];
    return 0;
}

int judge_classify(Judge* j, const float* images, int n, int* classes) {
    j->err[0] = 0;
    if (j->kind != JUDGE_CLASSIFIER) return fail(j->err, sizeof j->err, "judge \"%s\" is not a classifier", j->name);
    float* logits = xmalloc((size_t)(n > 0 ? n : 1) * FMNIST_CLASSES * sizeof *logits);
    classifier_runner_run(&j->model->run, images, NULL, n, logits, NULL);
    for (int i = 0; i < n; i++) classes[i] = classifier_argmax(logits + (size_t)i * FMNIST_CLASSES, FMNIST_CLASSES);
    free(logits);
    return 0;
}

int judge_caption_fit(Judge* j, const float* images, const char* const* captions, int n, double* accuracy) {
    j->err[0] = 0;
    if (j->kind != JUDGE_CLASSIFIER) return fail(j->err, sizeof j->err, "judge \"%s\" is not a classifier", j->name);
    int* labels = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *labels);
    int* classes = xmalloc((size_t)(n > 0 ? n : 1) * sizeof *classes);
    int r = caption_labels(j, captions, n, labels);
    if (!r) r = judge_classify(j, images, n, classes);
    int hits = 0;
    for (int i = 0; !r && i < n; i++) hits += classes[i] == labels[i];
    if (!r) *accuracy = n > 0 ? (double)hits / n : 0.0;
    free(labels), free(classes);
    return r;
}
