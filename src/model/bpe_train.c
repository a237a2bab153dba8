// bpe_train.c: see bpe_train.h. Owns BPE merge learning and the writing of
// CLIP-format tokenizer files.
//
// Training is the classic Sennrich et al. loop made incremental: pair counts
// live in a hash table, each pair keeps the list of words it occurs in, and a
// lazy max-heap (stale entries skipped when popped) gives the next merge, so a
// step costs the words it touches, not the corpus.
#include "model/bpe_train.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "model/tokenizer.h"
#include "util/check.h"

// ---------------------------------------------------------------------------
// Growable open-addressing map: 64-bit key -> index (keys stored + 1, 0 = empty).

typedef struct U64Map { size_t cap, count; uint64_t* keys; int* vals; } U64Map;

static uint64_t mix64(uint64_t k) {
    k ^= k >> 30, k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27, k *= 0x94d049bb133111ebull;
    return k ^ (k >> 31);
}
static size_t u64map_slot(const U64Map* m, uint64_t key) {
    size_t i = mix64(key) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != key + 1) i = (i + 1) & (m->cap - 1);
    return i;
}
static void u64map_grow(U64Map* m) {
    U64Map n = {m->cap ? 2 * m->cap : 1024, 0, NULL, NULL};
    n.keys = xcalloc(n.cap, sizeof *n.keys), n.vals = xcalloc(n.cap, sizeof *n.vals);
    for (size_t i = 0; i < m->cap; i++)
        if (m->keys[i]) {
            size_t s = u64map_slot(&n, m->keys[i] - 1);
            n.keys[s] = m->keys[i], n.vals[s] = m->vals[i], n.count++;
        }
    free(m->keys), free(m->vals);
    *m = n;
}
// Index stored for key, or -1; with insert, stores next_val for a new key.
static int u64map_get(U64Map* m, uint64_t key, bool insert, int next_val) {
    if (insert && 2 * (m->count + 1) > m->cap) u64map_grow(m);
    if (!m->cap) return -1;
    size_t s = u64map_slot(m, key);
    if (m->keys[s]) return m->vals[s];
    if (!insert) return -1;
    m->keys[s] = key + 1, m->vals[s] = next_val, m->count++;
    return next_val;
}
static void u64map_free(U64Map* m) { free(m->keys), free(m->vals); }

static uint64_t hash_str(const char* s, size_t n) {
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h;
}

// ---------------------------------------------------------------------------
// Training state.

typedef struct Word { char* bytes; int* sym; int len; int64_t count; } Word;
typedef struct Pair { int a, b; int64_t count; int* words; int nwords, cap; bool merged; } Pair;
typedef struct HeapEntry { int64_t count; int pair; } HeapEntry;

typedef struct Trainer {
    Word* words;
    char** word_names;  // words[i].bytes, for the word map's string comparisons
    int nwords, cap_words;
    U64Map word_map;  // hash of bytes -> word index (collisions resolved by probing bytes)
    char** sym;       // symbol strings, id order
    int nsym, cap_sym;
    U64Map sym_map;   // hash of string -> symbol id (same)
    Pair* pairs;
    int npairs, cap_pairs;
    U64Map pair_map;  // (a << 32 | b) -> pair index
    HeapEntry* heap;
    int nheap, cap_heap;
    int base_id[256];
} Trainer;

// String maps keyed by a 64-bit hash: on a hash collision between different
// strings, probe with a rehash (deterministic, and practically never taken).
static int str_lookup(U64Map* m, char** strs_of_index, const char* s, size_t n, bool insert, int next) {
    uint64_t h = hash_str(s, n);
    for (;;) {
        int v = u64map_get(m, h, insert, next);
        if (v < 0) return -1;
        if (v == next && insert) return v;  // freshly inserted
        const char* k = strs_of_index[v];
        if (!strncmp(k, s, n) && !k[n]) return v;
        h = mix64(h + 0x9e3779b97f4a7c15ull);
    }
}

