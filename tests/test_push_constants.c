// test_push_constants.c: every shader's push_constant block, read from its
// SPIR-V, against the C struct registered for it (SHADER_PUSH, gpu/kernel.h):
// member names, offsets, types and the size. No GPU needed. Names come from the
// -O0 build of each shader (g_shaders_unoptimized: -O strips them), offsets and
// types from both that and the embedded -O build the driver runs.
#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#include "gpu/kernel.h"
#include "gpu/spirv_reflect.h"

static SpirvInfo reflect_blob(const ShaderBlob* blob) {
    SpirvInfo s;
    char err[256];
    cr_assert_eq(spirv_reflect(blob->code, blob->size / sizeof *blob->code, &s, err, sizeof err), 0, "%s: %s",
                 blob->name, err);
    return s;
}

// Appends "name: message" to the report (every shader is checked before failing).
static void note(char* report, size_t cap, int* nfail, const char* name, const char* msg) {
    size_t len = strlen(report);
    snprintf(report + len, cap - len, "\n  %s: %s", name, msg);
    (*nfail)++;
}

Test(push_constants, every_shader_matches_its_c_struct) {
    char report[8192] = "", err[256];
    int nfail = 0, nblocks = 0;
    for (int id = 0; id < SHADER_COUNT; id++) {
        const char* name = g_shaders[id].name;
        SpirvInfo named = reflect_blob(&g_shaders_unoptimized[id]), run = reflect_blob(&g_shaders[id]);
        const PushLayout* l = shader_push_layout((ShaderId)id);
        nblocks += named.has_push;
        for (uint32_t i = 0; i < named.nmembers; i++)
            if (!named.members[i].name[0]) {
                snprintf(err, sizeof err, "push_constant member %u has no name in the -O0 SPIR-V", i);
                note(report, sizeof report, &nfail, name, err);
            }
        if (spirv_check_push(&named, l, err, sizeof err)) note(report, sizeof report, &nfail, name, err);
        // -O may drop an unused block entirely, never change one it keeps.
        else if (run.has_push && spirv_check_push(&run, l, err, sizeof err))
            note(report, sizeof report, &nfail, name, err);
    }
    cr_assert_eq(nfail, 0, "%d shader(s) disagree with their push structs:%s", nfail, report);
    cr_assert_gt(nblocks, 0, "no shader has a push_constant block: the reflection is broken");
}

// The checks the test above relies on, shown on copies of real structs with
// one field moved or retyped: both are caught.
#define COL_SUM_SWAPPED(X) X(uint32_t, N) X(uint32_t, R) X(uint32_t, off_x) X(uint32_t, off_y)
PUSH_STRUCT(ColSumSwapped, COL_SUM_SWAPPED)
#define FLAT_UINT_ALPHA(X) \
    X(uint32_t, n) X(uint32_t, off_in0) X(uint32_t, off_in1) X(uint32_t, off_out) X(uint32_t, alpha)
PUSH_STRUCT(FlatUintAlpha, FLAT_UINT_ALPHA)
#define FLAT_EXTRA(X) FLAT_UINT_ALPHA(X) X(float, beta)
PUSH_STRUCT(FlatExtra, FLAT_EXTRA)

Test(push_constants, a_swapped_field_is_caught_by_name) {
    char err[256] = "";
    SpirvInfo named = reflect_blob(&g_shaders_unoptimized[SHADER_COL_SUM]);
    cr_assert_eq(spirv_check_push(&named, ColSumSwapped_push_layout(), err, sizeof err), -1);
    cr_assert(strstr(err, "field 0 is N, the GLSL member is R"), "%s", err);
}

Test(push_constants, a_retyped_field_is_caught) {
    char err[256] = "";
    SpirvInfo run = reflect_blob(&g_shaders[SHADER_SCALE]);
    cr_assert_eq(spirv_check_push(&run, FlatUintAlpha_push_layout(), err, sizeof err), -1);
    cr_assert(strstr(err, "FlatUintAlpha.alpha is a uint, the GLSL member 4 a float"), "%s", err);
}

Test(push_constants, an_extra_field_or_a_missing_struct_is_caught) {
    char err[256] = "";
    SpirvInfo run = reflect_blob(&g_shaders[SHADER_ADD]);
    cr_assert_eq(spirv_check_push(&run, FlatExtra_push_layout(), err, sizeof err), -1);
    cr_assert(strstr(err, "FlatExtra has 6 fields, the push_constant block 5 members"), "%s", err);
    cr_assert_eq(spirv_check_push(&run, NULL, err, sizeof err), -1);
    cr_assert(strstr(err, "no C struct"), "%s", err);
    SpirvInfo none = {0};
    cr_assert_eq(spirv_check_push(&none, FlatExtra_push_layout(), err, sizeof err), -1);
    cr_assert_eq(spirv_check_push(&none, NULL, err, sizeof err), 0);
}

