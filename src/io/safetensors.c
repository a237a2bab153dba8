// safetensors.c: checked reader (mmap + full header validation) and atomic
// writer for the safetensors format; half/bfloat16 conversions. See safetensors.h.
#include "io/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/check.h"
#include "util/half.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

// The format is little-endian; F32 data is read and written by memcpy/fwrite.
#if !defined(__BYTE_ORDER__) || __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const char* const DTYPE_NAMES[ST_DTYPE_COUNT] = {"F32", "F16", "BF16", "I64", "I32"};
static const size_t DTYPE_SIZES[ST_DTYPE_COUNT] = {4, 2, 2, 8, 4};

const char* st_dtype_name(StDtype d) { return (unsigned)d < ST_DTYPE_COUNT ? DTYPE_NAMES[d] : "?"; }
size_t st_dtype_size(StDtype d) { return (unsigned)d < ST_DTYPE_COUNT ? DTYPE_SIZES[d] : 0; }

// "[32,1,3,3]" (the notation of the error messages).
static const char* fmt_shape(char* buf, size_t n, int ndim, const int64_t* shape) {
    size_t k = (size_t)snprintf(buf, n, "[");
    for (int i = 0; i < ndim && k < n; i++) k += (size_t)snprintf(buf + k, n - k, "%s%" PRId64, i ? "," : "", shape[i]);
    if (k < n) snprintf(buf + k, n - k, "]");
    return buf;
}

// ---------------------------------------------------------------------------
// Reader.

struct SafeTensors {
    char* path;
    uint8_t* file;
    size_t file_size;
    bool mapped;
    const uint8_t* data;  // data section (after the header)
    uint64_t data_size;
    StTensor* t;  // header order
    int n;
    const StTensor** by_name;  // sorted by name, for st_find
    char **meta_key, **meta_value;
    int n_meta;
    SafeTensors** shards;  // st_open_sharded: the open shards (t points into them)
    int n_shards;
};

static int cmp_by_name(const void* a, const void* b) {
    return strcmp((*(const StTensor* const*)a)->name, (*(const StTensor* const*)b)->name);
}

static int cmp_by_begin(const void* a, const void* b) {
    const StTensor *x = *(const StTensor*const*)a, *y = *(const StTensor*const*)b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    return x->end < y->end ? -1 : x->end > y->end;
}

// A JSON number that is an exact non-negative integer (doubles are exact to 2^53).
static bool json_uint(const cJSON* v, uint64_t* out) {
    if (!cJSON_IsNumber(v)) return false;
    double d = v->valuedouble;
    if (!(d >= 0) || d != floor(d) || d > 9007199254740992.0) return false;
    *out = (uint64_t)d;
    return true;
}

// Prints a JSON value briefly for messages ("-1", "\"x\"", "[...]").
static const char* json_brief(const cJSON* v, char* buf, size_t n) {
    char* s = cJSON_PrintUnformatted(v);
    snprintf(buf, n, "%.40s%s", s ? s : "?", s && strlen(s) > 40 ? "..." : "");
    free(s);
    return buf;
}

