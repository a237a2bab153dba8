// spirv_reflect.h: what vkpref reads back from a shader's SPIR-V words: the
// push_constant block's members and the descriptor bindings. Enough of the
// format for the shaders glslc makes (kernel.h says what is checked with it).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gpu/kernel.h"

#define SPIRV_MAX_MEMBERS 32
#define SPIRV_MAX_BINDINGS 32
#define SPIRV_MAX_NAME 48

typedef struct SpirvMember {
    char name[SPIRV_MAX_NAME];  // "" where the SPIR-V has no names (glslc -O strips them)
    uint32_t offset;
    PushScalar scalar;
    uint32_t components;        // 1 for a scalar
} SpirvMember;

typedef struct SpirvBinding {
    uint32_t set, binding;
    char kind;  // 's' storage buffer, 't' uniform texel buffer, '?' anything else
} SpirvBinding;

typedef struct SpirvInfo {
    bool has_push;  // a PushConstant variable (of a Block-decorated struct)
    uint32_t nmembers;
    SpirvMember members[SPIRV_MAX_MEMBERS];
    uint32_t nbindings;                         // one per variable: aliases repeat a binding
    SpirvBinding bindings[SPIRV_MAX_BINDINGS];
} SpirvInfo;

// Returns 0, or -1 with a message in err: not SPIR-V, truncated, or a push
// constant member that is not a 32-bit int, uint or float scalar or vector.
int spirv_reflect(const uint32_t* words, size_t nwords, SpirvInfo* out, char* err, size_t errlen);

// Compares the push_constant block of s with the C struct l (NULL: none):
// member count, offsets, types, the size, and the names where s has them.
// Returns 0, or -1 with the first difference in err.
int spirv_check_push(const SpirvInfo* s, const PushLayout* l, char* err, size_t errlen);
