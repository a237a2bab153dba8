// kernel.h: how to add a kernel. Each fact about a GPU kernel is written once:
//
//   shaders/<name>.comp   the GLSL: bindings, the push_constant block,
//                         specialization constants (conventions: pipeline.h).
//                         CMake compiles it and generates SHADER_<NAME>.
//   PUSH_STRUCT(S, LIST)  the C mirror of the push_constant block, next to the
//                         op that fills it: LIST names each member with the
//                         GLSL member's name and type, in the block's order.
//   SHADER_PUSH(name, S)  which struct shaders/<name>.comp takes, once per
//                         shader, next to its dispatch (SHADER_NO_PUSH when it
//                         has no block). A shader without either does not link.
//   cmd_dispatch(...)     at record time: the specialization constants, the
//                         Bind array (binding i of the shader; the pipeline's
//                         binding kinds come from it) and the push struct.
//
// Checks: tests/test_push_constants.c compares every shader's push_constant
// block in its SPIR-V (member names, offsets, types) with its PUSH_STRUCT;
// pipeline creation compares the binding kinds of the Bind array with the
// bindings the SPIR-V declares, and the struct's offsets and types with the
// block (gpu/spirv_reflect.h); cmd_dispatch checks the size of the struct it
// is given. For a shaders/negate.comp with
// `layout(push_constant) uniform P { uint n, off_x; float alpha; } p;`:
//
//   #define NEGATE_PUSH(X) X(uint32_t, n) X(uint32_t, off_x) X(float, alpha)
//   PUSH_STRUCT(NegatePush, NEGATE_PUSH)  // typedef struct NegatePush {...} NegatePush;
//   SHADER_PUSH(negate, NegatePush)
//   ...
//   NegatePush push = {n, ox.off, alpha};
//   Bind b[] = {bind_tex(&ox.view, 1), bind_w(&oy.view)};
//   cmd_dispatch(c, SHADER_NEGATE, (uint32_t[]){wg, 1, 1}, 3, b, 2, &push, sizeof push, gx, 1, 1);
#pragma once
#include <stddef.h>
#include <stdint.h>

#include "shaders_gen.h"

typedef enum { PUSH_UINT, PUSH_INT, PUSH_FLOAT } PushScalar;

// GLSL vectors in push constants, aligned as std430 lays them out (vec3 has no
// C equivalent: a scalar after it would share its 16 bytes).
typedef struct { _Alignas(8) float v[2]; } PushVec2;
typedef struct { _Alignas(16) float v[4]; } PushVec4;
typedef struct { _Alignas(8) uint32_t v[2]; } PushUvec2;
typedef struct { _Alignas(16) uint32_t v[4]; } PushUvec4;
typedef struct { _Alignas(8) int32_t v[2]; } PushIvec2;
typedef struct { _Alignas(16) int32_t v[4]; } PushIvec4;

typedef struct PushField {
    const char* name;
    uint32_t offset;
    PushScalar scalar;
    uint32_t components;  // 1 for a scalar
} PushField;

typedef struct PushLayout {
    const char* name;  // the C struct's
    uint32_t size;     // sizeof
    uint32_t nfields;
    const PushField* fields;
} PushLayout;

#define PUSH_SCALAR_OF_(type)                                                                                    \
    _Generic(*(type*)0, uint32_t: PUSH_UINT, int32_t: PUSH_INT, float: PUSH_FLOAT, PushVec2: PUSH_FLOAT,        \
             PushVec4: PUSH_FLOAT, PushUvec2: PUSH_UINT, PushUvec4: PUSH_UINT, PushIvec2: PUSH_INT,              \
             PushIvec4: PUSH_INT)
#define PUSH_MEMBER_(type, name) type name;
#define PUSH_FIELD_(type, name) {#name, offsetof(PushSelf_, name), PUSH_SCALAR_OF_(type), sizeof(type) / 4},

// typedef struct S { members of LIST } S; and S_push_layout(), its description.
// LIST(X) is X(type, name) per member; type: uint32_t, int32_t, float or a Push*vec*.
#define PUSH_STRUCT(S, LIST)                                                                        \
    typedef struct S { LIST(PUSH_MEMBER_) } S;                                                      \
    static inline const PushLayout* S##_push_layout(void) {                                         \
        typedef S PushSelf_;                                                                        \
        static const PushField fields[] = {LIST(PUSH_FIELD_)};                                      \
        static const PushLayout layout = {#S, sizeof(S), sizeof fields / sizeof *fields, fields};   \
        return &layout;                                                                             \
    }

// Registers struct S as the push constants of shaders/<name>.comp.
#define SHADER_PUSH(name, S)                            \
    const PushLayout* shader_push_##name(void);         \
    const PushLayout* shader_push_##name(void) { return S##_push_layout(); }
#define SHADER_NO_PUSH(name)                            \
    const PushLayout* shader_push_##name(void);         \
    const PushLayout* shader_push_##name(void) { return NULL; }

// The struct registered for a shader; NULL for SHADER_NO_PUSH (generated from
// the shader list, see CMakeLists.txt).
const PushLayout* shader_push_layout(ShaderId id);
