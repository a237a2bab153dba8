// tokenizer.c: see tokenizer.h. Owns the CLIP tokenizer's text pipeline
// (normalise, pre-tokenise, byte-level BPE), the loading of the tokenizer files
// and decoding. The behaviour matched, line by line, is transformers'
// CLIPTokenizer (tokenization_clip.py) without ftfy, i.e. with
// BasicTokenizer(strip_accents=False, do_split_on_punc=False) as normaliser.
#include "model/tokenizer.h"

#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

#include "util/check.h"
#include "util/json_fields.h"

// ---------------------------------------------------------------------------
// Hash maps. vocab.json has 49408 entries and merges.txt 48894 lines, and each
// BPE step looks pairs up, so both are open-addressing tables (load <= 1/2).

static uint64_t hash_bytes(const char* s, size_t n) {
    uint64_t h = 1469598103934665603ull;  // FNV-1a
    for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 1099511628211ull;
    return h ^ (h >> 29);
}
static uint64_t hash_u64(uint64_t k) {  // splitmix64 finaliser
    k ^= k >> 30, k *= 0xbf58476d1ce4e5b9ull;
    k ^= k >> 27, k *= 0x94d049bb133111ebull;
    return k ^ (k >> 31);
}

typedef struct TokMap {
    size_t cap, count;         // cap is a power of two
    const char** keys;         // NUL-terminated strings owned elsewhere
    int* vals;
} TokMap;

static TokMap* tokmap_new(size_t expected) {
    TokMap* m = xcalloc(1, sizeof *m);
    m->cap = 16;
    while (m->cap < 2 * expected) m->cap *= 2;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->vals = xcalloc(m->cap, sizeof *m->vals);
    return m;
}
static void tokmap_free(TokMap* m) {
    if (!m) return;
    free(m->keys), free(m->vals), free(m);
}
static size_t tokmap_slot(const TokMap* m, const char* s, size_t n) {
    size_t i = hash_bytes(s, n) & (m->cap - 1);
    while (m->keys[i] && (strncmp(m->keys[i], s, n) || m->keys[i][n])) i = (i + 1) & (m->cap - 1);
    return i;
}
static int tokmap_get(const TokMap* m, const char* s, size_t n) {
    size_t i = tokmap_slot(m, s, n);
    return m->keys[i] ? m->vals[i] : -1;
}
// Returns the previous value (-1 if new). Later keys win, as in Python's json.
static int tokmap_put(TokMap* m, const char* key, int val) {
    size_t i = tokmap_slot(m, key, strlen(key));
    int old = m->keys[i] ? m->vals[i] : -1;
    if (!m->keys[i]) m->count++;
    m->keys[i] = key, m->vals[i] = val;
    return old;
}

typedef struct PairMap {
    size_t cap;
    uint64_t* keys;   // (a << 32 | b) + 1, 0 = empty
    int *rank, *merged;
} PairMap;

static PairMap* pairmap_new(size_t expected) {
    PairMap* m = xcalloc(1, sizeof *m);
    m->cap = 16;
    while (m->cap < 2 * expected) m->cap *= 2;
    m->keys = xcalloc(m->cap, sizeof *m->keys);
    m->rank = xcalloc(m->cap, sizeof *m->rank);
    m->merged = xcalloc(m->cap, sizeof *m->merged);
    return m;
}
static void pairmap_free(PairMap* m) {
    if (!m) return;
    free(m->keys), free(m->rank), free(m->merged), free(m);
}
static size_t pairmap_slot(const PairMap* m, int a, int b) {
    uint64_t k = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
    size_t i = hash_u64(k) & (m->cap - 1);
    while (m->keys[i] && m->keys[i] != k) i = (i + 1) & (m->cap - 1);
    return i;
}

// ---------------------------------------------------------------------------
// UTF-8 and character classes. No Unicode database is linked, so the classes
// are range tables covering the scripts and symbol blocks captions use; the
// exact sets would be Python's unicodedata / the `regex` module's \p{L}, \p{N}.

// Decodes one code point at s[0..n); *len gets its byte length. Invalid or
// truncated sequences (and surrogates, overlongs) give -1 with *len = 1: the
// byte then travels on as an "other" character, and byte-level BPE encodes
// it like any byte (Python would have refused to decode such text at all).
static int utf8_next(const unsigned char* s, size_t n, size_t* len) {
    *len = 1;
    unsigned c = s[0];
    if (c < 0x80) return (int)c;
    int k = c >= 0xF0 && c < 0xF5 ? 4 : c >= 0xE0 ? 3 : c >= 0xC2 && c < 0xE0 ? 2 : 0;
    if (c >= 0xF5) k = 0;
    if (!k || (size_t)k > n) return -1;
    unsigned cp = c & (0x7F >> k);
    for (int i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80) return -1;
        cp = cp << 6 | (s[i] & 0x3F);
    }
    if ((k == 3 && cp < 0x800) || (k == 4 && (cp < 0x10000 || cp > 0x10FFFF)) || (cp >= 0xD800 && cp <= 0xDFFF))
        return -1;
    *len = (size_t)k;
    return (int)cp;
}

int tokenizer_put_utf8(char* out, int cp) {
    unsigned char* o = (unsigned char*)out;
    if (cp < 0x80) return o[0] = (unsigned char)cp, 1;
    if (cp < 0x800) return o[0] = (unsigned char)(0xC0 | cp >> 6), o[1] = (unsigned char)(0x80 | (cp & 0x3F)), 2;
    if (cp < 0x10000) {
        o[0] = (unsigned char)(0xE0 | cp >> 12), o[1] = (unsigned char)(0x80 | (cp >> 6 & 0x3F));
        o[2] = (unsigned char)(0x80 | (cp & 0x3F));
        return 3;
    }
    o[0] = (unsigned char)(0xF0 | cp >> 18), o[1] = (unsigned char)(0x80 | (cp >> 12 & 0x3F));
    o[2] = (unsigned char)(0x80 | (cp >> 6 & 0x3F)), o[3] = (unsigned char)(0x80 | (cp & 0x3F));
    return 4;
}