static int parse_tensor(SafeTensors* st, const cJSON* item, StTensor* t, char* err, size_t errlen) {
    const char* path = st->path;
    const char* name = item->string;
    char b1[64], b2[128];
    if (!cJSON_IsObject(item)) return fail(err, errlen, "%s: tensor '%s': entry is not a JSON object", path, name);

    const cJSON* dt = cJSON_GetObjectItemCaseSensitive(item, "dtype");
    if (!cJSON_IsString(dt)) return fail(err, errlen, "%s: tensor '%s': missing or non-string \"dtype\"", path, name);
    int d = -1;
    for (int k = 0; k < ST_DTYPE_COUNT; k++)
        if (strcmp(dt->valuestring, DTYPE_NAMES[k]) == 0) d = k;
    if (d < 0)
        return fail(err, errlen, "%s: tensor '%s': dtype \"%s\" is not supported (F32, F16, BF16, I64, I32)", path,
                    name, dt->valuestring);
    t->dtype = (StDtype)d;

    const cJSON* sh = cJSON_GetObjectItemCaseSensitive(item, "shape");
    if (!cJSON_IsArray(sh)) return fail(err, errlen, "%s: tensor '%s': missing or non-array \"shape\"", path, name);
    int ndim = cJSON_GetArraySize(sh);
    if (ndim > ST_MAX_DIMS)
        return fail(err, errlen, "%s: tensor '%s': shape has %d dimensions (at most %d supported)", path, name, ndim,
                    ST_MAX_DIMS);
    t->ndim = ndim;
    uint64_t numel = 1;
    bool overflow = false;
    int k = 0;
    for (const cJSON* e = sh->child; e; e = e->next, k++) {
        uint64_t v;
        if (!json_uint(e, &v))
            return fail(err, errlen, "%s: tensor '%s': shape entry %d is %s, not a non-negative integer", path, name, k,
                        json_brief(e, b1, sizeof b1));
        t->shape[k] = (int64_t)v;
        if (__builtin_mul_overflow(numel, v, &numel)) overflow = true;
    }
    uint64_t need;
    if (overflow || numel > (uint64_t)INT64_MAX || __builtin_mul_overflow(numel, DTYPE_SIZES[d], &need))
        return fail(err, errlen, "%s: tensor '%s': shape %s has too many elements", path, name,
                    fmt_shape(b2, sizeof b2, ndim, t->shape));
    t->numel = (int64_t)numel;

    const cJSON* off = cJSON_GetObjectItemCaseSensitive(item, "data_offsets");
    uint64_t begin, end;
    if (!cJSON_IsArray(off) || cJSON_GetArraySize(off) != 2 || !json_uint(off->child, &begin) ||
        !json_uint(off->child->next, &end))
        return fail(err, errlen,
                    "%s: tensor '%s': \"data_offsets\" must be [begin, end] with non-negative integers, got %s", path,
                    name, off ? json_brief(off, b1, sizeof b1) : "nothing");
    if (begin > end)
        return fail(err, errlen, "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] has begin > end", path, name,
                    begin, end);
    if (end > st->data_size)
        return fail(err, errlen,
                    "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] run past the end of the data (%" PRIu64
                    " bytes after the header; file truncated?)",
                    path, name, begin, end, st->data_size);
    if (end - begin != need)
        return fail(err, errlen,
                    "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] but shape %s %s needs %" PRIu64 " bytes",
                    path, name, begin, end, fmt_shape(b2, sizeof b2, ndim, t->shape), DTYPE_NAMES[d], need);
    t->begin = begin;
    t->end = end;
    return 0;
}

static int parse_metadata(SafeTensors* st, const cJSON* m, char* err, size_t errlen) {
    char b1[64];
    if (!cJSON_IsObject(m)) return fail(err, errlen, "%s: \"__metadata__\" is not a JSON object", st->path);
    const cJSON* dup = json_find_duplicate(m);
    if (dup) return fail(err, errlen, "%s: \"__metadata__\" key '%s' appears twice", st->path, dup->string);
    int n = cJSON_GetArraySize(m);
    st->meta_key = xcalloc((size_t)n, sizeof(char*));
    st->meta_value = xcalloc((size_t)n, sizeof(char*));
    for (const cJSON* e = m->child; e; e = e->next) {
        if (!cJSON_IsString(e))
            return fail(err, errlen, "%s: \"__metadata__\" key '%s': value %s is not a string", st->path, e->string,
                        json_brief(e, b1, sizeof b1));
        st->meta_key[st->n_meta] = xstrdup(e->string);
        st->meta_value[st->n_meta] = xstrdup(e->valuestring);
        st->n_meta++;
    }
    return 0;
}