// matmul.comp as declared: 14 members (alpha the only float), texel inputs at 0,
// 1, 2 and 4, C written through two storage views of binding 3.
Test(push_constants, reflection_reads_matmul) {
    SpirvInfo s = reflect_blob(&g_shaders_unoptimized[SHADER_MATMUL]);
    cr_assert(s.has_push);
    cr_assert_eq(s.nmembers, 14);
    for (uint32_t i = 0; i < 14; i++) {
        cr_assert_eq(s.members[i].offset, 4 * i);
        cr_assert_eq(s.members[i].components, 1);
        cr_assert_eq(s.members[i].scalar, i == 10 ? PUSH_FLOAT : PUSH_UINT, "member %u", i);
    }
    cr_assert_str_eq(s.members[10].name, "alpha");
    char kinds[8] = "?????";
    for (uint32_t i = 0; i < s.nbindings; i++) {
        cr_assert_eq(s.bindings[i].set, 0);
        cr_assert_lt(s.bindings[i].binding, 5);
        char* k = &kinds[s.bindings[i].binding];
        cr_assert(*k == '?' || *k == s.bindings[i].kind, "aliases of binding %u disagree", s.bindings[i].binding);
        *k = s.bindings[i].kind;
    }
    cr_assert_str_eq(kinds, "tttst");
}

// No shader has a vector member yet: hand-assembled SPIR-V with the block
// { uint n; vec4 v; } (std430: v at offset 16) stands in for one. Only the
// instructions the reflection reads: not a module a driver would take.
static const uint32_t vec4_block[] = {
    0x07230203, 0x00010500, 0, 7, 0,  // header, id bound 7
    (3 << 16) | 71, 4, 2,             // OpDecorate %4 Block
    (5 << 16) | 72, 4, 0, 35, 0,      // OpMemberDecorate %4 0 Offset 0
    (5 << 16) | 72, 4, 1, 35, 16,     // OpMemberDecorate %4 1 Offset 16
    (4 << 16) | 6, 4, 1, 'v',         // OpMemberName %4 1 "v"
    (3 << 16) | 22, 1, 32,            // %1 = OpTypeFloat 32
    (4 << 16) | 23, 2, 1, 4,          // %2 = OpTypeVector %1 4
    (4 << 16) | 21, 3, 32, 0,         // %3 = OpTypeInt 32 unsigned
    (4 << 16) | 30, 4, 3, 2,          // %4 = OpTypeStruct %3 %2
    (4 << 16) | 32, 5, 9, 4,          // %5 = OpTypePointer PushConstant %4
    (4 << 16) | 59, 5, 6, 9,          // %6 = OpVariable %5 PushConstant
};
#define VEC4_PUSH(X) X(uint32_t, n) X(PushVec4, v)
PUSH_STRUCT(Vec4Push, VEC4_PUSH)
#define UVEC4_PUSH(X) X(uint32_t, n) X(PushUvec4, v)
PUSH_STRUCT(Uvec4Push, UVEC4_PUSH)

Test(push_constants, vector_members) {
    char err[256] = "";
    SpirvInfo s;
    cr_assert_eq(spirv_reflect(vec4_block, sizeof vec4_block / 4, &s, err, sizeof err), 0, "%s", err);
    cr_assert(s.has_push);
    cr_assert_eq(s.nmembers, 2);
    cr_assert_eq(s.members[1].offset, 16);
    cr_assert_eq(s.members[1].components, 4);
    cr_assert_eq(s.members[1].scalar, PUSH_FLOAT);
    cr_assert_str_eq(s.members[1].name, "v");
    cr_assert_eq(s.nbindings, 0);
    cr_assert_eq(spirv_check_push(&s, Vec4Push_push_layout(), err, sizeof err), 0, "%s", err);
    cr_assert_eq(spirv_check_push(&s, Uvec4Push_push_layout(), err, sizeof err), -1);
    cr_assert(strstr(err, "Uvec4Push.v is a uvec4, the GLSL member 1 a vec4"), "%s", err);
}

Test(push_constants, reflection_rejects_what_is_not_spirv) {
    char err[256] = "";
    SpirvInfo s;
    const uint32_t junk[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    cr_assert_eq(spirv_reflect(junk, 8, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "not SPIR-V"), "%s", err);
    // Cut inside an instruction: the word count of the last one runs past the end.
    const ShaderBlob* b = &g_shaders[SHADER_ADD];
    size_t n = b->size / sizeof *b->code;
    size_t cut = 5;
    while (cut < n / 2 || (b->code[cut] >> 16) < 2) cut += b->code[cut] >> 16;
    cr_assert_eq(spirv_reflect(b->code, cut + 1, &s, err, sizeof err), -1);
    cr_assert(strstr(err, "truncated"), "%s", err);
}