typedef struct Range { int lo, hi; } Range;

static bool in_ranges(int cp, const Range* r, size_t n) {
    size_t lo = 0, hi = n;  // ranges are sorted and disjoint: binary search
    while (lo < hi) {
        size_t mid = (lo + hi) / 2;
        if (cp < r[mid].lo) hi = mid;
        else if (cp > r[mid].hi) lo = mid + 1;
        else return true;
    }
    return false;
}
#define IN(cp, table) in_ranges(cp, table, sizeof table / sizeof table[0])

// \p{N}: decimal digits of the common scripts, super/subscript digits,
// vulgar fractions, Roman numerals, circled/parenthesised numbers.
static const Range NUMBERS[] = {
    {0x30, 0x39}, {0xB2, 0xB3}, {0xB9, 0xB9}, {0xBC, 0xBE}, {0x660, 0x669}, {0x6F0, 0x6F9}, {0x7C0, 0x7C9},
    {0x966, 0x96F}, {0x9E6, 0x9EF}, {0x9F4, 0x9F9}, {0xA66, 0xA6F}, {0xAE6, 0xAEF}, {0xB66, 0xB6F},
    {0xB72, 0xB77}, {0xBE6, 0xBF2}, {0xC66, 0xC6F}, {0xC78, 0xC7E}, {0xCE6, 0xCEF}, {0xD58, 0xD5E},
    {0xD66, 0xD78}, {0xDE6, 0xDEF}, {0xE50, 0xE59}, {0xED0, 0xED9}, {0xF20, 0xF33}, {0x1040, 0x1049},
    {0x1090, 0x1099}, {0x1369, 0x137C}, {0x16EE, 0x16F0}, {0x17E0, 0x17E9}, {0x17F0, 0x17F9},
    {0x1810, 0x1819}, {0x1946, 0x194F}, {0x19D0, 0x19DA}, {0x1A80, 0x1A89}, {0x1A90, 0x1A99},
    {0x1B50, 0x1B59}, {0x1BB0, 0x1BB9}, {0x1C40, 0x1C49}, {0x1C50, 0x1C59}, {0x2070, 0x2070},
    {0x2074, 0x2079}, {0x2080, 0x2089}, {0x2150, 0x2182}, {0x2185, 0x2189}, {0x2460, 0x249B},
    {0x24EA, 0x24FF}, {0x2776, 0x2793}, {0x2CFD, 0x2CFD}, {0x3007, 0x3007}, {0x3021, 0x3029},
    {0x3038, 0x303A}, {0x3192, 0x3195}, {0x3220, 0x3229}, {0x3248, 0x324F}, {0x3251, 0x325F},
    {0x3280, 0x3289}, {0x32B1, 0x32BF}, {0xA620, 0xA629}, {0xA6E6, 0xA6EF}, {0xA830, 0xA835},
    {0xA8D0, 0xA8D9}, {0xA900, 0xA909}, {0xA9D0, 0xA9D9}, {0xA9F0, 0xA9F9}, {0xAA50, 0xAA59},
    {0xABF0, 0xABF9}, {0xFF10, 0xFF19}, {0x10107, 0x10133}, {0x1D7CE, 0x1D7FF}, {0x1F100, 0x1F10C},
    {0x1FBF0, 0x1FBF9},
};

