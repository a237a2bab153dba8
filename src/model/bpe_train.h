// bpe_train.h: learns a small CLIP-format BPE vocabulary from a caption corpus,
// for text encoders trained from scratch (a vocab.json + merges.txt learned from the captions).
//
// The vocabulary is laid out exactly as CLIP's (simple_tokenizer.py /
// CLIPTokenizer): the 256 byte symbols in bytes_to_unicode order, the same 256
// with "</w>", one token per merge in merge order, then <|startoftext|> and
// <|endoftext|> last. Captions go through the tokenizer's own normalisation and
// pre-tokenisation (tokenizer_split), so the learned merges apply to exactly
// the pre-tokens the encoder will see. The written files load with
// tokenizer_load and with transformers' CLIPTokenizer.from_pretrained.
#pragma once
#include <stddef.h>

#define BPE_BASE_SYMBOLS 512

typedef struct BpeVocab {
    int vocab_size;        // BPE_BASE_SYMBOLS + new symbols + 2 specials
    char** tokens;         // [vocab_size] byte-level strings in id order
    int nmerges;
    char **merge_a, **merge_b;  // [nmerges] in rank order
} BpeVocab;

// Learns up to max_merges merges (at most TOKENIZER_MAX_MERGES) from n texts.
// Each step merges the most frequent adjacent pair (counted over words weighted
// by occurrences); ties go to the lexicographically smallest pair (bytes of the
// first symbol, then of the second), so the result is a pure function of the
// corpus. Stops early when the best pair occurs fewer than min_frequency times.
void bpe_train(BpeVocab* v, const char* const* texts, int n, int max_merges, int min_frequency);
void bpe_free(BpeVocab* v);

// Writes dir/vocab.json, dir/merges.txt, dir/special_tokens_map.json and
// dir/tokenizer_config.json (model_max_length, which diffusers pipelines pad
// to; <= 0 omits it), each to a temporary name then renamed. dir is created
// if missing. 0 on success, otherwise err names the file.
int bpe_save(const BpeVocab* v, const char* dir, int model_max_length, char* err, size_t errlen);
