// classifier.h: the judge classifier, a small CNN that tells the ten
// Fashion-MNIST classes apart on the model's 32x32 images in [-1, 1]
// (DATA.md, "Preferences made by a judge"). Trained by `vkpref train-judge`.
//
// Architecture (CLASSIFIER_DEFAULT; a folder's config.json may give others):
//   conv1 3x3 stride 1, 1 -> 16,  SiLU   32x32
//   conv2 3x3 stride 2, 16 -> 32, SiLU   16x16
//   conv3 3x3 stride 2, 32 -> 64, SiLU    8x8
//   conv4 3x3 stride 2, 64 -> 64, SiLU    4x4
//   flatten (NCHW order, as torch.flatten) 1024 -> fc -> 10 logits
// Parameters "conv<i>.weight/bias" (i from 1) and "fc.weight/bias", PyTorch
// shapes, so the folder's model.safetensors loads into the same torch module.
// No normalisation layer: the network is shallow enough for AdamW without one,
// and every image scores independently of the others in its batch.
#pragma once
#include "model/layers.h"

#define CLASSIFIER_MAX_CONVS 6

typedef struct ClassifierConfig {
    int image_size;   // input side (32) with 1 channel
    int num_classes;  // 10
    int nconv;
    int channels[CLASSIFIER_MAX_CONVS];  // output channels of each 3x3 convolution (padding 1)
    int strides[CLASSIFIER_MAX_CONVS];
} ClassifierConfig;

extern const ClassifierConfig CLASSIFIER_DEFAULT;

// The model: configuration and parameter indices, read-only after
// classifier_init (as model/unet.h's split).
typedef struct Classifier {
    ClassifierConfig cfg;
    Conv2d conv[CLASSIFIER_MAX_CONVS];
    Linear fc;
} Classifier;

// Saved by a forward recording for its backward: each conv's input and
// pre-activation output, and the flattened features.
typedef struct ClassifierActs {
    Tensor in[CLASSIFIER_MAX_CONVS], pre[CLASSIFIER_MAX_CONVS], feat;
} ClassifierActs;

// 0, or -1 with err naming source and the bad field (sizes, strides, classes).
int classifier_config_check(const ClassifierConfig* c, const char* source, char* err, size_t errlen);
// Registers the parameters in ps (not yet allocated).
void classifier_init(Classifier* m, const ClassifierConfig* c, ParamStore* ps);
// Side of the last feature map, and the width of the flattened features.
int classifier_feature_side(const ClassifierConfig* c);
int classifier_feature_width(const ClassifierConfig* c);

// logits [N, num_classes] (caller-allocated, e.g. host-visible) from x [N, 1, S, S].
void classifier_forward(Graph* g, const Classifier* m, ClassifierActs* s, const Tensor* logits, const Tensor* x);
// Accumulates every parameter gradient from dlogits, for the forward recorded
// into s (which needs g->training).
void classifier_backward(Graph* g, const Classifier* m, const ClassifierActs* s, const Tensor* dlogits);
