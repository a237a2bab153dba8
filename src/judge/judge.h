// judge.h: named, deterministic scorers of (image, caption) pairs: they pick the
// chosen image of AI-feedback preference pairs and score samples in evaluation
// (DATA.md, "Preferences made by a judge"). Higher is better, always.
//
// Judge names (the spec given to judge_open):
//   brightness        mean pixel value of the image, in [-1, 1] (-1: all background)
//   contrast          standard deviation of the pixel values (population, / 1024)
//   ink               fraction of the 32x32 pixels that are garment: value above
//                     (FMNIST_INK - 0.5) / 127.5 - 1, halfway between the raw
//                     values 7 and 8, so a real image's ink * 1024 is its area
//   border            mean pixel value of the 2-pixel frame of the image, in [-1, 1]:
//                     the background's tone (-1 black as in Fashion-MNIST, +1 white
//                     as in the inverted style of `fmnist-manifest --style invert`)
//   darkness          alias of -brightness
//   small             alias of -ink
//   classifier        the classifier folder assets/judge-fmnist (found with
//                     find_data_file: the working folder, then beside the binary)
//   classifier:PATH   the classifier folder PATH (written by `vkpref train-judge`);
//                     score = log p(caption's class | image) under the classifier,
//                     in (-inf, 0]. The caption must be one fmnist_parse_caption
//                     reads ("a photo of a[n] [dark|bright] [small|large] <class>");
//                     attribute words are parsed but do not change the score.
//   -NAME             any of the above negated (e.g. "-contrast", "-classifier:DIR");
//                     one leading '-' only.
// The image statistics ignore captions (which may then be NULL) and need no GPU;
// they are computed in double on the host, in a fixed order.
// Same inputs give the same bits, on every call and every run of a device.
#pragma once
#include <stdbool.h>
#include <stddef.h>

#include "gpu/gpu.h"

#define JUDGE_DEFAULT_CLASSIFIER "assets/judge-fmnist"
#define JUDGE_NAME_MAX 4200

typedef enum JudgeKind { JUDGE_BRIGHTNESS, JUDGE_CONTRAST, JUDGE_INK, JUDGE_BORDER, JUDGE_CLASSIFIER } JudgeKind;

struct JudgeModel;  // the loaded classifier (judge.c)

typedef struct Judge {
    char name[JUDGE_NAME_MAX];  // the spec as given, for reports
    JudgeKind kind;
    bool negate;
    char path[4096];            // classifier folder as resolved
    struct JudgeModel* model;   // NULL for image statistics
    char err[4608];             // why the last judge_score / judge_classify failed
} Judge;

// Opens a judge by name (above). g may be NULL for the image statistics.
// 0, or -1 with err naming the spec (unknown name, missing or broken folder).
int judge_open(Judge* j, GpuContext* g, const char* spec, char* err, size_t errlen);
void judge_close(Judge* j);
// True for judges whose score depends on the caption.
bool judge_uses_captions(const Judge* j);

// images [n][1][32][32] in [-1, 1]; captions [n] (may be NULL for the statistics).
// scores [n]. 0, or -1 with j->err naming the problem (an unreadable caption
// is quoted, with its index).
int judge_score(Judge* j, const float* images, const char* const* captions, int n, double* scores);
// Classifier judges: the most likely class (0..9) of each image. -1 with j->err
// for a statistics judge.
int judge_classify(Judge* j, const float* images, int n, int* classes);
// Caption fit: the fraction of images whose most likely class is their
// caption's class (in [0, 1]); captions parsed as in judge_score.
int judge_caption_fit(Judge* j, const float* images, const char* const* captions, int n, double* accuracy);