static int parse_header(SafeTensors* st, const char* text, size_t n, char* err, size_t errlen) {
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(text, n, &end, false);
    if (!root) {
        size_t pos = end && end >= text && end <= text + n ? (size_t)(end - text) : 0;
        char near[24];
        size_t k = 0;
        for (size_t i = pos; i < n && k < 20; i++) near[k++] = (text[i] >= 32 && text[i] < 127) ? text[i] : '?';
        near[k] = 0;
        return fail(err, errlen, "%s: header is not valid JSON (error at byte %zu of %zu, near '%s')", st->path, pos, n,
                    near);
    }
    // The Hugging Face writer pads with spaces; anything else after the object is corruption.
    for (const char* p = end; p < text + n; p++) {
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r') {
            cJSON_Delete(root);
            return fail(err, errlen, "%s: header has bytes after the JSON object (at byte %zu)", st->path,
                        (size_t)(p - text));
        }
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return fail(err, errlen, "%s: header is not a JSON object", st->path);
    }
    int count = 0;
    for (const cJSON* e = root->child; e; e = e->next)
        if (strcmp(e->string, "__metadata__") != 0) count++;
    st->t = xcalloc((size_t)count, sizeof *st->t);
    int r = 0;
    bool seen_meta = false;
    for (const cJSON* e = root->child; e && r == 0; e = e->next) {
        if (strcmp(e->string, "__metadata__") == 0) {
            if (seen_meta)
                r = fail(err, errlen, "%s: \"__metadata__\" appears twice", st->path);
            else
                r = parse_metadata(st, e, err, errlen);
            seen_meta = true;
            continue;
        }
        StTensor* t = &st->t[st->n];
        t->name = xstrdup(e->string);
        st->n++;
        r = parse_tensor(st, e, t, err, errlen);
    }
    cJSON_Delete(root);
    return r;
}

// Duplicate names (JSON allows them, cJSON keeps both) and overlapping byte ranges.
static int check_layout(SafeTensors* st, char* err, size_t errlen) {
    st->by_name = xmalloc((size_t)(st->n ? st->n : 1) * sizeof *st->by_name);
    for (int i = 0; i < st->n; i++) st->by_name[i] = &st->t[i];
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_by_name);
    for (int i = 1; i < st->n; i++)
        if (strcmp(st->by_name[i - 1]->name, st->by_name[i]->name) == 0)
            return fail(err, errlen, "%s: tensor '%s': appears twice in the header", st->path, st->by_name[i]->name);

    const StTensor** order = xmalloc((size_t)(st->n ? st->n : 1) * sizeof *order);
    for (int i = 0; i < st->n; i++) order[i] = &st->t[i];
    qsort(order, (size_t)st->n, sizeof *order, cmp_by_begin);
    const StTensor* last = NULL;  // the non-empty tensor reaching furthest so far
    int r = 0;
    for (int i = 0; i < st->n && r == 0; i++) {
        const StTensor* t = order[i];
        if (t->begin == t->end) continue;  // empty tensors occupy no bytes
        if (last && t->begin < last->end)
            r = fail(err, errlen,
                     "%s: tensor '%s': data_offsets [%" PRIu64 ", %" PRIu64 "] overlap tensor '%s' [%" PRIu64
                     ", %" PRIu64 "]",
                     st->path, t->name, t->begin, t->end, last->name, last->begin, last->end);
        if (!last || t->end > last->end) last = t;
    }
    free(order);
    return r;
}

SafeTensors* st_open(const char* path, char* err, size_t errlen) {
    SafeTensors* st = xcalloc(1, sizeof *st);
    st->path = xstrdup(path);
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        fail(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        st_close(st);
        return NULL;
    }
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fail(err, errlen, "%s: not a regular file", path);
        close(fd);
        st_close(st);
        return NULL;
    }
    st->file_size = (size_t)sb.st_size;
    if (st->file_size < 8) {
        fail(err, errlen, "%s: file is %zu bytes, too short for the 8-byte header length", path, st->file_size);
        close(fd);
        st_close(st);
        return NULL;
    }
    // mmap: checkpoints are gigabytes and tensors are copied out once each.
    void* m = mmap(NULL, st->file_size, PROT_READ, MAP_PRIVATE, fd, 0);
    if (m != MAP_FAILED) {
        st->file = m;
        st->mapped = true;
    } else {
        st->file = xmalloc(st->file_size);
        size_t got = 0;
        while (got < st->file_size) {
            ssize_t r = pread(fd, st->file + got, st->file_size - got, (off_t)got);
            if (r <= 0) break;
            got += (size_t)r;
        }
        if (got != st->file_size) {
            fail(err, errlen, "%s: read failed: %s", path, strerror(errno));
            close(fd);
            st_close(st);
            return NULL;
        }
    }
    close(fd);

    uint64_t n;
    memcpy(&n, st->file, 8);
    uint64_t avail = st->file_size - 8;
    int r = 0;
    if (n > avail)
        r = fail(err, errlen,
                 "%s: header length %" PRIu64 " exceeds the file size (%zu bytes, %" PRIu64 " after the length)", path,
                 n, st->file_size, avail);
    else if (n > ST_MAX_HEADER_BYTES)
        r = fail(err, errlen, "%s: header length %" PRIu64 " is over the %llu byte limit", path, n,
                 ST_MAX_HEADER_BYTES);
    else if (n < 2)
        r = fail(err, errlen, "%s: header length %" PRIu64 " is too small for a JSON object", path, n);
    if (r == 0) {
        st->data = st->file + 8 + n;
        st->data_size = avail - n;
        r = parse_header(st, (const char*)st->file + 8, (size_t)n, err, errlen);
    }
    if (r == 0) r = check_layout(st, err, errlen);
    if (r != 0) {
        st_close(st);
        return NULL;
    }
    for (int i = 0; i < st->n; i++) st->t[i].bytes = st->data + st->t[i].begin;
    return st;
}

