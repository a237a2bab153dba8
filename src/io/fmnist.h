// fmnist.h: the embedded default data set, Fashion-MNIST as installed by the
// Debian package dataset-fashion-mnist (DATA.md): IDX files, gzip-compressed,
// under /usr/share/datasets/fashion-mnist (train: 60,000, t10k: 10,000 images).
//
// Images are kept as the raw 28x28 bytes (47 MB for the training set instead of
// 245 MB of floats) and converted on demand to what the model sees: 32x32 with
// 2 pixels of background on each side, scaled to [-1, 1] (background 0 -> -1).
//
// Captions are exactly DATA.md's: "a photo of a t-shirt" ... "a photo of an ankle
// boot" (labels 0..9). Optional attribute words are measured from the image:
//   tone: mean raw value of the garment pixels (raw >= FMNIST_INK): "dark" in the
//         class's lowest third, "bright" in its highest third, nothing between;
//   size: number of garment pixels: "small" lowest third, "large" highest third.
// "Thirds" are the training set's per-class terciles: with the class's values
// sorted ascending v[0..m), lo = v[m/3], hi = v[2m/3]; a value x is low when
// x < lo and high when x >= hi (ties make the thirds slightly uneven).
// Per class, because a "large" sandal is still smaller than a small coat.
// Attribute captions put tone before size: "a photo of a dark small sneaker".
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FMNIST_DEFAULT_DIR "/usr/share/datasets/fashion-mnist"
#define FMNIST_CLASSES 10
#define FMNIST_RAW 28   // side of a stored image
#define FMNIST_PAD 2    // background added on each side
#define FMNIST_SIDE 32  // side the model sees: FMNIST_RAW + 2 * FMNIST_PAD
#define FMNIST_INK 8    // raw value from which a pixel counts as garment (1..7 is scanner noise)

typedef enum FmnistSplit { FMNIST_TRAIN, FMNIST_TEST } FmnistSplit;

typedef struct Fmnist {
    int n;              // number of images
    uint8_t* pixels;    // [n][28][28] raw, 0 = background, 255 = brightest
    uint8_t* labels;    // [n], 0..9
    float* brightness;  // [n] mean raw value of garment pixels (0 when there are none)
    int32_t* area;      // [n] number of garment pixels
} Fmnist;

// The folder to read: dir when non-empty, else $VKPREF_FMNIST_DIR when set and
// non-empty, else FMNIST_DEFAULT_DIR.
const char* fmnist_dir(const char* dir);
// Loads one split from fmnist_dir(dir). Validates magic numbers (2051 images,
// 2049 labels), 28x28 size, that image and label counts agree, labels < 10, the
// byte count and the gzip checksum. Returns 0, or -1 with err naming the file
// and the problem (a missing file names the Debian package that provides it).
int fmnist_load(Fmnist* ds, const char* dir, FmnistSplit split, char* err, size_t errlen);
void fmnist_load_or_die(Fmnist* ds, const char* dir, FmnistSplit split);
void fmnist_free(Fmnist* ds);
// File names of a split inside the folder ("train-images-idx3-ubyte.gz", ...).
const char* fmnist_images_file(FmnistSplit split);
const char* fmnist_labels_file(FmnistSplit split);

// Image i as [32][32] floats in [-1, 1] (raw / 127.5 - 1), padding = -1.
void fmnist_image(const Fmnist* ds, int i, float* out);

const char* fmnist_class_name(int label);  // "t-shirt", "trouser", ..., "ankle boot"
const char* fmnist_caption(int label);     // "a photo of a t-shirt", ..., "a photo of an ankle boot"

// ---------------------------------------------------------------------------
// Attribute words.

typedef enum FmnistTone { FMNIST_TONE_NONE, FMNIST_TONE_DARK, FMNIST_TONE_BRIGHT } FmnistTone;
typedef enum FmnistSize { FMNIST_SIZE_NONE, FMNIST_SIZE_SMALL, FMNIST_SIZE_LARGE } FmnistSize;

typedef struct FmnistThresholds {
    float tone_lo[FMNIST_CLASSES], tone_hi[FMNIST_CLASSES];    // dark: b < lo, bright: b >= hi
    int32_t size_lo[FMNIST_CLASSES], size_hi[FMNIST_CLASSES];  // small: a < lo, large: a >= hi
} FmnistThresholds;

// The terciles of the real training set, measured once (test_fmnist checks that
// fmnist_thresholds on the installed training set reproduces them exactly), so
// test-set and prompt captions need not load the 60,000 training images.
extern const FmnistThresholds FMNIST_TRAIN_THRESHOLDS;

// Measures one raw 28x28 image.
void fmnist_measure(const uint8_t* raw, float* brightness, int32_t* area);
// Per-class terciles of ds (every class must be present).
void fmnist_thresholds(const Fmnist* ds, FmnistThresholds* th);
void fmnist_attributes(const Fmnist* ds, int i, const FmnistThresholds* th, FmnistTone* tone, FmnistSize* size);
const char* fmnist_tone_word(FmnistTone t);  // "", "dark", "bright"
const char* fmnist_size_word(FmnistSize s);  // "", "small", "large"
// "a photo of a dark small sneaker", "a photo of a large ankle boot", "a photo of an ankle boot"
// (article "an" only before a vowel). Returns the length written (truncated to n-1).
int fmnist_caption_with(int label, FmnistTone tone, FmnistSize size, char* buf, size_t n);
// Caption of image i with its measured attributes.
int fmnist_attr_caption(const Fmnist* ds, int i, const FmnistThresholds* th, char* buf, size_t n);
// The inverse of fmnist_caption_with: true when caption is exactly one of the
// 270 captions it can write (10 classes x 3 tones x 3 sizes), with its parts in
// *label, *tone, *size (tone and size may be NULL). Anything else (other words,
// case, spacing, a wrong article) is false and leaves the outputs untouched.
bool fmnist_parse_caption(const char* caption, int* label, FmnistTone* tone, FmnistSize* size);