static int sym_intern(Trainer* T, const char* s, size_t n) {
    int id = str_lookup(&T->sym_map, T->sym, s, n, false, 0);
    if (id >= 0) return id;
    if (T->nsym == T->cap_sym) T->sym = xrealloc(T->sym, (size_t)(T->cap_sym = T->cap_sym ? 2 * T->cap_sym : 1024) * sizeof *T->sym);
    char* c = xmalloc(n + 1);
    memcpy(c, s, n), c[n] = 0;
    T->sym[T->nsym] = c;
    str_lookup(&T->sym_map, T->sym, s, n, true, T->nsym);
    return T->nsym++;
}

static bool pair_less(const Trainer* T, int p, int q) {  // true when p should merge before q
    const Pair *a = &T->pairs[p], *b = &T->pairs[q];
    int c = strcmp(T->sym[a->a], T->sym[b->a]);
    return c ? c < 0 : strcmp(T->sym[a->b], T->sym[b->b]) < 0;
}
static bool heap_before(const Trainer* T, HeapEntry x, HeapEntry y) {
    if (x.count != y.count) return x.count > y.count;
    return pair_less(T, x.pair, y.pair);
}
static void heap_push(Trainer* T, int pair) {
    if (T->nheap == T->cap_heap) T->heap = xrealloc(T->heap, (size_t)(T->cap_heap = T->cap_heap ? 2 * T->cap_heap : 1024) * sizeof *T->heap);
    HeapEntry e = {T->pairs[pair].count, pair};
    int i = T->nheap++;
    while (i > 0 && heap_before(T, e, T->heap[(i - 1) / 2])) T->heap[i] = T->heap[(i - 1) / 2], i = (i - 1) / 2;
    T->heap[i] = e;
}
static HeapEntry heap_pop(Trainer* T) {
    HeapEntry top = T->heap[0], last = T->heap[--T->nheap];
    int i = 0;
    for (;;) {
        int c = 2 * i + 1;
        if (c >= T->nheap) break;
        if (c + 1 < T->nheap && heap_before(T, T->heap[c + 1], T->heap[c])) c++;
        if (!heap_before(T, T->heap[c], last)) break;
        T->heap[i] = T->heap[c], i = c;
    }
    if (T->nheap) T->heap[i] = last;
    return top;
}

static int pair_get(Trainer* T, int a, int b) {
    uint64_t key = (uint64_t)(uint32_t)a << 32 | (uint32_t)b;
    int p = u64map_get(&T->pair_map, key, true, T->npairs);
    if (p == T->npairs) {
        if (T->npairs == T->cap_pairs)
            T->pairs = xrealloc(T->pairs, (size_t)(T->cap_pairs = T->cap_pairs ? 2 * T->cap_pairs : 1024) * sizeof *T->pairs);
        T->pairs[p] = (Pair){.a = a, .b = b};
        T->npairs++;
    }
    return p;
}

// Adds sign * count for every adjacent pair of word w; touched pairs are
// collected (once each, by stamp) so the caller can re-push them on the heap.
typedef struct Touched { int* v; int n, cap; int* stamp; int cap_stamp; int now; } Touched;
static void touch(Touched* t, int p) {
    if (p >= t->cap_stamp) {
        int nc = t->cap_stamp ? t->cap_stamp : 1024;
        while (nc <= p) nc *= 2;
        t->stamp = xrealloc(t->stamp, (size_t)nc * sizeof *t->stamp);
        memset(t->stamp + t->cap_stamp, 0, (size_t)(nc - t->cap_stamp) * sizeof *t->stamp);
        t->cap_stamp = nc;
    }
    if (t->stamp[p] == t->now) return;
    t->stamp[p] = t->now;
    if (t->n == t->cap) t->v = xrealloc(t->v, (size_t)(t->cap = t->cap ? 2 * t->cap : 256) * sizeof *t->v);
    t->v[t->n++] = p;
}
static void count_word(Trainer* T, int w, int sign, Touched* tc) {
    Word* word = &T->words[w];
    for (int i = 0; i + 1 < word->len; i++) {
        int p = pair_get(T, word->sym[i], word->sym[i + 1]);
        Pair* pr = &T->pairs[p];
        pr->count += sign * word->count;
        if (sign > 0 && (!pr->nwords || pr->words[pr->nwords - 1] != w)) {
            if (pr->nwords == pr->cap) pr->words = xrealloc(pr->words, (size_t)(pr->cap = pr->cap ? 2 * pr->cap : 4) * sizeof *pr->words);
            pr->words[pr->nwords++] = w;
        }
        if (tc) touch(tc, p);
    }
}