static SafeTensors* sharded_fail(SafeTensors* st, cJSON* root) {
    cJSON_Delete(root);
    st_close(st);
    return NULL;
}

SafeTensors* st_open_sharded(const char* index_path, char* err, size_t errlen) {
    size_t len;
    char* text = read_file(index_path, &len, err, errlen);
    if (!text) return NULL;
    cJSON* root = cJSON_ParseWithLength(text, len);
    free(text);
    SafeTensors* st = xcalloc(1, sizeof *st);
    st->path = xstrdup(index_path);
    const cJSON* map = cJSON_GetObjectItemCaseSensitive(root, "weight_map");
    if (!cJSON_IsObject(map) || !map->child) {
        fail(err, errlen, "%s: %s", index_path, root ? "no \"weight_map\" object with entries" : "not valid JSON");
        return sharded_fail(st, root);
    }
    char* dir = xstrdup(index_path);  // the index's folder: shard names are relative to it
    char* slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else strcpy(dir, ".");
    int total = 0;
    for (const cJSON* e = map->child; e; e = e->next) {
        if (!cJSON_IsString(e) || !*e->valuestring || strchr(e->valuestring, '/')) {
            fail(err, errlen, "%s: weight_map \"%s\": not a shard file name in this folder", index_path, e->string);
            free(dir);
            return sharded_fail(st, root);
        }
        bool seen = false;
        for (const cJSON* f = map->child; f != e && !seen; f = f->next) seen = !strcmp(f->valuestring, e->valuestring);
        if (seen) continue;
        char* path = path_join(dir, e->valuestring);
        SafeTensors* shard = st_open(path, err, errlen);
        free(path);
        if (!shard) {
            free(dir);
            return sharded_fail(st, root);
        }
        st->shards = xrealloc(st->shards, (size_t)(st->n_shards + 1) * sizeof *st->shards);
        st->shards[st->n_shards++] = shard;
        total += shard->n;
    }
    free(dir);
    st->t = xcalloc((size_t)(total ? total : 1), sizeof *st->t);
    for (int s = 0; s < st->n_shards; s++)
        for (int i = 0; i < st->shards[s]->n; i++) {
            st->t[st->n] = st->shards[s]->t[i];
            st->t[st->n].name = xstrdup(st->shards[s]->t[i].name);
            st->n++;
        }
    st->by_name = xmalloc((size_t)(st->n ? st->n : 1) * sizeof *st->by_name);
    for (int i = 0; i < st->n; i++) st->by_name[i] = &st->t[i];
    qsort(st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_by_name);
    for (int i = 1; i < st->n; i++)
        if (!strcmp(st->by_name[i - 1]->name, st->by_name[i]->name)) {
            fail(err, errlen, "%s: tensor '%s' is in two shards", index_path, st->by_name[i]->name);
            return sharded_fail(st, root);
        }
    for (const cJSON* e = map->child; e; e = e->next) {
        const StTensor* t = st_find(st, e->string);
        const SafeTensors* holder = NULL;
        for (int s = 0; t && s < st->n_shards && !holder; s++)
            if (st_find(st->shards[s], e->string)) holder = st->shards[s];
        const char* base = holder ? strrchr(holder->path, '/') : NULL;
        if (!t || strcmp(base ? base + 1 : holder->path, e->valuestring)) {
            fail(err, errlen, "%s: tensor '%s': %s", index_path, e->string,
                 t ? "the index names another shard than holds it" : "listed but in no shard");
            return sharded_fail(st, root);
        }
    }
    cJSON_Delete(root);
    return st;
}

