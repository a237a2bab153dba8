// classifier.c: see classifier.h.
#include "judge/classifier.h"

#include <stdio.h>

#include "util/check.h"

const ClassifierConfig CLASSIFIER_DEFAULT = {
    .image_size = 32, .num_classes = 10, .nconv = 4, .channels = {16, 32, 64, 64}, .strides = {1, 2, 2, 2}};

static int out_side(int in, int stride) { return (in + 2 - 3) / stride + 1; }  // 3x3, padding 1

int classifier_feature_side(const ClassifierConfig* c) {
    int s = c->image_size;
    for (int i = 0; i < c->nconv; i++) s = out_side(s, c->strides[i]);
    return s;
}

int classifier_feature_width(const ClassifierConfig* c) {
    int s = classifier_feature_side(c);
    return c->channels[c->nconv - 1] * s * s;
}

int classifier_config_check(const ClassifierConfig* c, const char* source, char* err, size_t errlen) {
    if (c->image_size < 1 || c->image_size > 1024) return fail(err, errlen, "%s: image_size %d out of range", source, c->image_size);
    if (c->num_classes < 2 || c->num_classes > 1024)
        return fail(err, errlen, "%s: num_classes %d out of range", source, c->num_classes);
    if (c->nconv < 1 || c->nconv > CLASSIFIER_MAX_CONVS)
        return fail(err, errlen, "%s: %d convolutions (1 to %d)", source, c->nconv, CLASSIFIER_MAX_CONVS);
    for (int i = 0; i < c->nconv; i++) {
        if (c->channels[i] < 1 || c->channels[i] > 4096)
            return fail(err, errlen, "%s: channels[%d] = %d out of range", source, i, c->channels[i]);
        if (c->strides[i] < 1 || c->strides[i] > 4)
            return fail(err, errlen, "%s: strides[%d] = %d (1 to 4)", source, i, c->strides[i]);
    }
    return 0;
}

void classifier_init(Classifier* m, const ClassifierConfig* c, ParamStore* ps) {
    char err[256];
    if (classifier_config_check(c, "classifier_init", err, sizeof err)) die("%s", err);
    *m = (Classifier){.cfg = *c};
    int cin = 1;
    for (int i = 0; i < c->nconv; i++) {
        char name[32];
        snprintf(name, sizeof name, "conv%d", i + 1);
        conv2d_init(&m->conv[i], ps, name, cin, c->channels[i], 3, c->strides[i], 1);
        cin = c->channels[i];
    }
    linear_init(&m->fc, ps, "fc", classifier_feature_width(c), c->num_classes, true);
}

void classifier_forward(Graph* g, const Classifier* m, ClassifierActs* s, const Tensor* logits, const Tensor* x) {
    const ClassifierConfig* c = &m->cfg;
    if (x->ndim != 4 || x->shape[1] != 1 || x->shape[2] != c->image_size || x->shape[3] != c->image_size)
        die("classifier_forward: input must be [N, 1, %d, %d]", c->image_size, c->image_size);
    int64_t N = x->shape[0];
    if (tensor_numel(logits) != N * c->num_classes)
        die("classifier_forward: logits must be [%lld, %d]", (long long)N, c->num_classes);
    Tensor h = *x;
    for (int i = 0; i < c->nconv; i++) {
        s->in[i] = h;
        s->pre[i] = conv2d_forward(g, &m->conv[i], &h);
        h = graph_tmp(g, 4, s->pre[i].shape);
        op_act_forward(g->cmd, &h, &s->pre[i], ACT_SILU);
    }
    s->feat = tensor_reshape(h, 2, (int64_t[]){N, classifier_feature_width(c)});
    Tensor y = tensor_reshape(*logits, 2, (int64_t[]){N, c->num_classes});
    linear_forward_to(g, &m->fc, &y, &s->feat);
}

void classifier_backward(Graph* g, const Classifier* m, const ClassifierActs* s, const Tensor* dlogits) {
    const ClassifierConfig* c = &m->cfg;
    int64_t N = s->feat.shape[0];
    Tensor dy = tensor_reshape(*dlogits, 2, (int64_t[]){N, c->num_classes});
    Tensor dfeat = graph_grad_like(g, &s->feat);
    linear_backward(g, &m->fc, &dfeat, &dy, &s->feat);
    // d(SiLU output) of conv i, reshaped from the flat features for the last one.
    Tensor dh = tensor_reshape(dfeat, 4, s->pre[c->nconv - 1].shape);
    for (int i = c->nconv - 1; i >= 0; i--) {
        Tensor dpre = graph_grad_like(g, &s->pre[i]);
        op_act_backward(g->cmd, &dpre, &dh, &s->pre[i], ACT_SILU);
        Tensor dx = i > 0 ? graph_grad_like(g, &s->in[i]) : (Tensor){0};
        conv2d_backward(g, &m->conv[i], i > 0 ? &dx : NULL, &dpre, &s->in[i]);
        dh = dx;
    }
}