static void add_word(const char* s, size_t n, bool special, void* user) {
    Trainer* T = user;
    if (special || !n) return;  // <|startoftext|> / <|endoftext|> are never merged
    int w = str_lookup(&T->word_map, T->word_names, s, n, false, 0);
    if (w < 0) {
        if (T->nwords == T->cap_words) {
            T->cap_words = T->cap_words ? 2 * T->cap_words : 256;
            T->words = xrealloc(T->words, (size_t)T->cap_words * sizeof *T->words);
            T->word_names = xrealloc(T->word_names, (size_t)T->cap_words * sizeof *T->word_names);
        }
        Word* word = &T->words[T->nwords];
        word->bytes = xmalloc(n + 1);
        memcpy(word->bytes, s, n), word->bytes[n] = 0;
        word->len = (int)n;
        word->sym = xmalloc(n * sizeof *word->sym);
        for (size_t i = 0; i < n; i++)  // last symbol carries "</w>"
            word->sym[i] = T->base_id[(unsigned char)s[i]] + (i + 1 == n ? 256 : 0);
        word->count = 0;
        T->word_names[T->nwords] = word->bytes;
        w = str_lookup(&T->word_map, T->word_names, s, n, true, T->nwords);
        T->nwords++;
    }
    T->words[w].count++;
}

// ---------------------------------------------------------------------------