void st_close(SafeTensors* st) {
    if (!st) return;
    for (int i = 0; i < st->n_shards; i++) st_close(st->shards[i]);
    free(st->shards);
    if (st->mapped)
        munmap(st->file, st->file_size);
    else
        free(st->file);
    for (int i = 0; i < st->n; i++) free((char*)st->t[i].name);
    free(st->t);
    free(st->by_name);
    for (int i = 0; i < st->n_meta; i++) free(st->meta_key[i]), free(st->meta_value[i]);
    free(st->meta_key);
    free(st->meta_value);
    free(st->path);
    free(st);
}

const char* st_path(const SafeTensors* st) { return st->path; }
int st_count(const SafeTensors* st) { return st->n; }
const StTensor* st_tensor_at(const SafeTensors* st, int i) { return (i >= 0 && i < st->n) ? &st->t[i] : NULL; }

const StTensor* st_find(const SafeTensors* st, const char* name) {
    StTensor key = {.name = name};
    const StTensor* kp = &key;
    const StTensor** hit = bsearch(&kp, st->by_name, (size_t)st->n, sizeof *st->by_name, cmp_by_name);
    return hit ? *hit : NULL;
}

int st_meta_count(const SafeTensors* st) { return st->n_meta; }
void st_meta_at(const SafeTensors* st, int i, const char** key, const char** value) {
    *key = st->meta_key[i];
    *value = st->meta_value[i];
}
const char* st_meta_get(const SafeTensors* st, const char* key) {
    for (int i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta_key[i], key) == 0) return st->meta_value[i];
    return NULL;
}

const void* st_data(const SafeTensors* st, const StTensor* t) {
    (void)st;
    return t->bytes;
}

void st_read_f32(const SafeTensors* st, const StTensor* t, float* out) {
    const uint8_t* p = st_data(st, t);
    int64_t n = t->numel;
    // memcpy per element: offsets need not be aligned in a valid file.
    switch (t->dtype) {
        case ST_F32:
            memcpy(out, p, (size_t)n * 4);
            break;
        case ST_F16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, p + 2 * i, 2);
                out[i] = f16_to_f32(h);
            }
            break;
        case ST_BF16:
            for (int64_t i = 0; i < n; i++) {
                uint16_t h;
                memcpy(&h, p + 2 * i, 2);
                out[i] = bf16_to_f32(h);
            }
            break;
        case ST_I64:
            for (int64_t i = 0; i < n; i++) {
                int64_t v;
                memcpy(&v, p + 8 * i, 8);
                out[i] = (float)v;
            }
            break;
        case ST_I32:
            for (int64_t i = 0; i < n; i++) {
                int32_t v;
                memcpy(&v, p + 4 * i, 4);
                out[i] = (float)v;
            }
            break;
        default:
            die("%s: tensor '%s': bad dtype %d", st->path, t->name, (int)t->dtype);
    }
}

int st_load_f32(const SafeTensors* st, const char* name, int ndim, const int64_t* shape, float* out, char* err,
                size_t errlen) {
    const StTensor* t = st_find(st, name);
    if (!t) return fail(err, errlen, "%s: no tensor named '%s'", st->path, name);
    bool same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->shape[i] == shape[i];
    if (!same) {
        char a[128], b[128];
        return fail(err, errlen, "%s: tensor '%s': shape %s but expected %s", st->path, name,
                    fmt_shape(a, sizeof a, t->ndim, t->shape), fmt_shape(b, sizeof b, ndim, shape));
    }
    st_read_f32(st, t, out);
    // A NaN or infinite weight poisons every output silently: refuse it here,
    // where the file and tensor are known (one pass over memory just written).
    for (int64_t i = 0; i < t->numel; i++)
        if (!isfinite(out[i]))
            return fail(err, errlen, "%s: tensor '%s': element %" PRId64 " is %s (weights must be finite)", st->path,
                        name, i, isnan(out[i]) ? "NaN" : "infinite");
    return 0;
}