// Neither letter nor number: punctuation, symbols, combining marks, controls,
// format characters and private use (categories P*, S*, M*, C*, Z*). Anything
// outside this table and NUMBERS counts as a letter, so unlisted marks of
// Indic and other scripts (except Devanagari and Thai, listed) are treated as
// letters and stay inside words, where the regex module would split them off.
static const Range OTHERS[] = {
    {0x00, 0x2F}, {0x3A, 0x40}, {0x5B, 0x60}, {0x7B, 0xA9}, {0xAB, 0xB4}, {0xB6, 0xB9}, {0xBB, 0xBF},
    {0xD7, 0xD7}, {0xF7, 0xF7}, {0x2C2, 0x2C5}, {0x2D2, 0x2DF}, {0x2E5, 0x2EB}, {0x2ED, 0x2ED},
    {0x2EF, 0x36F}, {0x375, 0x375}, {0x37E, 0x37E}, {0x384, 0x385}, {0x387, 0x387}, {0x3F6, 0x3F6},
    {0x482, 0x489}, {0x55A, 0x55F}, {0x589, 0x58A}, {0x58D, 0x58F}, {0x591, 0x5C7}, {0x5F3, 0x5F4},
    {0x600, 0x61F}, {0x64B, 0x65F}, {0x66A, 0x66D}, {0x670, 0x670}, {0x6D4, 0x6D4}, {0x6D6, 0x6E4},
    {0x6E7, 0x6ED}, {0x6FD, 0x6FE}, {0x700, 0x70F}, {0x711, 0x711}, {0x730, 0x74A}, {0x900, 0x903},
    {0x93A, 0x93C}, {0x93E, 0x94F}, {0x951, 0x957}, {0x962, 0x965}, {0x970, 0x970}, {0xE31, 0xE31},
    {0xE34, 0xE3A}, {0xE3F, 0xE3F}, {0xE47, 0xE4F}, {0xE5A, 0xE5B}, {0x169B, 0x169C}, {0x16EB, 0x16ED},
    {0x1AB0, 0x1AFF}, {0x1DC0, 0x1DFF}, {0x1FBD, 0x1FBD}, {0x1FBF, 0x1FC1}, {0x1FCD, 0x1FCF},
    {0x1FDD, 0x1FDF}, {0x1FED, 0x1FEF}, {0x1FFD, 0x1FFE}, {0x2000, 0x206F}, {0x207A, 0x207E},
    {0x208A, 0x208E}, {0x20A0, 0x20FF}, {0x2100, 0x2101}, {0x2103, 0x2106}, {0x2108, 0x2109},
    {0x2114, 0x2114}, {0x2116, 0x2118}, {0x211E, 0x2123}, {0x2125, 0x2125}, {0x2127, 0x2127},
    {0x2129, 0x2129}, {0x212E, 0x212E}, {0x213A, 0x213B}, {0x2140, 0x2144}, {0x214A, 0x214D},
    {0x214F, 0x214F}, {0x218A, 0x218B}, {0x2190, 0x245F}, {0x249C, 0x24E9}, {0x2500, 0x2775},
    {0x2794, 0x2BFF}, {0x2CE5, 0x2CEA}, {0x2CEF, 0x2CF1}, {0x2CF9, 0x2CFC}, {0x2CFE, 0x2CFF},
    {0x2DE0, 0x2E2E}, {0x2E30, 0x2FFF}, {0x3000, 0x3004}, {0x3008, 0x3020}, {0x302A, 0x3030},
    {0x3036, 0x3037}, {0x303D, 0x303F}, {0x3099, 0x309C}, {0x30A0, 0x30A0}, {0x30FB, 0x30FB},
    {0x3190, 0x3191}, {0x3196, 0x319F}, {0x31C0, 0x31E3}, {0x3200, 0x321E}, {0x322A, 0x3247},
    {0x3250, 0x3250}, {0x3260, 0x327F}, {0x328A, 0x32B0}, {0x32C0, 0x33FF}, {0x4DC0, 0x4DFF},
    {0xA490, 0xA4C6}, {0xA4FE, 0xA4FF}, {0xA60D, 0xA60F}, {0xA66F, 0xA67E}, {0xA69E, 0xA69F},
    {0xA6F0, 0xA6F7}, {0xA700, 0xA716}, {0xA720, 0xA721}, {0xA789, 0xA78A}, {0xD800, 0xF8FF},
    {0xFB29, 0xFB29}, {0xFD3E, 0xFD3F}, {0xFDFC, 0xFDFF}, {0xFE00, 0xFE6F}, {0xFEFF, 0xFEFF},
    {0xFF01, 0xFF0F}, {0xFF1A, 0xFF20}, {0xFF3B, 0xFF40}, {0xFF5B, 0xFF65}, {0xFFE0, 0xFFFF},
    {0x1D000, 0x1D24F}, {0x1D300, 0x1D35F}, {0x1F000, 0x1F0FF}, {0x1F10D, 0x1FBEF}, {0xE0000, 0xE0FFF},
    {0xF0000, 0x10FFFF},
};

// Unicode White_Space (the `regex` module's \s).
static bool is_space(int cp) {
    return (cp >= 0x09 && cp <= 0x0D) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}
static bool is_number(int cp) { return cp >= 0 && IN(cp, NUMBERS); }
// cp < 0 stands for an undecodable byte: "other".
static bool is_letter(int cp) { return cp >= 0 && !is_space(cp) && !IN(cp, NUMBERS) && !IN(cp, OTHERS); }

