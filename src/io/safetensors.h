// safetensors.h: the checked safetensors reader and the writer.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
//   {"name": {"dtype": "F32", "shape": [...], "data_offsets": [begin, end]}, ...,
//    "__metadata__": {"key": "value", ...}}
// then the raw little-endian data; offsets are relative to the end of the header.
//
// st_open validates everything before any tensor is touched (the lesson from
// stable-diffusion.cpp's reader): header length within the file, JSON syntax,
// dtype, shape, offsets inside the data section, byte size == numel * dtype size,
// no overlapping tensors, no duplicate names, __metadata__ values are strings.
// After a successful open every accessor is safe. Errors name the file and the
// tensor: "model.safetensors: tensor 'conv_in.weight': data_offsets [0, 100] but
// shape [32,1,3,3] F32 needs 1152 bytes".
//
// The writer stores float tensors as F32, F16 or BF16 (round to nearest even) and
// integer tensors as I64; entries are sorted like the Hugging Face library
// (dtype size descending, then name), so the output is byte-identical whatever the
// insertion order and every tensor is aligned to its dtype size. The header is
// padded with spaces to a multiple of 8 bytes, offsets are contiguous, and the
// file is written under a temporary name and renamed into place (fsutil.h).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define ST_MAX_DIMS 8
// The Hugging Face library refuses headers over 100 MB; so do we (a corrupt length
// must not make us allocate gigabytes).
#define ST_MAX_HEADER_BYTES 100000000ull

typedef enum StDtype { ST_F32, ST_F16, ST_BF16, ST_I64, ST_I32, ST_DTYPE_COUNT } StDtype;

const char* st_dtype_name(StDtype d);  // "F32", ...
size_t st_dtype_size(StDtype d);       // bytes per element

// ---------------------------------------------------------------------------
// Reader.

typedef struct StTensor {
    const char* name;
    StDtype dtype;
    int ndim;  // 0 = scalar
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    uint64_t begin, end;  // byte range inside the data section (of its shard's file)
    const uint8_t* bytes; // the data itself (set by the reader)
} StTensor;

typedef struct SafeTensors SafeTensors;  // opaque: the mapped file and its parsed header

// Maps the file and validates the header; NULL with err set on any problem.
SafeTensors* st_open(const char* path, char* err, size_t errlen);
void st_close(SafeTensors* st);
// Opens the shards a Hugging Face index file lists (`*.safetensors.index.json`:
// {"weight_map": {"tensor": "shard file", ...}}, shard files relative to the
// index's folder) as one set: every accessor below works on it as on one file.
// Each shard is validated as st_open does; a tensor the index places in another
// shard than holds it, one in two shards, or a listed one missing is an error
// naming the index and the tensor.
SafeTensors* st_open_sharded(const char* index_path, char* err, size_t errlen);

const char* st_path(const SafeTensors* st);
int st_count(const SafeTensors* st);                               // tensors, in header order
const StTensor* st_tensor_at(const SafeTensors* st, int i);        // 0 <= i < st_count
const StTensor* st_find(const SafeTensors* st, const char* name);  // NULL when absent (binary search)
int st_meta_count(const SafeTensors* st);
void st_meta_at(const SafeTensors* st, int i, const char** key, const char** value);
const char* st_meta_get(const SafeTensors* st, const char* key);  // NULL when absent
// The tensor's raw little-endian bytes (end - begin of them; not necessarily aligned).
const void* st_data(const SafeTensors* st, const StTensor* t);

// Converts any dtype to float32 into out[0 .. t->numel) (I64/I32 exactly up to 2^24).
void st_read_f32(const SafeTensors* st, const StTensor* t, float* out);
// Finds name, checks its shape equals shape[0..ndim) and reads it as float32.
// Errors: "<file>: no tensor named 'x'", "<file>: tensor 'x': shape [4,3] but expected [3,4]",
// "<file>: tensor 'x': element 7 is NaN (weights must be finite)" (also infinities).
int st_load_f32(const SafeTensors* st, const char* name, int ndim, const int64_t* shape, float* out, char* err,
                size_t errlen);

// ---------------------------------------------------------------------------
// Writer. Tensor data is NOT copied: every pointer passed to st_writer_add* must
// stay valid until st_writer_write returns (checkpoints hold gigabytes).

typedef struct StWriterEntry {
    char* name;
    StDtype dtype;  // as stored in the file
    bool is_i64;    // source is int64_t (else float)
    int ndim;
    int64_t shape[ST_MAX_DIMS];
    int64_t numel;
    const void* data;
} StWriterEntry;

typedef struct StWriter {
    StDtype float_dtype;  // ST_F32, ST_F16 or ST_BF16: how float tensors are stored
    StWriterEntry* e;
    int n, cap;
    char **meta_key, **meta_value;
    int n_meta, meta_cap;
} StWriter;

void st_writer_init(StWriter* w, StDtype float_dtype);
void st_writer_free(StWriter* w);
// Dies on a programming error: duplicate or empty name, "__metadata__", bad shape.
void st_writer_add(StWriter* w, const char* name, int ndim, const int64_t* shape, const float* data);
void st_writer_add_i64(StWriter* w, const char* name, int ndim, const int64_t* shape, const int64_t* data);
// A string -> string entry of __metadata__ (a repeated key replaces the value).
void st_writer_meta(StWriter* w, const char* key, const char* value);
// Writes path atomically (temporary name, fsync, rename). 0 or -1 with err.
int st_writer_write(const StWriter* w, const char* path, char* err, size_t errlen);