// ---------------------------------------------------------------------------
// Writer.

void st_writer_init(StWriter* w, StDtype float_dtype) {
    memset(w, 0, sizeof *w);
    if (float_dtype != ST_F32 && float_dtype != ST_F16 && float_dtype != ST_BF16)
        die("st_writer_init: float tensors can be stored as F32, F16 or BF16, not %s", st_dtype_name(float_dtype));
    w->float_dtype = float_dtype;
}

void st_writer_free(StWriter* w) {
    for (int i = 0; i < w->n; i++) free(w->e[i].name);
    free(w->e);
    for (int i = 0; i < w->n_meta; i++) free(w->meta_key[i]), free(w->meta_value[i]);
    free(w->meta_key);
    free(w->meta_value);
    memset(w, 0, sizeof *w);
}

static void writer_add(StWriter* w, const char* name, int ndim, const int64_t* shape, const void* data, bool is_i64) {
    if (!name || !*name || strcmp(name, "__metadata__") == 0)
        die("st_writer_add: invalid tensor name '%s'", name ? name : "");
    if (ndim < 0 || ndim > ST_MAX_DIMS) die("st_writer_add: tensor '%s': %d dimensions", name, ndim);
    for (int i = 0; i < w->n; i++)
        if (strcmp(w->e[i].name, name) == 0) die("st_writer_add: tensor '%s' added twice", name);
    if (w->n == w->cap) {
        w->cap = w->cap ? 2 * w->cap : 64;
        w->e = xrealloc(w->e, (size_t)w->cap * sizeof *w->e);
    }
    StWriterEntry* e = &w->e[w->n++];
    memset(e, 0, sizeof *e);
    e->name = xstrdup(name);
    e->dtype = is_i64 ? ST_I64 : w->float_dtype;
    e->is_i64 = is_i64;
    e->ndim = ndim;
    int64_t numel = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0 || __builtin_mul_overflow(numel, shape[i], &numel))
            die("st_writer_add: tensor '%s': bad shape entry %" PRId64, name, shape[i]);
        e->shape[i] = shape[i];
    }
    e->numel = numel;
    e->data = data;
    if (numel > 0 && !data) die("st_writer_add: tensor '%s': NULL data", name);
}

void st_writer_add(StWriter* w, const char* name, int ndim, const int64_t* shape, const float* data) {
    writer_add(w, name, ndim, shape, data, false);
}

void st_writer_add_i64(StWriter* w, const char* name, int ndim, const int64_t* shape, const int64_t* data) {
    writer_add(w, name, ndim, shape, data, true);
}

void st_writer_meta(StWriter* w, const char* key, const char* value) {
    for (int i = 0; i < w->n_meta; i++)
        if (strcmp(w->meta_key[i], key) == 0) {
            free(w->meta_value[i]);
            w->meta_value[i] = xstrdup(value);
            return;
        }
    if (w->n_meta == w->meta_cap) {
        w->meta_cap = w->meta_cap ? 2 * w->meta_cap : 8;
        w->meta_key = xrealloc(w->meta_key, (size_t)w->meta_cap * sizeof(char*));
        w->meta_value = xrealloc(w->meta_value, (size_t)w->meta_cap * sizeof(char*));
    }
    w->meta_key[w->n_meta] = xstrdup(key);
    w->meta_value[w->n_meta] = xstrdup(value);
    w->n_meta++;
}

typedef struct StrBuf {
    char* s;
    size_t n, cap;
} StrBuf;

static void sb_put(StrBuf* b, const char* s, size_t n) {
    if (b->n + n + 1 > b->cap) {
        while (b->n + n + 1 > b->cap) b->cap = b->cap ? 2 * b->cap : 4096;
        b->s = xrealloc(b->s, b->cap);
    }
    memcpy(b->s + b->n, s, n);
    b->n += n;
    b->s[b->n] = 0;
}
static void sb_puts(StrBuf* b, const char* s) { sb_put(b, s, strlen(s)); }
static void sb_printf(StrBuf* b, const char* fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(StrBuf* b, const char* fmt, ...) {
    char tmp[128];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    sb_put(b, tmp, (size_t)k);
}
// A JSON string literal: quote, backslash and control characters escaped, other bytes (UTF-8) as they are.
static void sb_json_str(StrBuf* b, const char* s) {
    sb_puts(b, "\"");
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        if (*p == '"')
            sb_puts(b, "\\\"");
        else if (*p == '\\')
            sb_puts(b, "\\\\");
        else if (*p < 0x20)
            sb_printf(b, "\\u%04x", *p);
        else
            sb_put(b, (const char*)p, 1);
    }
    sb_puts(b, "\"");
}

