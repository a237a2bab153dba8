// spirv_reflect.c: see spirv_reflect.h. Two passes over the instructions: the
// first finds where each type and variable is defined and the decorations of
// variables, the second reads the members of the push_constant struct.
#include "gpu/spirv_reflect.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"

#define SPIRV_MAGIC 0x07230203u
#define SPIRV_HEADER_WORDS 5

// Opcodes, decorations and storage classes of the SPIR-V specification.
enum {
    OP_MEMBER_NAME = 6,
    OP_TYPE_INT = 21,
    OP_TYPE_FLOAT = 22,
    OP_TYPE_VECTOR = 23,
    OP_TYPE_IMAGE = 25,
    OP_TYPE_SAMPLED_IMAGE = 27,
    OP_TYPE_STRUCT = 30,
    OP_TYPE_POINTER = 32,
    OP_VARIABLE = 59,
    OP_DECORATE = 71,
    OP_MEMBER_DECORATE = 72,
};
enum { DEC_BLOCK = 2, DEC_BUFFER_BLOCK = 3, DEC_BINDING = 33, DEC_DESCRIPTOR_SET = 34, DEC_OFFSET = 35 };
enum { SC_UNIFORM_CONSTANT = 0, SC_UNIFORM = 2, SC_PUSH_CONSTANT = 9, SC_STORAGE_BUFFER = 12 };
enum { DIM_BUFFER = 5 };

// Per result id: where it is defined (0: not a type or variable) and its decorations.
typedef struct Id {
    uint32_t def;  // word index of the defining instruction
    uint32_t set, binding;
    bool has_binding, block, buffer_block;
} Id;

typedef struct Module {
    const uint32_t* w;
    size_t n;
    uint32_t bound;
    Id* ids;
} Module;

// Operand k (1 = the word after the opcode) of the instruction defining id, or 0.
static uint32_t def_operand(const Module* m, uint32_t id, uint32_t k) {
    if (id >= m->bound || !m->ids[id].def) return 0;
    uint32_t at = m->ids[id].def;
    return k < (m->w[at] >> 16) ? m->w[at + k] : 0;
}

static uint32_t def_opcode(const Module* m, uint32_t id) {
    return id < m->bound && m->ids[id].def ? m->w[m->ids[id].def] & 0xffff : 0;
}

// A literal string: bytes in order, low byte first in each word, NUL-terminated.
static void copy_string(const uint32_t* w, uint32_t nwords, char* out, size_t cap) {
    size_t k = 0;
    for (; k + 1 < cap && k < 4 * (size_t)nwords; k++) {
        char ch = (char)(w[k / 4] >> (8 * (k % 4)) & 0xff);
        if (!ch) break;
        out[k] = ch;
    }
    out[k] = 0;
}

static int member_type(const Module* m, uint32_t type, SpirvMember* mem, uint32_t index, char* err, size_t errlen) {
    mem->components = 1;
    if (def_opcode(m, type) == OP_TYPE_VECTOR) {
        mem->components = def_operand(m, type, 3);
        type = def_operand(m, type, 2);
    }
    uint32_t op = def_opcode(m, type), width = def_operand(m, type, 2);
    if (op == OP_TYPE_INT && width == 32) mem->scalar = def_operand(m, type, 3) ? PUSH_INT : PUSH_UINT;
    else if (op == OP_TYPE_FLOAT && width == 32) mem->scalar = PUSH_FLOAT;
    else
        return fail(err, errlen, "push_constant member %u: not a 32-bit int, uint or float scalar or vector "
                    "(type opcode %u)", index, op);
    if (mem->components < 1 || mem->components > 4)
        return fail(err, errlen, "push_constant member %u: a vector of %u components", index, mem->components);
    return 0;
}

// 's' storage buffer, 't' uniform texel buffer, '?' any other descriptor.
static char binding_kind(const Module* m, uint32_t storage, uint32_t pointee) {
    if (storage == SC_STORAGE_BUFFER) return 's';
    if (storage == SC_UNIFORM && pointee < m->bound && m->ids[pointee].buffer_block) return 's';
    if (storage == SC_UNIFORM_CONSTANT && def_opcode(m, pointee) == OP_TYPE_SAMPLED_IMAGE) {
        uint32_t image = def_operand(m, pointee, 2);
        // OpTypeImage result, sampled type, Dim, Depth, Arrayed, MS, Sampled (1: with a sampler)
        if (def_opcode(m, image) == OP_TYPE_IMAGE && def_operand(m, image, 3) == DIM_BUFFER &&
            def_operand(m, image, 7) == 1)
            return 't';
    }
    return '?';
}

