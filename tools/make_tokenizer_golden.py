#!/usr/bin/env python3
"""make_tokenizer_golden.py: golden token ids for tests/test_tokenizer.c.

    tools/make_tokenizer_golden.py tests/data/tokenizer_fmnist > tests/data/tokenizer_fmnist/golden.json

Writes {"source": ..., "max_length": L, "cases": [{"text": ..., "tokens": [...], "ids": [...]}]}
for the texts below, where `tokens` are the ids without bos/eos and `ids` what
`tokenizer(text, padding="max_length", max_length=L, truncation=True).input_ids`
gives.

The reference is transformers' CLIPTokenizer (the slow one) when it is
importable. Otherwise it is the port below of that class's code path without
ftfy (tokenization_clip.py: BasicTokenizer(strip_accents=False,
do_split_on_punc=False) + CLIP's regex + byte-level BPE), which needs only the
`regex` module (Debian: python3-regex) for \\p{L} / \\p{N}. The port uses
Python's exact Unicode tables, so it checks the C tokenizer's hand-written
character classes on the texts below.
"""
import json
import os
import sys
import unicodedata

import regex as re

TEXTS = [
    "a photo of a t-shirt",
    "A photo of an ankle boot",
    "  a   DARK\tsmall\n sneaker  ",
    "a photo of a cat's toy, isn't it?",
    "they're we've I'm you'll he'd 'S",
    "route 66: 2024-01-15 at 3.14pm",
    "Hello, World! 123",
    "naïve café – déjà vu",
    "ÀÉÎÕÜ ÇÑ ŒÆ ß Ÿ",
    "Ελληνικά ΟΔΟΣ σοφία",
    "Привет, МИР",
    "東京タワー 日本語",
    "emoji 🙂👍 ok",
    "quotes “curly” ‘single’ «guillemets»",
    "x²+y³ ½ ①",
    "zero\u200bwidth soft\u00adhyphen ctl\x07bell",
    "tabs\tand\u00a0nbsp\u3000ideographic",
    "a<|endoftext|>b <|startoftext|>c",
    "a.<|endoftext|> <|ENDOFTEXT|>",
    "hello!!! ??? ... ''s '",
    "İstanbul",
    "ﬁne ligature",
    "ｆｕｌｌｗｉｄｔｈ ＡＢＣ １２３",
    "विकिपीडिया",
    "ภาษาไทย",
    "مرحبا بالعالم",
    "pneumonoultramicroscopicsilicovolcanoconiosis",
    "under_score #hash @at $100 50% a&b",
    "",
    "a photo of a photo of a photo of a photo of a photo of a photo of a cat",
]