// BasicTokenizer._clean_text drops NUL, U+FFFD and every category C* character
// except \t \n \r (Cc controls, Cf format characters such as zero-width
// spaces and the soft hyphen, Co private use). Unassigned code points (Cn) are
// not known here and are kept.
static const Range DROPPED[] = {
    {0x00, 0x08}, {0x0B, 0x0C}, {0x0E, 0x1F}, {0x7F, 0x9F}, {0xAD, 0xAD}, {0x600, 0x605}, {0x61C, 0x61C},
    {0x6DD, 0x6DD}, {0x70F, 0x70F}, {0x180E, 0x180E}, {0x200B, 0x200F}, {0x202A, 0x202E}, {0x2060, 0x2064},
    {0x2066, 0x206F}, {0xD800, 0xF8FF}, {0xFEFF, 0xFEFF}, {0xFFF9, 0xFFFB}, {0xFFFD, 0xFFFF}, {0x110BD, 0x110BD},
    {0x1D173, 0x1D17A}, {0xE0001, 0xE0001}, {0xE0020, 0xE007F}, {0xF0000, 0x10FFFF},
};
// BasicTokenizer._is_whitespace (\t \n \r and category Zs) plus U+2028/2029,
// on which its str.split() also splits.
static bool is_norm_space(int cp) {
    return cp == 0x09 || cp == 0x0A || cp == 0x0D || cp == 0x20 || cp == 0xA0 || cp == 0x1680 ||
           (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F || cp == 0x205F ||
           cp == 0x3000;
}
// BasicTokenizer._is_chinese_char: each such ideograph becomes its own word.
static bool is_cjk(int cp) {
    return (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0x3400 && cp <= 0x4DBF) || (cp >= 0x20000 && cp <= 0x2A6DF) ||
           (cp >= 0x2A700 && cp <= 0x2B73F) || (cp >= 0x2B740 && cp <= 0x2B81F) || (cp >= 0x2B820 && cp <= 0x2CEAF) ||
           (cp >= 0xF900 && cp <= 0xFAFF) || (cp >= 0x2F800 && cp <= 0x2FA1F);
}

// Python's str.lower() on the scripts captions use: ASCII, Latin-1, Latin
// Extended-A, Latin Extended Additional (Vietnamese), Greek (with the
// final-sigma rule), Cyrillic, Armenian and fullwidth Latin. U+0130 (İ) gives
// two code points ("i" + U+0307) as in Python; it is handled by the caller.
static int lower_cp(int cp, bool final_position) {
    if (cp < 0) return cp;
    if (cp < 0x80) return cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
    if (cp >= 0xC0 && cp <= 0xDE && cp != 0xD7) return cp + 0x20;
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x178) return 0xFF;
        if (cp == 0x130 || cp == 0x131 || cp == 0x138 || cp == 0x149 || cp == 0x17F) return cp;
        if ((cp >= 0x139 && cp <= 0x148) || (cp >= 0x179 && cp <= 0x17E)) return cp & 1 ? cp + 1 : cp;
        return cp & 1 ? cp : cp + 1;
    }
    if (cp == 0x386) return 0x3AC;
    if (cp >= 0x388 && cp <= 0x38A) return cp + 0x25;
    if (cp == 0x38C) return 0x3CC;
    if (cp == 0x38E || cp == 0x38F) return cp + 0x3F;
    if (cp == 0x3A3) return final_position ? 0x3C2 : 0x3C3;  // Σ -> ς at the end of a word, else σ
    if ((cp >= 0x391 && cp <= 0x3A1) || (cp >= 0x3A4 && cp <= 0x3AB)) return cp + 0x20;
    if (cp >= 0x370 && cp <= 0x3FF) {  // archaic and Coptic letters of the Greek block
        if (cp == 0x370 || cp == 0x372 || cp == 0x376 || (cp >= 0x3D8 && cp <= 0x3EE && !(cp & 1))) return cp + 1;
        if (cp == 0x37F) return 0x3F3;
        if (cp == 0x3CF) return 0x3D7;
        if (cp == 0x3F4) return 0x3B8;
        if (cp == 0x3F7 || cp == 0x3FA) return cp + 1;
        if (cp == 0x3F9) return 0x3F2;
        if (cp >= 0x3FD) return cp - 0x82;
        return cp;
    }
    if (cp >= 0x400 && cp <= 0x40F) return cp + 0x50;
    if (cp >= 0x410 && cp <= 0x42F) return cp + 0x20;
    if ((cp >= 0x460 && cp <= 0x481) || (cp >= 0x48A && cp <= 0x4BF) || (cp >= 0x4D0 && cp <= 0x52F))
        return cp & 1 ? cp : cp + 1;
    if (cp == 0x4C0) return 0x4CF;
    if (cp >= 0x4C1 && cp <= 0x4CE) return cp & 1 ? cp + 1 : cp;
    if (cp >= 0x531 && cp <= 0x556) return cp + 0x30;
    if (cp == 0x1E9E) return 0xDF;
    if ((cp >= 0x1E00 && cp <= 0x1E95) || (cp >= 0x1EA0 && cp <= 0x1EFF)) return cp & 1 ? cp : cp + 1;
    if (cp >= 0xFF21 && cp <= 0xFF3A) return cp + 0x20;
    return cp;
}

// ---------------------------------------------------------------------------
// Normalisation: BasicTokenizer.tokenize joined by spaces. Of its NFC step only
// the singleton mappings of common characters are applied (Greek question mark
// -> ";", ano teleia -> middle dot, Kelvin / Ohm / Angstrom signs, ...):
// decomposed accents are not composed, and their marks then split words.

static int nfc_singleton(int cp) {
    switch (cp) {
    case 0x340: return 0x300;
    case 0x341: return 0x301;
    case 0x343: return 0x313;
    case 0x374: return 0x2B9;
    case 0x37E: return 0x3B;
    case 0x387: return 0xB7;
    case 0x1FEF: return 0x60;
    case 0x1FFD: return 0xB4;
    case 0x1FBE: return 0x3B9;
    case 0x2000: return 0x2002;
    case 0x2001: return 0x2003;
    case 0x2126: return 0x3A9;
    case 0x212A: return 0x4B;
    case 0x212B: return 0xC5;
    case 0x2329: return 0x3008;
    case 0x232A: return 0x3009;
    default: return cp;
    }
}

// Output units: code points >= 0, or -(byte + 1) for an undecodable byte.
static int put_unit(char* out, int u) {
    if (u >= 0) return tokenizer_put_utf8(out, u);
    out[0] = (char)(-u - 1);
    return 1;
}

char* tokenizer_normalize(const char* text) {
    size_t n = strlen(text);
    int* u = xmalloc((3 * n + 1) * sizeof *u);  // CJK adds two spaces per character
    size_t m = 0;
    for (size_t i = 0, len; i < n; i += len) {
        int cp = utf8_next((const unsigned char*)text + i, n - i, &len);
        if (cp >= 0) cp = nfc_singleton(cp);
        if (cp < 0) u[m++] = -(int)(unsigned char)text[i] - 1;
        else if (cp == 0 || IN(cp, DROPPED)) continue;
        else if (is_norm_space(cp)) u[m++] = ' ';
        else if (is_cjk(cp)) u[m++] = ' ', u[m++] = cp, u[m++] = ' ';
        else u[m++] = cp;
    }
    char* out = xmalloc(4 * m + 2 * m + 1);  // İ -> i + U+0307 grows by one unit at most
    size_t o = 0;
    bool pending_space = false;
    for (size_t i = 0; i < m; i++) {
        if (u[i] == ' ') {
            pending_space = o > 0;  // collapses runs and strips the ends
            continue;
        }
        if (pending_space) out[o++] = ' ', pending_space = false;
        int cp = u[i];
        if (cp == 0x130) {
            out[o++] = 'i';
            o += (size_t)tokenizer_put_utf8(out + o, 0x307);
            continue;
        }
        // Final sigma: after a letter and not before one (Python's Final_Sigma, simplified).
        bool final_pos = i > 0 && is_letter(u[i - 1]) && !(i + 1 < m && is_letter(u[i + 1]));
        o += (size_t)put_unit(out + o, lower_cp(cp, final_pos));
    }
    out[o] = 0;
    free(u);
    return out;
}