void bpe_train(BpeVocab* v, const char* const* texts, int n, int max_merges, int min_frequency) {
    memset(v, 0, sizeof *v);
    if (max_merges > TOKENIZER_MAX_MERGES) max_merges = TOKENIZER_MAX_MERGES;  // CLIPTokenizer reads no more
    if (min_frequency < 1) min_frequency = 1;
    Trainer T = {0};
    // Base symbols in bytes_to_unicode order, which is code point order:
    // printable bytes as themselves, then U+0100.. for the other 68.
    int order[256], k = 0;
    for (int cp = 0; cp < 256 + 68; cp++) {
        int b = tokenizer_cp_to_byte(cp);
        if (b >= 0) order[k++] = b;
    }
    char buf[16];
    for (int pass = 0; pass < 2; pass++)
        for (int i = 0; i < 256; i++) {
            int l = tokenizer_put_utf8(buf, tokenizer_byte_to_cp(order[i]));
            if (pass) memcpy(buf + l, "</w>", 4), l += 4;
            int id = sym_intern(&T, buf, (size_t)l);
            if (!pass) T.base_id[order[i]] = id;
        }
    for (int i = 0; i < n; i++) tokenizer_split(texts[i], TOKENIZER_BOS, TOKENIZER_EOS, add_word, &T);
    for (int w = 0; w < T.nwords; w++) count_word(&T, w, +1, NULL);
    for (int p = 0; p < T.npairs; p++) heap_push(&T, p);

    Touched tc = {0};
    int* done = NULL;  // per word: the merge step that last rewrote it
    if (T.nwords) done = xcalloc((size_t)T.nwords, sizeof *done);
    int cap_m = 0, step = 0;
    size_t cap_buf = 64;
    char* joined = xmalloc(cap_buf);
    while (v->nmerges < max_merges && T.nheap) {
        HeapEntry e = heap_pop(&T);
        Pair pr = T.pairs[e.pair];
        if (e.count != pr.count) continue;  // stale entry
        if (pr.count < min_frequency) break;
        step++;
        size_t la = strlen(T.sym[pr.a]), lb = strlen(T.sym[pr.b]);
        if (la + lb + 1 > cap_buf) joined = xrealloc(joined, cap_buf = 2 * (la + lb + 1));
        memcpy(joined, T.sym[pr.a], la), memcpy(joined + la, T.sym[pr.b], lb + 1);
        int z = sym_intern(&T, joined, la + lb);
        // A pair can come back when a later merge rebuilds a string that exists
        // already; it is applied again but written once (CLIPTokenizer keys ranks by pair).
        if (!pr.merged) {
            if (v->nmerges == cap_m) {
                cap_m = cap_m ? 2 * cap_m : 256;
                v->merge_a = xrealloc(v->merge_a, (size_t)cap_m * sizeof *v->merge_a);
                v->merge_b = xrealloc(v->merge_b, (size_t)cap_m * sizeof *v->merge_b);
            }
            v->merge_a[v->nmerges] = xstrdup(T.sym[pr.a]);
            v->merge_b[v->nmerges] = xstrdup(T.sym[pr.b]);
            v->nmerges++;
            T.pairs[e.pair].merged = true;
        }
        tc.n = 0, tc.now = step;
        // The word list may grow while we rewrite (new pairs), so copy it first.
        int nw = T.pairs[e.pair].nwords;
        int* ws = xmalloc((size_t)(nw ? nw : 1) * sizeof *ws);
        memcpy(ws, T.pairs[e.pair].words, (size_t)nw * sizeof *ws);
        for (int j = 0; j < nw; j++) {
            int w = ws[j];
            if (done[w] == step) continue;
            Word* word = &T.words[w];
            bool has = false;
            for (int i = 0; i + 1 < word->len && !has; i++) has = word->sym[i] == pr.a && word->sym[i + 1] == pr.b;
            if (!has) continue;  // stale membership: the word changed since
            done[w] = step;
            count_word(&T, w, -1, &tc);
            int o = 0;  // left to right, no overlaps: the encoder's rule
            for (int i = 0; i < word->len;) {
                if (i + 1 < word->len && word->sym[i] == pr.a && word->sym[i + 1] == pr.b) word->sym[o++] = z, i += 2;
                else word->sym[o++] = word->sym[i++];
            }
            word->len = o;
            count_word(&T, w, +1, &tc);
        }
        free(ws);
        for (int j = 0; j < tc.n; j++)
            if (T.pairs[tc.v[j]].count > 0) heap_push(&T, tc.v[j]);
    }
    free(joined), free(done), free(tc.v), free(tc.stamp);

    v->vocab_size = T.nsym + 2;
    v->tokens = xmalloc((size_t)v->vocab_size * sizeof *v->tokens);
    memcpy(v->tokens, T.sym, (size_t)T.nsym * sizeof *v->tokens);  // ownership moves to v
    v->tokens[T.nsym] = xstrdup(TOKENIZER_BOS);
    v->tokens[T.nsym + 1] = xstrdup(TOKENIZER_EOS);

    for (int w = 0; w < T.nwords; w++) free(T.words[w].bytes), free(T.words[w].sym);
    for (int p = 0; p < T.npairs; p++) free(T.pairs[p].words);
    free(T.words), free(T.word_names), free(T.sym), free(T.pairs), free(T.heap);
    u64map_free(&T.word_map), u64map_free(&T.sym_map), u64map_free(&T.pair_map);
}

void bpe_free(BpeVocab* v) {
    for (int i = 0; i < v->vocab_size; i++) free(v->tokens[i]);
    for (int i = 0; i < v->nmerges; i++) free(v->merge_a[i]), free(v->merge_b[i]);
    free(v->tokens), free(v->merge_a), free(v->merge_b);
    memset(v, 0, sizeof *v);
}

// ---------------------------------------------------------------------------
// Writing.