MAX_LENGTH = 16


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(2**8):
        if b not in bs:
            bs.append(b)
            cs.append(2**8 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def get_pairs(word):
    return {(word[i], word[i + 1]) for i in range(len(word) - 1)}


def _is_whitespace(char):
    if char in " \t\n\r":
        return True
    return unicodedata.category(char) == "Zs"


def _is_control(char):
    if char in "\t\n\r":
        return False
    return unicodedata.category(char).startswith("C")


def _is_chinese_char(cp):
    return (0x4E00 <= cp <= 0x9FFF or 0x3400 <= cp <= 0x4DBF or 0x20000 <= cp <= 0x2A6DF or 0x2A700 <= cp <= 0x2B73F
            or 0x2B740 <= cp <= 0x2B81F or 0x2B820 <= cp <= 0x2CEAF or 0xF900 <= cp <= 0xFAFF or 0x2F800 <= cp <= 0x2FA1F)


def basic_tokenize(text):
    """BasicTokenizer(do_lower_case=True, strip_accents=False, do_split_on_punc=False).tokenize"""
    out = []
    for char in text:
        cp = ord(char)
        if cp == 0 or cp == 0xFFFD or _is_control(char):
            continue
        out.append(" " if _is_whitespace(char) else char)
    text = "".join(out)
    text = "".join(f" {c} " if _is_chinese_char(ord(c)) else c for c in text)
    text = unicodedata.normalize("NFC", text)
    tokens = [t.lower() for t in text.strip().split()]
    return " ".join(tokens).strip().split()


class ClipTokenizerPort:
    def __init__(self, folder):
        with open(os.path.join(folder, "vocab.json"), encoding="utf-8") as f:
            self.encoder = json.load(f)
        self.byte_encoder = bytes_to_unicode()
        with open(os.path.join(folder, "merges.txt"), encoding="utf-8") as f:
            merges = f.read().strip().split("\n")[1 : 49152 - 256 - 2 + 1]
        self.bpe_ranks = dict(zip([tuple(m.split()) for m in merges], range(len(merges))))
        self.bos, self.eos = "<|startoftext|>", "<|endoftext|>"
        self.cache = {self.bos: self.bos, self.eos: self.eos}
        self.pat = re.compile(
            r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+""",
            re.IGNORECASE)
        self.pad = self.eos
        for name in ("tokenizer_config.json", "special_tokens_map.json"):
            path = os.path.join(folder, name)
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    v = json.load(f).get("pad_token")
                if isinstance(v, dict):
                    v = v.get("content")
                if v:
                    self.pad = v

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = tuple(token[:-1]) + (token[-1] + "</w>",)
        pairs = get_pairs(word)
        if not pairs:
            return token + "</w>"
        while True:
            bigram = min(pairs, key=lambda pair: self.bpe_ranks.get(pair, float("inf")))
            if bigram not in self.bpe_ranks:
                break
            first, second = bigram
            new_word = []
            i = 0
            while i < len(word):
                try:
                    j = word.index(first, i)
                except ValueError:
                    new_word.extend(word[i:])
                    break
                else:
                    new_word.extend(word[i:j])
                    i = j
                if word[i] == first and i < len(word) - 1 and word[i + 1] == second:
                    new_word.append(first + second)
                    i += 2
                else:
                    new_word.append(word[i])
                    i += 1
            word = tuple(new_word)
            if len(word) == 1:
                break
            pairs = get_pairs(word)
        word = " ".join(word)
        self.cache[token] = word
        return word

    def _tokenize(self, text):
        bpe_tokens = []
        text = " ".join(basic_tokenize(text))
        for token in re.findall(self.pat, text):
            token = "".join(self.byte_encoder[b] for b in token.encode("utf-8"))
            bpe_tokens.extend(self.bpe(token).split(" "))
        return bpe_tokens

    def tokenize(self, text):
        # The added-token trie: split out the exact special strings first.
        pieces = re.split(r"(<\|startoftext\|>|<\|endoftext\|>)", text)
        out = []
        for p in pieces:
            out.extend([p] if p in (self.bos, self.eos) else self._tokenize(p))
        return out

    def token_ids(self, text):
        unk = self.encoder[self.eos]
        return [self.encoder.get(t, unk) for t in self.tokenize(text)]

    def __call__(self, text, max_length):
        ids = [self.encoder[self.bos]] + self.token_ids(text)[: max_length - 2] + [self.encoder[self.eos]]
        return ids + [self.encoder[self.pad]] * (max_length - len(ids))


def main():
    folder = sys.argv[1]
    try:
        from transformers import CLIPTokenizer  # noqa: F401

        tok = CLIPTokenizer.from_pretrained(folder, model_max_length=MAX_LENGTH)
        source = "transformers.CLIPTokenizer"

        def run(text):
            toks = tok(text, add_special_tokens=False).input_ids
            ids = tok(text, padding="max_length", max_length=MAX_LENGTH, truncation=True).input_ids
            return toks, ids
    except ImportError:
        tok = ClipTokenizerPort(folder)
        source = "tools/make_tokenizer_golden.py port of CLIPTokenizer (no ftfy), regex " + re.__version__

        def run(text):
            return tok.token_ids(text), tok(text, MAX_LENGTH)

    cases = []
    for text in TEXTS:
        toks, ids = run(text)
        cases.append({"text": text, "tokens": toks, "ids": ids})
    json.dump({"source": source, "unicode": unicodedata.unidata_version, "max_length": MAX_LENGTH, "cases": cases},
              sys.stdout, ensure_ascii=False, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