// Hugging Face order: larger dtypes first (keeps every tensor aligned), then by name.
static int cmp_entries(const void* a, const void* b) {
    const StWriterEntry *x = *(const StWriterEntry*const*)a, *y = *(const StWriterEntry*const*)b;
    size_t sx = DTYPE_SIZES[x->dtype], sy = DTYPE_SIZES[y->dtype];
    if (sx != sy) return sx > sy ? -1 : 1;
    return strcmp(x->name, y->name);
}

static bool write_entry(FILE* f, const StWriterEntry* e) {
    enum { CHUNK = 16384 };
    if (e->numel == 0) return true;       // data may be NULL
    if (e->is_i64 || e->dtype == ST_F32)  // stored as given (little-endian host)
        return fwrite(e->data, DTYPE_SIZES[e->dtype], (size_t)e->numel, f) == (size_t)e->numel;
    uint16_t buf[CHUNK];
    const float* src = e->data;
    for (int64_t i = 0; i < e->numel; i += CHUNK) {
        size_t m = (size_t)(e->numel - i < CHUNK ? e->numel - i : CHUNK);
        for (size_t j = 0; j < m; j++)
            buf[j] = e->dtype == ST_F16 ? f32_to_f16(src[i + j]) : f32_to_bf16(src[i + j]);
        if (fwrite(buf, 2, m, f) != m) return false;
    }
    return true;
}

int st_writer_write(const StWriter* w, const char* path, char* err, size_t errlen) {
    const StWriterEntry** order = xmalloc((size_t)(w->n ? w->n : 1) * sizeof *order);
    for (int i = 0; i < w->n; i++) order[i] = &w->e[i];
    qsort(order, (size_t)w->n, sizeof *order, cmp_entries);

    StrBuf h = {0};
    sb_puts(&h, "{");
    bool first = true;
    if (w->n_meta) {
        sb_puts(&h, "\"__metadata__\":{");
        for (int i = 0; i < w->n_meta; i++) {
            if (i) sb_puts(&h, ",");
            sb_json_str(&h, w->meta_key[i]);
            sb_puts(&h, ":");
            sb_json_str(&h, w->meta_value[i]);
        }
        sb_puts(&h, "}");
        first = false;
    }
    uint64_t offset = 0;
    for (int i = 0; i < w->n; i++) {
        const StWriterEntry* e = order[i];
        if (!first) sb_puts(&h, ",");
        first = false;
        sb_json_str(&h, e->name);
        sb_printf(&h, ":{\"dtype\":\"%s\",\"shape\":[", DTYPE_NAMES[e->dtype]);
        for (int k = 0; k < e->ndim; k++) sb_printf(&h, "%s%" PRId64, k ? "," : "", e->shape[k]);
        uint64_t bytes = (uint64_t)e->numel * DTYPE_SIZES[e->dtype];
        sb_printf(&h, "],\"data_offsets\":[%" PRIu64 ",%" PRIu64 "]}", offset, offset + bytes);
        offset += bytes;
    }
    sb_puts(&h, "}");
    // Pad with spaces so the data section starts 8-byte aligned (as the HF library does).
    while (h.n % 8) sb_puts(&h, " ");

    AtomicFile af;
    int r = atomic_write_begin(&af, path, err, errlen);
    if (r == 0) {
        uint64_t n = h.n;
        bool ok = fwrite(&n, 8, 1, af.f) == 1 && fwrite(h.s, 1, h.n, af.f) == h.n;
        for (int i = 0; ok && i < w->n; i++) ok = write_entry(af.f, order[i]);
        if (!ok) {
            r = fail(err, errlen, "%s: write failed: %s", path, strerror(errno));
            atomic_write_abort(&af);
        } else {
            r = atomic_write_commit(&af, err, errlen);
        }
    }
    free(h.s);
    free(order);
    return r;
}