// ---------------------------------------------------------------------------
// Pre-tokenisation: re.findall(CLIP's pattern, text) by hand. At each position
// the alternatives are tried in the pattern's order; characters matched by no
// alternative (whitespace) are skipped, as findall does.

static const char* const CONTRACTIONS[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};

void tokenizer_pretokenize(const char* text, PretokenFn fn, void* user) {
    const unsigned char* s = (const unsigned char*)text;
    size_t n = strlen(text), i = 0, len;
    while (i < n) {
        // The pattern is compiled with re.IGNORECASE, hence strncasecmp.
        if (s[i] == '<') {
            size_t lb = strlen(TOKENIZER_BOS), le = strlen(TOKENIZER_EOS);
            if (n - i >= lb && !strncasecmp(text + i, TOKENIZER_BOS, lb)) { fn(text + i, lb, true, user), i += lb; continue; }
            if (n - i >= le && !strncasecmp(text + i, TOKENIZER_EOS, le)) { fn(text + i, le, true, user), i += le; continue; }
        }
        if (s[i] == '\'') {
            size_t k = 0;
            for (int c = 0; c < 7 && !k; c++) {
                size_t lc = strlen(CONTRACTIONS[c]);
                if (n - i >= lc && !strncasecmp(text + i, CONTRACTIONS[c], lc)) k = lc;
            }
            if (k) { fn(text + i, k, false, user), i += k; continue; }
        }
        int cp = utf8_next(s + i, n - i, &len);
        if (cp >= 0 && is_space(cp)) { i += len; continue; }
        size_t start = i;
        if (is_letter(cp)) {  // [\p{L}]+
            do i += len, cp = i < n ? utf8_next(s + i, n - i, &len) : -1;
            while (i < n && is_letter(cp));
        } else if (is_number(cp)) {  // [\p{N}]: one digit per token
            i += len;
        } else {  // [^\s\p{L}\p{N}]+
            do i += len, cp = i < n ? utf8_next(s + i, n - i, &len) : -1;
            while (i < n && !(cp >= 0 && is_space(cp)) && !is_letter(cp) && !is_number(cp));
        }
        fn(text + start, i - start, false, user);
    }
}

// transformers first splits the raw text on its added tokens (a trie, exact
// case), then runs _tokenize on each piece separately.
void tokenizer_split(const char* text, const char* bos, const char* eos, PretokenFn fn, void* user) {
    size_t lb = strlen(bos), le = strlen(eos);
    const char* p = text;
    for (;;) {
        const char *hb = lb ? strstr(p, bos) : NULL, *he = le ? strstr(p, eos) : NULL;
        const char* h = hb && (!he || hb <= he) ? hb : he;
        size_t lh = h == hb ? lb : le;
        size_t piece = h ? (size_t)(h - p) : strlen(p);
        char* raw = xmalloc(piece + 1);
        memcpy(raw, p, piece), raw[piece] = 0;
        char* norm = tokenizer_normalize(raw);
        tokenizer_pretokenize(norm, fn, user);
        free(norm), free(raw);
        if (!h) break;
        fn(h, lh, true, user);
        p = h + lh;
    }
}

// ---------------------------------------------------------------------------
// GPT-2 bytes_to_unicode: printable Latin-1 bytes stand for themselves, the 68
// others (0-32, 127-160, 173) for U+0100.. in byte order, so no symbol is
// whitespace or a control character.

static bool byte_is_printable(int b) { return (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255); }

int tokenizer_byte_to_cp(int b) {
    if (byte_is_printable(b)) return b;
    return 256 + (b <= 32 ? b : b <= 160 ? 33 + (b - 127) : 67);
}
int tokenizer_cp_to_byte(int cp) {
    if (cp >= 0 && cp < 256) return byte_is_printable(cp) ? cp : -1;
    if (cp < 256 || cp >= 256 + 68) return -1;
    int k = cp - 256;
    return k <= 32 ? k : k <= 66 ? 127 + (k - 33) : 173;
}

// ---------------------------------------------------------------------------
// Loading.

