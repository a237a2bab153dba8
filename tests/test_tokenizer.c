// test_tokenizer.c: the CLIP tokenizer and the BPE trainer.
//  - exact ids on a hand-written fixture (tests/data/tokenizer_tiny) whose BPE
//    is worked out by hand in the comments;
//  - golden ids from tools/make_tokenizer_golden.py (transformers' CLIPTokenizer,
//    or its port with Python's exact Unicode tables when transformers is absent);
//  - truncation, padding, pad token from special_tokens_map.json, decode;
//  - errors naming the file and line;
//  - the base vocabulary laid out as CLIP's (ids known from real CLIP files);
//  - the trainer on the Fashion-MNIST captions, its files, and their reload;
//  - a CLIP-sized vocabulary loads fast; real CLIP files when VKPREF_CLIP_TOKENIZER names a folder.
#include <cjson/cJSON.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "model/bpe_train.h"
#include "model/tokenizer.h"
#include "test_util.h"
#include "util/check.h"

#define TINY VKPREF_TEST_DATA "/tokenizer_tiny"
#define FMNIST VKPREF_TEST_DATA "/tokenizer_fmnist"

static Tokenizer load_ok(const char* dir) {
    Tokenizer t;
    char err[512];
    cr_assert_eq(tokenizer_load(&t, dir, err, sizeof err), 0, "%s", err);
    return t;
}

static char* tmp_dir(void) {
    char* d = xstrdup("/tmp/vkpref_tok_XXXXXX");
    cr_assert_not_null(mkdtemp(d));
    return d;
}

static void write_file(const char* dir, const char* name, const char* text) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    FILE* f = fopen(path, "wb");
    cr_assert_not_null(f, "%s", path);
    fputs(text, f);
    fclose(f);
}

static char* read_all(const char* path) {
    FILE* f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char* s = xmalloc((size_t)n + 1);
    s[fread(s, 1, (size_t)n, f)] = 0;
    fclose(f);
    return s;
}

static void copy_file(const char* from_dir, const char* to_dir, const char* name) {
    char path[512];
    snprintf(path, sizeof path, "%s/%s", from_dir, name);
    char* s = read_all(path);
    cr_assert_not_null(s, "%s", path);
    write_file(to_dir, name, s);
    free(s);
}

