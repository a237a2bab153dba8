// tokenizer.h: the CLIP byte-level BPE tokenizer, matching transformers'
// CLIPTokenizer (the slow, Python one) on the files of a diffusers
// `tokenizer/` folder: vocab.json (token -> id), merges.txt (ranked pairs),
// and optionally tokenizer_config.json / special_tokens_map.json (special
// tokens, model_max_length). Real CLIP files (49408 tokens) load unchanged.
//
// Pipeline for one text (what CLIPTokenizer does when ftfy is not installed):
//   1. split out the literal special tokens "<|startoftext|>" / "<|endoftext|>"
//      (transformers' added-token trie runs on the raw text first);
//   2. normalise each remaining piece (BasicTokenizer(do_lower_case=True,
//      strip_accents=False, do_split_on_punc=False)): control and format
//      characters dropped, whitespace collapsed and stripped, CJK ideographs
//      spaced, lower-cased;
//   3. pre-tokenise with CLIP's pattern
//        <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+
//      (letters run together, digits one per token, other symbols run together);
//   4. map each pre-token's UTF-8 bytes through GPT-2's bytes_to_unicode table,
//      mark the last symbol with "</w>", and merge pairs by rank (lowest first).
//
// Approximations (no Unicode database, no ftfy), documented in tokenizer.c:
//  - lower-casing covers ASCII, Latin-1, Latin Extended-A, Latin Extended
//    Additional, Greek (final sigma simplified), Cyrillic, Armenian, fullwidth;
//  - of NFC only singleton mappings of common characters are applied
//    (decomposed accents are not composed, marks are not reordered);
//  - \p{L} is "not whitespace, not in NUMBERS, not in OTHERS" (range tables in
//    tokenizer.c). Against Python's tables (Unicode 14) every letter (L*) is
//    classified right; the misses are marks, symbols and digits of scripts
//    outside Latin/Greek/Cyrillic/Armenian/Hebrew/Arabic/Devanagari/Thai/CJK;
//  - unassigned code points are kept (BasicTokenizer drops category Cn);
//  - ftfy is not emulated: transformers without ftfy installed is the reference.
// tools/make_tokenizer_golden.py holds a Python port of CLIPTokenizer to compare with.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// CLIP's merges.txt has more lines than the model uses; CLIPTokenizer reads
// lines [1, 49152 - 256 - 2 + 1) after the header, i.e. at most this many merges.
#define TOKENIZER_MAX_MERGES (49152 - 256 - 2)
#define TOKENIZER_BOS "<|startoftext|>"
#define TOKENIZER_EOS "<|endoftext|>"

typedef struct Tokenizer {
    int vocab_size;        // number of entries in vocab.json
    int id_limit;          // 1 + the largest id (ids may, in principle, have holes)
    char** id_to_token;    // [id_limit] byte-level strings (UTF-8), NULL for holes
    char* strings;         // one block holding every token string
    struct TokMap* vocab;  // token string -> id
    struct PairMap* ranks; // (id a, id b) -> rank, merged id
    int nmerges;
    int byte_id[256];      // id of the single byte-level symbol for each byte, -1 if absent
    int byte_end_id[256];  // the same symbol with "</w>"
    int bos_id, eos_id, unk_id, pad_id;
    char *bos_token, *eos_token, *unk_token, *pad_token;
    int model_max_length;  // from tokenizer_config.json, 0 when absent
} Tokenizer;

// Loads dir/vocab.json and dir/merges.txt, and, when present,
// dir/tokenizer_config.json then dir/special_tokens_map.json (which wins, as in
// transformers) for bos/eos/unk/pad tokens and model_max_length. Defaults are
// CLIP's: bos <|startoftext|>, eos = unk = pad = <|endoftext|>.
// 0 on success; otherwise err names the file and the line or key.
int tokenizer_load(Tokenizer* t, const char* dir, char* err, size_t errlen);
// The same from explicit paths (config files may be NULL).
int tokenizer_load_files(Tokenizer* t, const char* vocab_path, const char* merges_path, const char* config_path,
                         const char* special_map_path, char* err, size_t errlen);
void tokenizer_free(Tokenizer* t);
// Id of a token string (byte-level form, e.g. "photo</w>"), -1 if absent.
int tokenizer_token_id(const Tokenizer* t, const char* token);

// Tokens of text without bos/eos, no truncation: *ids is malloc'ed, returns the count.
int tokenizer_tokenize(const Tokenizer* t, const char* text, int32_t** ids);
// What `tokenizer(text, padding="max_length", max_length=L, truncation=True)`
// gives: ids[0..L) = [bos] + tokens[:L-2] + [eos] + [pad] * rest. Returns the
// attention length, i.e. the number of real tokens (bos..eos inclusive); the
// eos sits at index (return value - 1). L must be at least 2.
int tokenizer_encode(const Tokenizer* t, const char* text, int max_length, int32_t* ids);
// Index of the first eos in ids[0..n), -1 if none: where CLIP's pooled output
// reads the last hidden state (transformers: (ids == eos_token_id).argmax(-1)).
int tokenizer_eos_index(const Tokenizer* t, const int32_t* ids, int n);

enum {
    TOKENIZER_SKIP_SPECIAL = 1,  // drop bos / eos / pad ids (skip_special_tokens=True)
    TOKENIZER_CLEAN_SPACES = 2,  // " ." -> "." etc. (clean_up_tokenization_spaces=True)
};
// ids -> text as CLIPTokenizer.decode: token strings concatenated, mapped back
// to bytes, "</w>" -> " ", stripped. Unknown ids are skipped. malloc'ed.
char* tokenizer_decode(const Tokenizer* t, const int32_t* ids, int n, int flags);

// ---------------------------------------------------------------------------
// The stages, shared with the BPE trainer (bpe_train.c) so that a trained
// vocabulary sees exactly the pre-tokens the encoder will produce.

// Step 2 above: the normalised text (malloc'ed).
char* tokenizer_normalize(const char* text);
// Step 3 above on normalised text: calls fn for each pre-token (raw UTF-8
// bytes, not NUL-terminated); special is true for <|startoftext|>/<|endoftext|>.
typedef void (*PretokenFn)(const char* s, size_t n, bool special, void* user);
void tokenizer_pretokenize(const char* normalized, PretokenFn fn, void* user);
// Steps 1-3 over raw text (specials split out first, each piece normalised).
void tokenizer_split(const char* text, const char* bos, const char* eos, PretokenFn fn, void* user);
// GPT-2 bytes_to_unicode: the code point standing for byte b, and the inverse
// (-1 when cp stands for no byte).
int tokenizer_byte_to_cp(int b);
int tokenizer_cp_to_byte(int cp);
// Appends the UTF-8 of code point cp to out (at least 4 bytes free); returns bytes written.
int tokenizer_put_utf8(char* out, int cp);