static void set_err(char* err, size_t errlen, const char* fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char* err, size_t errlen, const char* fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static char* read_text(const char* path, size_t* size, char* err, size_t errlen) {
    FILE* f = fopen(path, "rb");
    if (!f) {
        set_err(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char* buf = xmalloc(cap);
    for (size_t got; (got = fread(buf + n, 1, cap - n - 1, f)) > 0;) {
        n += got;
        if (cap - n < 2) buf = xrealloc(buf, cap *= 2);
    }
    bool bad = ferror(f);
    fclose(f);
    if (bad) {
        set_err(err, errlen, "%s: read error", path);
        free(buf);
        return NULL;
    }
    buf[n] = 0;
    if (size) *size = n;
    return buf;
}

// Not isspace(): under a UTF-8 locale it could match bytes inside multi-byte symbols.
static bool ascii_space(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

static int line_of(const char* text, const char* at) {
    int line = 1;
    for (const char* p = text; p < at && *p; p++) line += *p == '\n';
    return line;
}

// Text after the object, or a key given twice, is refused (root is deleted then).
static int json_refuse_extra(cJSON* root, const char* text, size_t size, const char* end, const char* path, char* err,
                             size_t errlen) {
    while (end && end < text + size && ascii_space(*end)) end++;
    const cJSON* dup = json_find_duplicate(root);
    if (end && end < text + size && *end) set_err(err, errlen, "%s:%d: text after the JSON object", path, line_of(text, end));
    else if (dup) set_err(err, errlen, "%s: key \"%.60s\" appears twice", path, dup->string);
    else return 0;
    cJSON_Delete(root);
    return -1;
}

static int load_vocab(Tokenizer* t, const char* path, char* err, size_t errlen) {
    size_t size;
    char* text = read_text(path, &size, err, errlen);
    if (!text) return -1;
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithLengthOpts(text, size, &end, false);
    if (!root || !cJSON_IsObject(root)) {
        const char* at = end ? end : cJSON_GetErrorPtr();
        if (root) set_err(err, errlen, "%s:1: expected a JSON object {\"token\": id, ...}", path);
        else set_err(err, errlen, "%s:%d: invalid JSON", path, at ? line_of(text, at) : 1);
        cJSON_Delete(root), free(text);
        return -1;
    }
    if (json_refuse_extra(root, text, size, end, path, err, errlen)) return free(text), -1;
    free(text);
    int n = cJSON_GetArraySize(root);
    size_t bytes = 0;
    int max_id = -1;
    for (const cJSON* e = root->child; e; e = e->next) {
        int v;
        if (!json_to_int(e, 0, (1 << 24) - 1, &v)) {
            set_err(err, errlen, "%s: key \"%.60s\": id must be an integer in [0, 2^24)", path, e->string);
            cJSON_Delete(root);
            return -1;
        }
        if (v > max_id) max_id = v;
        bytes += strlen(e->string) + 1;
    }
    t->strings = xmalloc(bytes ? bytes : 1);
    t->vocab = tokmap_new((size_t)n);
    char* p = t->strings;
    for (const cJSON* e = root->child; e; e = e->next) {
        size_t l = strlen(e->string) + 1;
        memcpy(p, e->string, l);
        tokmap_put(t->vocab, p, e->valueint);
        p += l;
    }
    cJSON_Delete(root);
    t->vocab_size = (int)t->vocab->count;
    t->id_limit = max_id + 1;
    t->id_to_token = xcalloc((size_t)(t->id_limit > 0 ? t->id_limit : 1), sizeof *t->id_to_token);
    // Every id must name one string, or id-based BPE would differ from CLIPTokenizer's string-based one.
    for (size_t i = 0; i < t->vocab->cap; i++) {
        const char* key = t->vocab->keys[i];
        if (!key) continue;
        int id = t->vocab->vals[i];
        if (t->id_to_token[id]) {
            set_err(err, errlen, "%s: id %d is used by both \"%.60s\" and \"%.60s\"", path, id, t->id_to_token[id], key);
            return -1;
        }
        t->id_to_token[id] = (char*)key;
    }
    return 0;
}

static int vocab_id(const Tokenizer* t, const char* s, size_t n) { return tokmap_get(t->vocab, s, n); }

int tokenizer_token_id(const Tokenizer* t, const char* token) { return vocab_id(t, token, strlen(token)); }

// merges.txt as CLIPTokenizer reads it: read().strip().split("\n")[1:49152-256-2+1],
// each line split on whitespace. Line 1 is skipped whatever it holds, so it
// must be the "#version" header here (a missing header would silently drop
// the first merge). Ranks count lines, blank ones included, as the slice does.
static int load_merges(Tokenizer* t, const char* path, char* err, size_t errlen) {
    size_t size;
    char* text = read_text(path, &size, err, errlen);
    if (!text) return -1;
    t->ranks = pairmap_new(TOKENIZER_MAX_MERGES);
    char* p = text;
    int line = 1;
    while (*p && ascii_space(*p)) line += *p++ == '\n';
    if (*p != '#') {
        set_err(err, errlen, "%s:%d: expected the \"#version: ...\" header line (CLIPTokenizer always skips the first line)",
                path, line);
        free(text);
        return -1;
    }
    char* next = strchr(p, '\n');  // the line after the header
    int rank = 0;
    size_t mcap = 256;
    char* merged = xmalloc(mcap);
    int r = 0;
    while (next && rank < TOKENIZER_MAX_MERGES) {
        p = next + 1, line++;
        char* eol = strchr(p, '\n');
        if (eol) *eol = 0;
        // Python's str.split(): fields separated by whitespace runs (zeroed here).
        char* fields[3] = {0};
        int nf = 0;
        for (char* q = p; *q && nf < 3;) {
            while (*q && ascii_space(*q)) *q++ = 0;
            if (!*q) break;
            fields[nf++] = q;
            while (*q && !ascii_space(*q)) q++;
        }
        if (nf) {  // a blank line takes a rank but holds no pair, as in CLIPTokenizer
            if (nf != 2) {
                set_err(err, errlen, "%s:%d: expected two tokens \"a b\", got %s", path, line, nf == 1 ? "one" : "more");
                r = -1;
                break;
            }
            int a = vocab_id(t, fields[0], strlen(fields[0])), b = vocab_id(t, fields[1], strlen(fields[1]));
            const char* missing = a < 0 ? fields[0] : b < 0 ? fields[1] : NULL;
            if (missing) {
                set_err(err, errlen, "%s:%d: token \"%.60s\" is not in vocab.json", path, line, missing);
                r = -1;
                break;
            }
            size_t la = strlen(fields[0]), lb = strlen(fields[1]);
            if (la + lb + 1 > mcap) merged = xrealloc(merged, mcap = 2 * (la + lb + 1));
            memcpy(merged, fields[0], la), memcpy(merged + la, fields[1], lb + 1);
            int ab = vocab_id(t, merged, la + lb);
            if (ab < 0) {
                set_err(err, errlen, "%s:%d: merged token \"%.60s\" is not in vocab.json", path, line, merged);
                r = -1;
                break;
            }
            size_t s = pairmap_slot(t->ranks, a, b);
            if (!t->ranks->keys[s]) t->nmerges++;
            t->ranks->keys[s] = ((uint64_t)(uint32_t)a << 32 | (uint32_t)b) + 1;
            t->ranks->rank[s] = rank;  // a repeated pair keeps its last rank, as dict(zip(...)) does
            t->ranks->merged[s] = ab;
        }
        rank++;
        next = eol;
    }
    free(merged), free(text);
    return r;
}

// A special token from tokenizer_config.json / special_tokens_map.json: a
// string, or an AddedToken object {"content": ...}. null means "not set".
static int read_special(cJSON* root, const char* key, char** dst, const char* path, char* err, size_t errlen) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(root, key);
    if (!v || cJSON_IsNull(v)) return 0;
    if (cJSON_IsObject(v)) v = cJSON_GetObjectItemCaseSensitive(v, "content");
    if (!cJSON_IsString(v)) {
        set_err(err, errlen, "%s: key \"%s\": expected a string or {\"content\": string}", path, key);
        return -1;
    }
    free(*dst);
    *dst = xstrdup(v->valuestring);
    return 0;
}

static int load_config(Tokenizer* t, const char* path, bool optional, char* err, size_t errlen) {
    struct stat st;
    if (optional && stat(path, &st) != 0) return 0;
    char* text = read_text(path, NULL, err, errlen);
    if (!text) return -1;
    const char* end = NULL;
    cJSON* root = cJSON_ParseWithOpts(text, &end, false);
    if (!root || !cJSON_IsObject(root)) {
        set_err(err, errlen, "%s:%d: not a JSON object", path, line_of(text, end ? end : text));
        cJSON_Delete(root), free(text);
        return -1;
    }
    if (json_refuse_extra(root, text, strlen(text), end, path, err, errlen)) return free(text), -1;
    free(text);
    int r = 0;
    static const char* const keys[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    char** dsts[] = {&t->bos_token, &t->eos_token, &t->unk_token, &t->pad_token};
    for (int i = 0; i < 4 && !r; i++) r = read_special(root, keys[i], dsts[i], path, err, errlen);
    const cJSON* ml = cJSON_GetObjectItemCaseSensitive(root, "model_max_length");
    // transformers writes a huge sentinel (1e30) when no length is known.
    if (!r && cJSON_IsNumber(ml) && ml->valuedouble >= 1 && ml->valuedouble <= 1e6) t->model_max_length = (int)ml->valuedouble;
    cJSON_Delete(root);
    return r;
}

int tokenizer_load_files(Tokenizer* t, const char* vocab_path, const char* merges_path, const char* config_path,
                         const char* special_map_path, char* err, size_t errlen) {
    memset(t, 0, sizeof *t);
    t->bos_token = xstrdup(TOKENIZER_BOS);
    t->eos_token = xstrdup(TOKENIZER_EOS);
    t->unk_token = xstrdup(TOKENIZER_EOS);
    t->pad_token = xstrdup(TOKENIZER_EOS);
    if (load_vocab(t, vocab_path, err, errlen) || load_merges(t, merges_path, err, errlen) ||
        (config_path && load_config(t, config_path, true, err, errlen)) ||
        (special_map_path && load_config(t, special_map_path, true, err, errlen))) {
        tokenizer_free(t);
        return -1;
    }
    const char* names[] = {"bos_token", "eos_token", "unk_token", "pad_token"};
    const char* vals[] = {t->bos_token, t->eos_token, t->unk_token, t->pad_token};
    int* ids[] = {&t->bos_id, &t->eos_id, &t->unk_id, &t->pad_id};
    for (int i = 0; i < 4; i++) {
        *ids[i] = tokenizer_token_id(t, vals[i]);
        if (*ids[i] < 0) {
            // transformers would append such a token to the vocabulary; the text
            // encoder's embedding table would then not match vocab.json.
            set_err(err, errlen, "%s: %s \"%.60s\" is not in the vocabulary", vocab_path, names[i], vals[i]);
            tokenizer_free(t);
            return -1;
        }
    }
    char sym[8];
    for (int b = 0; b < 256; b++) {
        int l = tokenizer_put_utf8(sym, tokenizer_byte_to_cp(b));
        t->byte_id[b] = vocab_id(t, sym, (size_t)l);
        memcpy(sym + l, "</w>", 4);
        t->byte_end_id[b] = vocab_id(t, sym, (size_t)l + 4);
    }
    return 0;
}

int tokenizer_load(Tokenizer* t, const char* dir, char* err, size_t errlen) {
    size_t n = strlen(dir) + 32;
    char *v = xmalloc(n), *m = xmalloc(n), *c = xmalloc(n), *s = xmalloc(n);
    snprintf(v, n, "%s/vocab.json", dir);
    snprintf(m, n, "%s/merges.txt", dir);
    snprintf(c, n, "%s/tokenizer_config.json", dir);
    snprintf(s, n, "%s/special_tokens_map.json", dir);
    int r = tokenizer_load_files(t, v, m, c, s, err, errlen);
    free(v), free(m), free(c), free(s);
    return r;
}

void tokenizer_free(Tokenizer* t) {
    tokmap_free(t->vocab);
    pairmap_free(t->ranks);
    free(t->id_to_token), free(t->strings);
    free(t->bos_token), free(t->eos_token), free(t->unk_token), free(t->pad_token);
    memset(t, 0, sizeof *t);
}

// ---------------------------------------------------------------------------
// BPE (CLIPTokenizer.bpe over ids instead of strings: vocab.json maps strings
// one-to-one to ids and every merge's parts and result were checked to be in
// it, so the two agree; a byte missing from the vocabulary is -1, never
// merges, and comes out as unk as `encoder.get(token, unk)` would).

typedef struct IdVec { int32_t* v; int n, cap; } IdVec;
static void idvec_push(IdVec* a, int32_t x) {
    if (a->n == a->cap) a->v = xrealloc(a->v, (size_t)(a->cap = a->cap ? 2 * a->cap : 32) * sizeof *a->v);
    a->v[a->n++] = x;
}

typedef struct EncodeCtx { const Tokenizer* t; IdVec out; int* sym; size_t cap; } EncodeCtx;

static void bpe_pretoken(const char* s, size_t n, bool special, void* user) {
    EncodeCtx* c = user;
    const Tokenizer* t = c->t;
    if (special) {  // CLIPTokenizer's bpe cache maps both specials to themselves
        int id = vocab_id(t, s, n);
        idvec_push(&c->out, id >= 0 ? id : t->unk_id);
        return;
    }
    if (!n) return;
    if (n > c->cap) c->sym = xrealloc(c->sym, (c->cap = 2 * n) * sizeof *c->sym);
    int* w = c->sym;
    int len = (int)n;
    for (int i = 0; i < len; i++) {
        unsigned char b = (unsigned char)s[i];
        w[i] = i == len - 1 ? t->byte_end_id[b] : t->byte_id[b];
    }
    while (len > 1) {
        int best = INT_MAX, best_id = -1, first = -1, second = -1;
        for (int i = 0; i + 1 < len; i++) {
            if (w[i] < 0 || w[i + 1] < 0) continue;
            size_t k = pairmap_slot(t->ranks, w[i], w[i + 1]);
            if (t->ranks->keys[k] && t->ranks->rank[k] < best)
                best = t->ranks->rank[k], best_id = t->ranks->merged[k], first = w[i], second = w[i + 1];
        }
        if (best == INT_MAX) break;
        int o = 0;  // every occurrence, left to right, without overlaps
        for (int i = 0; i < len;) {
            if (i + 1 < len && w[i] == first && w[i + 1] == second) w[o++] = best_id, i += 2;
            else w[o++] = w[i++];
        }
        len = o;
    }
    for (int i = 0; i < len; i++) idvec_push(&c->out, w[i] >= 0 ? w[i] : t->unk_id);
}

int tokenizer_tokenize(const Tokenizer* t, const char* text, int32_t** ids) {
    EncodeCtx c = {.t = t};
    tokenizer_split(text, t->bos_token, t->eos_token, bpe_pretoken, &c);
    free(c.sym);
    *ids = c.out.v ? c.out.v : xmalloc(sizeof **ids);
    return c.out.n;
}

int tokenizer_encode(const Tokenizer* t, const char* text, int max_length, int32_t* ids) {
    if (max_length < 2) die("tokenizer_encode: max_length %d leaves no room for bos and eos", max_length);
    int32_t* tok;
    int n = tokenizer_tokenize(t, text, &tok);
    if (n > max_length - 2) n = max_length - 2;  // truncation=True keeps the specials
    ids[0] = t->bos_id;
    memcpy(ids + 1, tok, (size_t)n * sizeof *ids);
    ids[n + 1] = t->eos_id;
    for (int i = n + 2; i < max_length; i++) ids[i] = t->pad_id;
    free(tok);
    return n + 2;
}

int tokenizer_eos_index(const Tokenizer* t, const int32_t* ids, int n) {
    for (int i = 0; i < n; i++)
        if (ids[i] == t->eos_id) return i;
    return -1;
}

// ---------------------------------------------------------------------------
// Decoding.

static char* replace_all(char* s, const char* from, const char* to) {
    size_t lf = strlen(from), lt = strlen(to);  // lt <= lf for every use here: in place
    char *r = s, *w = s;
    while (*r) {
        if (!strncmp(r, from, lf)) memcpy(w, to, lt), w += lt, r += lf;
        else *w++ = *r++;
    }
    *w = 0;
    return s;
}

char* tokenizer_decode(const Tokenizer* t, const int32_t* ids, int n, int flags) {
    size_t cap = 64, len = 0;
    for (int i = 0; i < n; i++)
        if (ids[i] >= 0 && ids[i] < t->id_limit && t->id_to_token[ids[i]]) cap += strlen(t->id_to_token[ids[i]]);
    char* out = xmalloc(cap);
    for (int i = 0; i < n; i++) {
        int id = ids[i];
        if (id < 0 || id >= t->id_limit || !t->id_to_token[id]) continue;
        if ((flags & TOKENIZER_SKIP_SPECIAL) && (id == t->bos_id || id == t->eos_id || id == t->pad_id || id == t->unk_id))
            continue;
        const unsigned char* s = (const unsigned char*)t->id_to_token[id];
        size_t l = strlen((const char*)s);
        for (size_t j = 0, k; j < l; j += k) {
            int cp = utf8_next(s + j, l - j, &k);
            int b = tokenizer_cp_to_byte(cp);
            if (b >= 0) out[len++] = (char)b;
            else memcpy(out + len, s + j, k), len += k;  // not a byte-level symbol: kept as written
        }
    }
    out[len] = 0;
    replace_all(out, "</w>", " ");
    // str.strip(); only ASCII whitespace is stripped here.
    size_t a = 0, e = strlen(out);
    while (a < e && ascii_space(out[a])) a++;
    while (e > a && ascii_space(out[e - 1])) e--;
    memmove(out, out + a, e - a);
    out[e - a] = 0;
    if (flags & TOKENIZER_CLEAN_SPACES) {  // transformers' clean_up_tokenization
        static const char* const rules[][2] = {{" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},
                                               {" ' ", "'"},    {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"},
                                               {" 've", "'ve"}, {" 're", "'re"}};
        for (size_t r = 0; r < sizeof rules / sizeof rules[0]; r++) replace_all(out, rules[r][0], rules[r][1]);
    }
    return out;
}