static int reflect(Module* m, SpirvInfo* out, char* err, size_t errlen) {
    uint32_t push_struct = 0;
    // Pass 1: definitions and decorations.
    for (size_t at = SPIRV_HEADER_WORDS; at < m->n;) {
        uint32_t op = m->w[at] & 0xffff, wc = m->w[at] >> 16;
        if (wc == 0 || at + wc > m->n) return fail(err, errlen, "truncated instruction at word %zu", at);
        const uint32_t* a = &m->w[at + 1];  // operands
        bool type = op >= OP_TYPE_INT && op <= OP_TYPE_POINTER;
        uint32_t result = type ? (wc > 1 ? a[0] : 0) : op == OP_VARIABLE && wc > 3 ? a[1] : 0;
        if (result && result < m->bound) m->ids[result].def = (uint32_t)at;
        if (op == OP_DECORATE && wc >= 3 && a[0] < m->bound) {
            Id* id = &m->ids[a[0]];
            if (a[1] == DEC_BLOCK) id->block = true;
            if (a[1] == DEC_BUFFER_BLOCK) id->buffer_block = true;
            if (a[1] == DEC_BINDING && wc >= 4) id->binding = a[2], id->has_binding = true;
            if (a[1] == DEC_DESCRIPTOR_SET && wc >= 4) id->set = a[2];
        }
        at += wc;
    }
    // Variables: the push_constant block and the descriptors.
    for (uint32_t v = 1; v < m->bound; v++) {
        if (def_opcode(m, v) != OP_VARIABLE) continue;
        uint32_t ptr = def_operand(m, v, 1), storage = def_operand(m, v, 3), pointee = def_operand(m, ptr, 3);
        if (def_opcode(m, ptr) != OP_TYPE_POINTER) return fail(err, errlen, "variable %%%u: no pointer type", v);
        if (storage == SC_PUSH_CONSTANT) {
            if (push_struct) return fail(err, errlen, "two push_constant variables");
            if (def_opcode(m, pointee) != OP_TYPE_STRUCT || !m->ids[pointee].block)
                return fail(err, errlen, "the push_constant variable is not a Block-decorated struct");
            push_struct = pointee;
        } else if (m->ids[v].has_binding) {
            if (out->nbindings == SPIRV_MAX_BINDINGS)
                return fail(err, errlen, "more than %d descriptors", SPIRV_MAX_BINDINGS);
            out->bindings[out->nbindings++] =
                (SpirvBinding){m->ids[v].set, m->ids[v].binding, binding_kind(m, storage, pointee)};
        }
    }
    if (!push_struct) return 0;
    out->has_push = true;
    uint32_t nm = (m->w[m->ids[push_struct].def] >> 16) - 2;
    if (nm > SPIRV_MAX_MEMBERS)
        return fail(err, errlen, "push_constant block of %u members (max %d)", nm, SPIRV_MAX_MEMBERS);
    out->nmembers = nm;
    for (uint32_t i = 0; i < nm; i++)
        if (member_type(m, def_operand(m, push_struct, 2 + i), &out->members[i], i, err, errlen)) return -1;
    // Pass 2: the struct's member offsets and names.
    bool has_offset[SPIRV_MAX_MEMBERS] = {0};
    for (size_t at = SPIRV_HEADER_WORDS; at < m->n; at += m->w[at] >> 16) {
        uint32_t op = m->w[at] & 0xffff, wc = m->w[at] >> 16;
        const uint32_t* a = &m->w[at + 1];
        if (wc < 4 || a[0] != push_struct || a[1] >= nm) continue;
        if (op == OP_MEMBER_DECORATE && a[2] == DEC_OFFSET && wc >= 5)
            out->members[a[1]].offset = a[3], has_offset[a[1]] = true;
        if (op == OP_MEMBER_NAME) copy_string(&a[2], wc - 3, out->members[a[1]].name, SPIRV_MAX_NAME);
    }
    for (uint32_t i = 0; i < nm; i++)
        if (!has_offset[i]) return fail(err, errlen, "push_constant member %u has no Offset", i);
    return 0;
}

int spirv_reflect(const uint32_t* words, size_t nwords, SpirvInfo* out, char* err, size_t errlen) {
    memset(out, 0, sizeof *out);
    if (nwords < SPIRV_HEADER_WORDS || words[0] != SPIRV_MAGIC) return fail(err, errlen, "not SPIR-V");
    Module m = {.w = words, .n = nwords, .bound = words[3]};
    if (m.bound == 0 || m.bound > (1u << 22)) return fail(err, errlen, "id bound %u out of range", m.bound);
    m.ids = xcalloc(m.bound, sizeof *m.ids);
    int r = reflect(&m, out, err, errlen);
    free(m.ids);
    return r;
}

static const char* type_name(PushScalar s, uint32_t components, char* buf, size_t cap) {
    static const char* const scalar[] = {"uint", "int", "float"}, *const vec[] = {"uvec", "ivec", "vec"};
    if (components == 1) snprintf(buf, cap, "%s", scalar[s]);
    else snprintf(buf, cap, "%s%u", vec[s], components);
    return buf;
}

int spirv_check_push(const SpirvInfo* s, const PushLayout* l, char* err, size_t errlen) {
    if (!s->has_push)
        return l ? fail(err, errlen, "%s is registered, the shader has no push_constant block", l->name) : 0;
    if (!l) return fail(err, errlen, "the shader has a push_constant block and no C struct (SHADER_PUSH)");
    if (s->nmembers != l->nfields)
        return fail(err, errlen, "%s has %u fields, the push_constant block %u members", l->name, l->nfields,
                    s->nmembers);
    uint32_t end = 0;
    for (uint32_t i = 0; i < s->nmembers; i++) {
        const SpirvMember* m = &s->members[i];
        const PushField* f = &l->fields[i];
        char a[16], b[16];
        if (m->name[0] && strcmp(m->name, f->name))
            return fail(err, errlen, "%s field %u is %s, the GLSL member is %s", l->name, i, f->name, m->name);
        if (m->offset != f->offset)
            return fail(err, errlen, "%s.%s is at offset %u, the GLSL member %u at %u", l->name, f->name, f->offset, i,
                        m->offset);
        if (m->scalar != f->scalar || m->components != f->components)
            return fail(err, errlen, "%s.%s is a %s, the GLSL member %u a %s", l->name, f->name,
                        type_name(f->scalar, f->components, a, sizeof a), i,
                        type_name(m->scalar, m->components, b, sizeof b));
        if (m->offset + 4 * m->components > end) end = m->offset + 4 * m->components;
    }
    if (l->size != end) return fail(err, errlen, "%s is %u bytes, the push_constant block %u", l->name, l->size, end);
    return 0;
}
