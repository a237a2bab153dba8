// base64.c: see base64.h.
#include "util/base64.h"

#include <stdint.h>

#include "util/check.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t base64_encoded_len(size_t n) { return (n + 2) / 3 * 4; }

char* base64_encode(const void* data, size_t n) {
    const uint8_t* in = data;
    char* out = xmalloc(base64_encoded_len(n) + 1);
    char* o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = ALPHABET[v >> 18 & 63], *o++ = ALPHABET[v >> 12 & 63];
        *o++ = ALPHABET[v >> 6 & 63], *o++ = ALPHABET[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        *o++ = ALPHABET[v >> 18 & 63], *o++ = ALPHABET[v >> 12 & 63], *o++ = '=', *o++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        *o++ = ALPHABET[v >> 18 & 63], *o++ = ALPHABET[v >> 12 & 63], *o++ = ALPHABET[v >> 6 & 63], *o++ = '=';
    }
    *o = 0;
    return out;
}