static void rm_dir(const char* dir) {
    const char* names[] = {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"};
    char path[512];
    for (int i = 0; i < 4; i++) snprintf(path, sizeof path, "%s/%s", dir, names[i]), remove(path);
    rmdir(dir);
}

static void assert_tokens(const Tokenizer* t, const char* text, const int32_t* want, int n) {
    int32_t* ids;
    int got = tokenizer_tokenize(t, text, &ids);
    bool same = got == n;
    for (int i = 0; same && i < n; i++) same = ids[i] == want[i];
    if (!same) {
        char buf[512] = "";
        for (int i = 0; i < got; i++) snprintf(buf + strlen(buf), sizeof buf - strlen(buf), " %d", ids[i]);
        cr_assert_fail("\"%s\": got%s (%d tokens, want %d)", text, buf, got, n);
    }
    free(ids);
}
#define TOKENS(t, text, ...) \
    assert_tokens(t, text, (const int32_t[]){__VA_ARGS__}, (int)(sizeof (int32_t[]){__VA_ARGS__} / sizeof(int32_t)))

// ---------------------------------------------------------------------------
// The tiny fixture. vocab: a c h o p t s ' = 0..7, the same with </w> = 8..15,
// 1</w> 16, ,</w> 17, !</w> 18, then one id per merge (19..27), bos 28, eos 29.
// merges by rank: 0 "p h", 1 "o t", 2 "ph ot", 3 "phot o</w>", 4 "c a",
// 5 "ca t</w>", 6 "' s</w>", 7 "a t</w>", 8 "h at</w>".

Test(tokenizer, tiny_fixture_hand_computed_bpe) {
    Tokenizer t = load_ok(TINY);
    cr_assert_eq(t.vocab_size, 30);
    cr_assert_eq(t.nmerges, 9);
    cr_assert_eq(t.bos_id, 28);
    cr_assert_eq(t.eos_id, 29);
    cr_assert_eq(t.pad_id, 29);  // CLIP pads with <|endoftext|>
    cr_assert_eq(t.unk_id, 29);
    // p h o t o</w>: rank 0 -> ph o t o</w>; rank 1 -> ph ot o</w>; 2 -> phot o</w>; 3 -> photo</w>.
    TOKENS(&t, "photo", 22);
    // "of": o f</w>, no merge; f</w> is not in the vocabulary -> unk (eos, 29).
    TOKENS(&t, "a photo of a cat", 8, 22, 3, 29, 8, 24);
    // c h a t</w>: only "a t</w>" (rank 7) applies, then "h at</w>" (rank 8): c hat</w>.
    TOKENS(&t, "chat", 1, 27);
    // c a t s</w>: "c a" (4), then no rank for (ca, t) (only "ca t</w>") nor (t, s</w>).
    TOKENS(&t, "cats", 23, 5, 14);
    // The pattern splits 's off: "cat" + "'s" -> cat</w>, 's</w>.
    TOKENS(&t, "cat's", 24, 25);
    // "o t" is a merge but "o t</w>" is not: the word end matters.
    TOKENS(&t, "hot", 2, 3, 13);
    TOKENS(&t, "pot", 4, 3, 13);
    TOKENS(&t, "top", 5, 3, 12);
    // p h o t o s</w>: ph, ot, phot, then (phot, o) has no rank (the merge is phot o</w>).
    TOKENS(&t, "photos", 21, 3, 14);
    TOKENS(&t, "11", 16, 16);              // digits one per token
    TOKENS(&t, "!!", 29, 18);              // one pre-token "!!": "!" is not in the vocabulary
    TOKENS(&t, "  CAT  ", 24);             // lower-cased, stripped
    TOKENS(&t, "Photo,   hat!", 22, 17, 27, 18);
    TOKENS(&t, "a<|endoftext|>cat", 8, 29, 24);  // special tokens split out of the raw text
    TOKENS(&t, "<|startoftext|>", 28);
    TOKENS(&t, "");
    tokenizer_free(&t);
}

Test(tokenizer, encode_pads_truncates_and_reports_eos) {
    Tokenizer t = load_ok(TINY);
    int32_t ids[16];
    int n = tokenizer_encode(&t, "a photo of a cat", 10, ids);
    const int32_t want[10] = {28, 8, 22, 3, 29, 8, 24, 29, 29, 29};
    cr_assert_eq(n, 8);
    cr_assert_arr_eq(ids, want, sizeof want);
    cr_assert_eq(tokenizer_eos_index(&t, ids, 10), 4, "the unk inside the text is an eos too (as in CLIP)");
    n = tokenizer_encode(&t, "a photo cat", 10, ids);
    cr_assert_eq(n, 5);
    cr_assert_eq(tokenizer_eos_index(&t, ids, 10), n - 1);
    // truncation=True: the tokens are cut, bos and eos stay.
    n = tokenizer_encode(&t, "a photo of a cat", 5, ids);
    const int32_t cut[5] = {28, 8, 22, 3, 29};
    cr_assert_eq(n, 5);
    cr_assert_arr_eq(ids, cut, sizeof cut);
    n = tokenizer_encode(&t, "a photo of a cat", 2, ids);
    cr_assert_eq(n, 2);
    cr_assert(ids[0] == 28 && ids[1] == 29);
    n = tokenizer_encode(&t, "", 4, ids);
    cr_assert(n == 2 && ids[0] == 28 && ids[1] == 29 && ids[2] == 29 && ids[3] == 29);
    tokenizer_free(&t);
}

Test(tokenizer, pad_token_from_config_files) {
    char* d = tmp_dir();
    copy_file(TINY, d, "vocab.json");
    copy_file(TINY, d, "merges.txt");
    write_file(d, "tokenizer_config.json",
               "{\"model_max_length\": 77, \"pad_token\": {\"content\": \"a</w>\", \"__type\": \"AddedToken\"}}");
    Tokenizer t = load_ok(d);
    cr_assert_eq(t.pad_id, 8);
    cr_assert_eq(t.model_max_length, 77);
    tokenizer_free(&t);
    // special_tokens_map.json wins over tokenizer_config.json, as in transformers (SD 2.x pads with "!").
    write_file(d, "special_tokens_map.json", "{\"pad_token\": \"!</w>\", \"bos_token\": \"<|startoftext|>\"}");
    t = load_ok(d);
    cr_assert_eq(t.pad_id, 18);
    int32_t ids[6];
    tokenizer_encode(&t, "cat", 6, ids);
    const int32_t want[6] = {28, 24, 29, 18, 18, 18};
    cr_assert_arr_eq(ids, want, sizeof want);
    cr_assert_eq(tokenizer_eos_index(&t, ids, 6), 2);
    tokenizer_free(&t);
    write_file(d, "special_tokens_map.json", "{\"pad_token\": \"<pad>\"}");
    char err[512];
    cr_assert_neq(tokenizer_load(&t, d, err, sizeof err), 0);
    cr_assert(strstr(err, "pad_token") && strstr(err, "<pad>"), "%s", err);
    write_file(d, "special_tokens_map.json", "{\"pad_token\": 3}");
    cr_assert_neq(tokenizer_load(&t, d, err, sizeof err), 0);
    cr_assert(strstr(err, "special_tokens_map.json") && strstr(err, "pad_token"), "%s", err);
    rm_dir(d);
    free(d);
}

Test(tokenizer, decode) {
    Tokenizer t = load_ok(TINY);
    int32_t ids[8];
    tokenizer_encode(&t, "Photo, hat!", 8, ids);
    char* s = tokenizer_decode(&t, ids, 8, 0);
    cr_assert_str_eq(s, "<|startoftext|>photo , hat ! <|endoftext|><|endoftext|><|endoftext|>");
    free(s);
    s = tokenizer_decode(&t, ids, 8, TOKENIZER_SKIP_SPECIAL);
    cr_assert_str_eq(s, "photo , hat !");
    free(s);
    s = tokenizer_decode(&t, ids, 8, TOKENIZER_SKIP_SPECIAL | TOKENIZER_CLEAN_SPACES);
    cr_assert_str_eq(s, "photo, hat!");
    free(s);
    // Merged pieces inside a word decode without spaces; out-of-range ids are skipped.
    s = tokenizer_decode(&t, (const int32_t[]){23, 5, 14, 999, -1, 1, 27}, 7, 0);
    cr_assert_str_eq(s, "cats chat");
    free(s);
    tokenizer_free(&t);
}

// ---------------------------------------------------------------------------
// Errors name the file and the line (or key).

static void expect_error(const char* vocab, const char* merges, const char* want1, const char* want2) {
    char* d = tmp_dir();
    if (vocab) write_file(d, "vocab.json", vocab);
    if (merges) write_file(d, "merges.txt", merges);
    Tokenizer t;
    char err[512] = "";
    cr_assert_neq(tokenizer_load(&t, d, err, sizeof err), 0, "loaded although %s was expected", want1);
    cr_assert(strstr(err, want1) && (!want2 || strstr(err, want2)), "error \"%s\" lacks \"%s\" / \"%s\"", err, want1,
              want2 ? want2 : "");
    rm_dir(d);
    free(d);
}

Test(tokenizer, errors_name_file_and_line) {
    const char* vocab = "{\"a\": 0, \"b\": 1, \"a</w>\": 2, \"b</w>\": 3, \"ab</w>\": 4, \"ab\": 5,\n"
                        " \"<|startoftext|>\": 6, \"<|endoftext|>\": 7}";
    expect_error(NULL, "#version: 0.2\n", "vocab.json: cannot open", NULL);
    expect_error(vocab, NULL, "merges.txt: cannot open", NULL);
    expect_error(vocab, "#version: 0.2\na b</w>\na b c\n", "merges.txt:3:", "two tokens");
    expect_error(vocab, "#version: 0.2\na b</w>\na\n", "merges.txt:3:", "two tokens");
    expect_error(vocab, "#version: 0.2\n\na b</w>\nq b\n", "merges.txt:4:", "token \"q\" is not in vocab.json");
    expect_error(vocab, "#version: 0.2\nb a\n", "merges.txt:2:", "merged token \"ba\"");
    expect_error(vocab, "a b</w>\n", "merges.txt:1:", "#version");
    expect_error("{\"a\": 0,\n \"b\": 1,\n \"c\" 2}", "#version: 0.2\n", "vocab.json:3:", "invalid JSON");
    expect_error("{\"a\": 0, \"b\": \"x\"}", "#version: 0.2\n", "vocab.json", "key \"b\"");
    expect_error("{\"a\": 0, \"b\": 0}", "#version: 0.2\n", "vocab.json", "id 0 is used by both");
    expect_error("{\"a\": 0, \"<|endoftext|>\": 1}", "#version: 0.2\n", "vocab.json", "bos_token \"<|startoftext|>\"");
    // The good case of the same files, CRLF line ends and a blank line included.
    char* d = tmp_dir();
    write_file(d, "vocab.json", vocab);
    write_file(d, "merges.txt", "#version: 0.2\r\na b</w>\r\n\r\na b\r\n");
    Tokenizer t = load_ok(d);
    cr_assert_eq(t.nmerges, 2);
    TOKENS(&t, "ab abab", 4, 5, 4);
    tokenizer_free(&t);
    rm_dir(d);
    free(d);
}

// ---------------------------------------------------------------------------
// Pre-tokenisation and normalisation.

typedef struct Pieces { char buf[1024]; int n; } Pieces;
static void collect(const char* s, size_t n, bool special, void* user) {
    Pieces* p = user;
    size_t l = strlen(p->buf);
    snprintf(p->buf + l, sizeof p->buf - l, "%s%s%.*s", p->n++ ? "|" : "", special ? "*" : "", (int)n, s);
}
static void expect_split(const char* text, const char* want) {
    Pieces p = {{0}, 0};
    tokenizer_split(text, TOKENIZER_BOS, TOKENIZER_EOS, collect, &p);
    cr_assert_str_eq(p.buf, want, "split of \"%s\"", text);
}

Test(tokenizer, pretokenize_follows_clip_pattern) {
    expect_split("It's 2024!! they'll", "it|'s|2|0|2|4|!!|they|'ll");
    expect_split("a photo of a t-shirt.", "a|photo|of|a|t|-|shirt|.");
    expect_split("x''s 'q", "x|''|s|'|q");            // the symbol run swallows the apostrophe
    expect_split("a<|endoftext|>b", "a|*<|endoftext|>|b");
    // Not the exact special string: lower-cased, then the pattern's (case-insensitive)
    // special alternative matches where a token starts, but a symbol run swallows "<|".
    expect_split("a.<|ENDOFTEXT|> <|EndOfText|>", "a|.<||endoftext||>|*<|endoftext|>");
    expect_split("  ", "");
}

Test(tokenizer, normalize) {
    char* s = tokenizer_normalize("  Hello\t\tWORLD \u00a0 Caf\u00c9\u200b \xce\x9f\xce\x94\xce\x9f\xce\xa3  ");
    cr_assert_str_eq(s, "hello world caf\u00e9 \xce\xbf\xce\xb4\xce\xbf\xcf\x82");  // ΟΔΟΣ -> οδος with final sigma
    free(s);
    s = tokenizer_normalize("\xe6\x97\xa5\xe6\x9c\xac" "abc");  // CJK ideographs become words
    cr_assert_str_eq(s, "\xe6\x97\xa5 \xe6\x9c\xac abc");
    free(s);
    s = tokenizer_normalize("\x01\x7f\xc2\xad \xef\xbf\xbd");  // controls, soft hyphen, U+FFFD dropped
    cr_assert_str_eq(s, "");
    free(s);
}

// ---------------------------------------------------------------------------
// Byte-level alphabet and the base vocabulary, against facts of real CLIP files:
// "!" = 0, "a" = 64, "!</w>" = 256, ",</w>" = 267, "1</w>" = 272, "a</w>" = 320,
// <|startoftext|> = 49406 and <|endoftext|> = 49407 after 48894 merges, and
// "Hello, World! 123" -> 49406 3306 267 1002 256 272 273 274 49407.

Test(tokenizer, bytes_to_unicode_table) {
    int seen[324] = {0};
    for (int b = 0; b < 256; b++) {
        int cp = tokenizer_byte_to_cp(b);
        cr_assert(cp >= 33 && cp < 324, "byte %d -> U+%04X", b, cp);
        cr_assert_eq(tokenizer_cp_to_byte(cp), b);
        cr_assert_eq(seen[cp]++, 0);
    }
    cr_assert_eq(tokenizer_byte_to_cp(' '), 0x120);  // GPT-2's "Ġ"
    cr_assert_eq(tokenizer_byte_to_cp(0), 0x100);
    cr_assert_eq(tokenizer_byte_to_cp(0xAD), 0x143);
    cr_assert_eq(tokenizer_byte_to_cp('a'), 'a');
    cr_assert_eq(tokenizer_cp_to_byte(0x144), -1);
    cr_assert_eq(tokenizer_cp_to_byte(' '), -1);
}

Test(tokenizer, base_vocabulary_matches_clip_layout) {
    BpeVocab v;
    bpe_train(&v, NULL, 0, 100, 1);
    cr_assert_eq(v.nmerges, 0);
    cr_assert_eq(v.vocab_size, 514);
    cr_assert_str_eq(v.tokens[0], "!");
    cr_assert_str_eq(v.tokens[64], "a");
    cr_assert_str_eq(v.tokens[188], "\xc4\x80");  // U+0100 for byte 0
    cr_assert_str_eq(v.tokens[220], "\xc4\xa0");  // "Ġ" (space)
    cr_assert_str_eq(v.tokens[256], "!</w>");
    cr_assert_str_eq(v.tokens[320], "a</w>");
    cr_assert_str_eq(v.tokens[512], TOKENIZER_BOS);
    cr_assert_str_eq(v.tokens[513], TOKENIZER_EOS);
    char* d = tmp_dir();
    char err[512];
    cr_assert_eq(bpe_save(&v, d, 77, err, sizeof err), 0, "%s", err);
    bpe_free(&v);
    Tokenizer t = load_ok(d);
    cr_assert_eq(t.model_max_length, 77);
    // Without merges words stay bytes (lower-cased); punctuation and digits get CLIP's ids.
    TOKENS(&t, "Hello, World! 123", 71, 68, 75, 75, 78 + 256, 267, 86, 78, 81, 75, 67 + 256, 256, 272, 273, 274);
    tokenizer_free(&t);
    rm_dir(d);
    free(d);
}

// ---------------------------------------------------------------------------
// Golden ids (tools/make_tokenizer_golden.py) on the trained Fashion-MNIST
// vocabulary: punctuation, digits, contractions, whitespace, accents, Greek,
// Cyrillic, CJK, emoji, controls, specials, truncation.

static void check_golden(const char* dir) {
    char path[512];
    snprintf(path, sizeof path, "%s/golden.json", dir);
    char* text = read_all(path);
    cr_assert_not_null(text, "%s missing: run tools/make_tokenizer_golden.py %s > %s", path, dir, path);
    cJSON* root = cJSON_Parse(text);
    cr_assert_not_null(root, "%s: invalid JSON", path);
    Tokenizer t = load_ok(dir);
    int L = cJSON_GetObjectItem(root, "max_length")->valueint;
    const cJSON* cases = cJSON_GetObjectItem(root, "cases");
    int ncase = 0;
    int32_t* ids = xmalloc((size_t)L * sizeof *ids);
    for (const cJSON* c = cases->child; c; c = c->next, ncase++) {
        const char* s = cJSON_GetObjectItem(c, "text")->valuestring;
        const cJSON* toks = cJSON_GetObjectItem(c, "tokens");
        int n = cJSON_GetArraySize(toks);
        int32_t* want = xmalloc((size_t)(n + 1) * sizeof *want);
        for (int i = 0; i < n; i++) want[i] = cJSON_GetArrayItem(toks, i)->valueint;
        assert_tokens(&t, s, want, n);
        free(want);
        const cJSON* full = cJSON_GetObjectItem(c, "ids");
        cr_assert_eq(cJSON_GetArraySize(full), L);
        tokenizer_encode(&t, s, L, ids);
        for (int i = 0; i < L; i++)
            cr_assert_eq(ids[i], cJSON_GetArrayItem(full, i)->valueint, "\"%s\": id %d is %d, golden %d", s, i, ids[i],
                         cJSON_GetArrayItem(full, i)->valueint);
    }
    cr_assert_gt(ncase, 10);
    free(ids);
    tokenizer_free(&t);
    cJSON_Delete(root);
    free(text);
}

Test(tokenizer, golden_ids_tiny) { check_golden(TINY); }
Test(tokenizer, golden_ids_fmnist) { check_golden(FMNIST); }

// ---------------------------------------------------------------------------
// The trainer on the Fashion-MNIST captions (DATA.md).

static const char* const CLASSES[10] = {"t-shirt", "trouser", "pullover", "dress", "coat",
                                        "sandal",  "shirt",   "sneaker",  "bag",   "ankle boot"};
static const char* const ATTRS[5] = {"", "dark", "bright", "small", "large"};

static char** fmnist_captions(int* n) {
    char** caps = xmalloc(50 * sizeof *caps);
    *n = 0;
    for (int c = 0; c < 10; c++)
        for (int a = 0; a < 5; a++) {
            char buf[128];
            const char* next = a ? ATTRS[a] : CLASSES[c];
            snprintf(buf, sizeof buf, "a photo of %s %s%s%s", strchr("aeiou", next[0]) ? "an" : "a", ATTRS[a],
                     a ? " " : "", CLASSES[c]);
            caps[(*n)++] = xstrdup(buf);
        }
    return caps;
}

#define FMNIST_MERGES 300

Test(tokenizer, trainer_fmnist_words_are_single_tokens) {
    int n;
    char** caps = fmnist_captions(&n);
    cr_assert_str_eq(caps[45], "a photo of an ankle boot");
    cr_assert_str_eq(caps[46], "a photo of a dark ankle boot");
    BpeVocab v;
    // min_frequency 1: "an" occurs once here ("a photo of an ankle boot").
    bpe_train(&v, (const char* const*)caps, n, FMNIST_MERGES, 1);
    cr_assert_lt(v.nmerges, FMNIST_MERGES, "ran out of pairs before the limit");
    cr_assert_eq(v.vocab_size, BPE_BASE_SYMBOLS + v.nmerges + 2);
    char* d = tmp_dir();
    char err[512];
    cr_assert_eq(bpe_save(&v, d, 16, err, sizeof err), 0, "%s", err);
    // The trainer is deterministic: the committed fixture is exactly this
    // output (VKPREF_REGEN_TOKENIZER=1 rewrites it, then regenerate golden.json).
    if (getenv("VKPREF_REGEN_TOKENIZER")) cr_assert_eq(bpe_save(&v, FMNIST, 16, err, sizeof err), 0, "%s", err);
    Tokenizer t = load_ok(d);
    cr_assert_eq(t.vocab_size, v.vocab_size);
    cr_assert_eq(t.nmerges, v.nmerges);
    cr_assert_eq(t.bos_id, v.vocab_size - 2);
    cr_assert_eq(t.eos_id, v.vocab_size - 1);
    cr_assert_eq(t.model_max_length, 16);
    const char* words[] = {"a", "photo", "of", "an", "t", "-", "shirt", "trouser", "pullover", "dress", "coat", "sandal",
                           "sneaker", "bag", "ankle", "boot", "dark", "bright", "small", "large"};
    for (size_t w = 0; w < sizeof words / sizeof *words; w++) {
        char tok[64];
        snprintf(tok, sizeof tok, "%s</w>", words[w]);
        int id = tokenizer_token_id(&t, tok);
        cr_assert_geq(id, 0, "%s is not a token", tok);
        TOKENS(&t, words[w], id);
    }
    // Every caption: bos, one token per word piece, eos; and it decodes back.
    for (int i = 0; i < n; i++) {
        int32_t ids[16];
        int len = tokenizer_encode(&t, caps[i], 16, ids);
        int pieces = 2;
        for (const char* p = caps[i]; *p; p++) pieces += *p == ' ' || *p == '-' ? 1 + (*p == '-') : 0;
        cr_assert_eq(len, pieces + 1, "\"%s\": %d ids", caps[i], len);
        char* back = tokenizer_decode(&t, ids, 16, TOKENIZER_SKIP_SPECIAL);
        char want[128];
        snprintf(want, sizeof want, "%s", caps[i]);
        char* dash = strstr(want, "t-shirt");
        if (dash) memmove(dash + 4, dash + 2, strlen(dash + 2) + 1), memcpy(dash, "t - ", 4);  // "-" is its own word
        cr_assert_str_eq(back, want);
        free(back);
    }
    const char* files[] = {"vocab.json", "merges.txt", "special_tokens_map.json", "tokenizer_config.json"};
    for (int f = 0; f < 4; f++) {
        char a[512], b[512];
        snprintf(a, sizeof a, "%s/%s", d, files[f]);
        snprintf(b, sizeof b, "%s/%s", FMNIST, files[f]);
        char *x = read_all(a), *y = read_all(b);
        cr_assert(x && y, "%s or %s missing", a, b);
        cr_assert_str_eq(x, y, "%s differs from the committed %s", a, b);
        free(x), free(y);
    }
    tokenizer_free(&t);
    bpe_free(&v);
    rm_dir(d);
    free(d);
    for (int i = 0; i < n; i++) free(caps[i]);
    free(caps);
}

Test(tokenizer, trainer_reload_gives_training_segmentation) {
    // Merges learnt on one corpus, re-applied by rank by the loader, give every
    // training word as one token when merges are not cut short.
    const char* corpus[] = {"low lower lowest", "newer wider newest", "low low low widest", "aaa aaaa aaaaa"};
    BpeVocab v;
    bpe_train(&v, corpus, 4, 1000, 1);
    char* d = tmp_dir();
    char err[512];
    cr_assert_eq(bpe_save(&v, d, 0, err, sizeof err), 0, "%s", err);
    Tokenizer t = load_ok(d);
    cr_assert_eq(t.model_max_length, 0);
    const char* words[] = {"low", "lower", "lowest", "newer", "wider", "newest", "widest", "aaa", "aaaa", "aaaaa"};
    for (int w = 0; w < 10; w++) {
        int32_t* ids;
        cr_assert_eq(tokenizer_tokenize(&t, words[w], &ids), 1, "%s", words[w]);
        char* s = tokenizer_decode(&t, ids, 1, 0);
        cr_assert_str_eq(s, words[w]);
        free(s), free(ids);
    }
    // A text outside the corpus still round-trips through bytes.
    TOKENS(&t, "z", 89 + 256);
    tokenizer_free(&t);
    bpe_free(&v);
    rm_dir(d);
    free(d);
}

// ---------------------------------------------------------------------------
// Round trips on a vocabulary holding every byte: decode(encode(x)) is the
// normalised text with the pre-token boundaries as spaces.

static void squeeze(char* s) {
    char* w = s;
    for (char* r = s; *r; r++)
        if (*r != ' ') *w++ = *r;
    *w = 0;
}

Test(tokenizer, round_trips) {
    Tokenizer t = load_ok(FMNIST);
    const char* texts[] = {
        "A photo of a CAT's toy, isn't it?", "a   dark\t\tsneaker\n", "route 66: 2024-01-15 at 3.14pm!!",
        "Crème brûlée à la française", "Ελληνικά ΟΔΟΣ", "Привет, МИР", "東京タワー", "emoji 🙂👍",
        "they're we've I'm you'll he'd", "under_score #hash @at $100 50% a&b", "'quoted' \"double\"",
    };
    for (size_t i = 0; i < sizeof texts / sizeof *texts; i++) {
        int32_t* ids;
        int n = tokenizer_tokenize(&t, texts[i], &ids);
        for (int k = 0; k < n; k++) cr_assert_neq(ids[k], t.unk_id, "\"%s\": unk", texts[i]);
        char* back = tokenizer_decode(&t, ids, n, 0);
        char* norm = tokenizer_normalize(texts[i]);
        squeeze(back), squeeze(norm);
        cr_assert_str_eq(back, norm, "round trip of \"%s\"", texts[i]);
        free(back), free(norm), free(ids);
    }
    int32_t ids[32];
    tokenizer_encode(&t, "A photo of a CAT's toy, isn't it?", 32, ids);
    char* s = tokenizer_decode(&t, ids, 32, TOKENIZER_SKIP_SPECIAL | TOKENIZER_CLEAN_SPACES);
    cr_assert_str_eq(s, "a photo of a cat's toy, isn 't it?");  // CLIP splits "isn't" as isn + 't
    free(s);
    tokenizer_encode(&t, "Two  SPACES\u00a0and Ünïcödé", 32, ids);
    s = tokenizer_decode(&t, ids, 32, TOKENIZER_SKIP_SPECIAL);
    cr_assert_str_eq(s, "two spaces and ünïcödé");
    free(s);
    tokenizer_free(&t);
}

// ---------------------------------------------------------------------------
// Scale: a vocabulary of CLIP's size (49408 tokens, 48894 merges, 1.5 MB
// vocab.json on one line as in the Hugging Face files) loads quickly, and ids
// land where CLIP's do.

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

Test(tokenizer, clip_sized_files_load_fast) {
    BpeVocab base;
    bpe_train(&base, NULL, 0, 0, 1);
    char* d = tmp_dir();
    char path[512];
    snprintf(path, sizeof path, "%s/vocab.json", d);
    FILE* fv = fopen(path, "wb");
    snprintf(path, sizeof path, "%s/merges.txt", d);
    FILE* fm = fopen(path, "wb");
    cr_assert(fv && fm);
    fputs("{", fv);
    fputs("#version: 0.2\n", fm);
    for (int i = 0; i < 512; i++) {
        // '"' and '\\' are tokens too; escape them.
        const char* s = base.tokens[i];
        fprintf(fv, "%s\"%s%s\": %d", i ? ", " : "", s[0] == '"' || s[0] == '\\' ? "\\" : "", s, i);
    }
    // Merge i joins base symbol x with y</w> (all distinct): "x y</w>" -> "xy</w>".
    for (int i = 0; i < TOKENIZER_MAX_MERGES; i++) {
        const char *x = base.tokens[i / 256], *y = base.tokens[256 + i % 256];
        bool ex = x[0] == '"' || x[0] == '\\', ey = y[0] == '"' || y[0] == '\\';
        fprintf(fv, ", \"%s%s%s%s\": %d", ex ? "\\" : "", x, ey ? "\\" : "", y, 512 + i);
        fprintf(fm, "%s %s\n", x, y);
    }
    fprintf(fv, ", \"%s\": %d, \"%s\": %d}", TOKENIZER_BOS, 512 + TOKENIZER_MAX_MERGES, TOKENIZER_EOS,
            513 + TOKENIZER_MAX_MERGES);
    fprintf(fm, "%s %s\n", base.tokens[200], base.tokens[300]);  // past CLIPTokenizer's cut: ignored
    fclose(fv), fclose(fm);
    bpe_free(&base);
    double t0 = now_s();
    Tokenizer t = load_ok(d);
    double dt = now_s() - t0;
    cr_assert_lt(dt, 1.0, "loading took %.3f s", dt);
    cr_assert_eq(t.vocab_size, 49408);
    cr_assert_eq(t.nmerges, TOKENIZER_MAX_MERGES);
    cr_assert_eq(t.bos_id, 49406);
    cr_assert_eq(t.eos_id, 49407);
    // Base ids are CLIP's (printable ASCII c: c - 33, with </w>: + 256); merge i
    // is x = base[i / 256] joined with y</w>, id 512 + i. "ab": (a 64, b</w>) -> merge 64*256 + 65.
    TOKENS(&t, "ab", 512 + 64 * 256 + 65);
    TOKENS(&t, "za", 512 + 89 * 256 + 64);
    // photo: p h o t o</w>, only (t, o</w>) is a merge; of: (o, f</w>); cat: c (a, t</w>).
    TOKENS(&t, "a photo of a cat", 320, 79, 71, 78, 512 + 83 * 256 + 78, 512 + 78 * 256 + 69, 320, 66,
           512 + 64 * 256 + 83);
    int32_t ids[77];
    t0 = now_s();
    for (int i = 0; i < 1000; i++) tokenizer_encode(&t, "a photo of a dark ankle boot, very bright and large!", 77, ids);
    dt = now_s() - t0;
    cr_assert_lt(dt, 1.0, "1000 encodes took %.3f s", dt);
    tokenizer_free(&t);
    rm_dir(d);
    free(d);
}

// Real CLIP files, when a folder holding them is named (no download here).
Test(tokenizer, real_clip_files) {
    const char* dir = getenv("VKPREF_CLIP_TOKENIZER");
    if (!dir) cr_skip_test("set VKPREF_CLIP_TOKENIZER to a CLIP tokenizer/ folder to run");
    double t0 = now_s();
    Tokenizer t = load_ok(dir);
    cr_assert_lt(now_s() - t0, 1.0);
    cr_assert_eq(t.vocab_size, 49408);
    cr_assert_eq(t.nmerges, TOKENIZER_MAX_MERGES);
    int32_t ids[77];
    cr_assert_eq(tokenizer_encode(&t, "a photo of a cat", 77, ids), 7);
    const int32_t cat[8] = {49406, 320, 1125, 539, 320, 2368, 49407, 49407};
    cr_assert_arr_eq(ids, cat, sizeof cat);
    TOKENS(&t, "a photo of an astronaut riding a horse on mars", 320, 1125, 539, 550, 18376, 6765, 320, 4558, 525, 7496);
    TOKENS(&t, "Hello, World! 123", 3306, 267, 1002, 256, 272, 273, 274);
    TOKENS(&t, "the black dog", 518, 1449, 1929);
    tokenizer_free(&t);
}
