// base64.h: RFC 4648 base64 (standard alphabet, '=' padding), for embedding
// PNG grids in a self-contained HTML report as data: URIs.
#pragma once
#include <stddef.h>

// Characters base64_encode writes for n bytes (without the NUL).
size_t base64_encoded_len(size_t n);
// The encoding of data[0..n), malloc'ed and NUL-terminated (never NULL).
char* base64_encode(const void* data, size_t n);