// JSON string with raw UTF-8 (json.dumps(..., ensure_ascii=False), as
// transformers writes vocab.json).
static void put_json_string(FILE* f, const char* s) {
    fputc('"', f);
    for (const unsigned char* p = (const unsigned char*)s; *p; p++) {
        if (*p == '"' || *p == '\\') fputc('\\', f), fputc(*p, f);
        else if (*p < 0x20) fprintf(f, "\\u%04x", *p);
        else fputc(*p, f);
    }
    fputc('"', f);
}

typedef void (*WriteFn)(FILE* f, const void* ctx);

static int write_atomic(const char* dir, const char* name, WriteFn fn, const void* ctx, char* err, size_t errlen) {
    size_t n = strlen(dir) + strlen(name) + 8;
    char *path = xmalloc(n), *tmp = xmalloc(n);
    snprintf(path, n, "%s/%s", dir, name);
    snprintf(tmp, n, "%s.tmp", path);
    int r = -1;
    FILE* f = fopen(tmp, "wb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot create (%s)", tmp, strerror(errno));
    } else {
        fn(f, ctx);
        bool bad = ferror(f) != 0;
        if (fclose(f) != 0 || bad) snprintf(err, errlen, "%s: write failed", tmp);
        else if (rename(tmp, path) != 0) snprintf(err, errlen, "%s: cannot rename from %s (%s)", path, tmp, strerror(errno));
        else r = 0;
        if (r) remove(tmp);
    }
    free(path), free(tmp);
    return r;
}

static void write_vocab(FILE* f, const void* ctx) {
    const BpeVocab* v = ctx;
    fputs("{\n", f);
    for (int i = 0; i < v->vocab_size; i++) {
        fputs("  ", f);
        put_json_string(f, v->tokens[i]);
        fprintf(f, ": %d%s\n", i, i + 1 < v->vocab_size ? "," : "");
    }
    fputs("}\n", f);
}

static void write_merges(FILE* f, const void* ctx) {
    const BpeVocab* v = ctx;
    fputs("#version: 0.2\n", f);  // line 1 is skipped by every CLIP loader
    for (int i = 0; i < v->nmerges; i++) fprintf(f, "%s %s\n", v->merge_a[i], v->merge_b[i]);
}

static void write_json(FILE* f, const void* ctx) {
    char* s = cJSON_Print((const cJSON*)ctx);
    fputs(s, f), fputc('\n', f);
    cJSON_free(s);
}

static cJSON* special_tokens_json(void) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "bos_token", TOKENIZER_BOS);
    cJSON_AddStringToObject(o, "eos_token", TOKENIZER_EOS);
    cJSON_AddStringToObject(o, "unk_token", TOKENIZER_EOS);
    cJSON_AddStringToObject(o, "pad_token", TOKENIZER_EOS);
    return o;
}

int bpe_save(const BpeVocab* v, const char* dir, int model_max_length, char* err, size_t errlen) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        snprintf(err, errlen, "%s: cannot create directory (%s)", dir, strerror(errno));
        return -1;
    }
    cJSON* map = special_tokens_json();
    cJSON* cfg = special_tokens_json();
    cJSON_AddStringToObject(cfg, "tokenizer_class", "CLIPTokenizer");
    cJSON_AddStringToObject(cfg, "errors", "replace");
    cJSON_AddFalseToObject(cfg, "add_prefix_space");
    cJSON_AddTrueToObject(cfg, "do_lower_case");
    if (model_max_length > 0) cJSON_AddNumberToObject(cfg, "model_max_length", model_max_length);
    int r = write_atomic(dir, "vocab.json", write_vocab, v, err, errlen) ||
            write_atomic(dir, "merges.txt", write_merges, v, err, errlen) ||
            write_atomic(dir, "special_tokens_map.json", write_json, map, err, errlen) ||
            write_atomic(dir, "tokenizer_config.json", write_json, cfg, err, errlen);
    cJSON_Delete(map), cJSON_Delete(cfg);
    return r ? -1 : 0;
}
