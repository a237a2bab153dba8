// pipeline.c: pipeline creation from the embedded SPIR-V and a linear-search
// cache (a few hundred entries at most; lookups happen at record time only).
#include "gpu/pipeline.h"

#include <string.h>

#include "util/check.h"

uint32_t spec_float(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static bool same_key(const Pipeline* p, ShaderId id, const char* kinds, uint32_t push_size, const uint32_t* spec,
                     uint32_t nspec) {
    return p->shader == id && p->nspec == nspec && p->push_size == push_size && strcmp(p->kinds, kinds) == 0 &&
           memcmp(p->spec, spec, nspec * sizeof *spec) == 0;
}

static Pipeline* pipeline_create(GpuContext* g, ShaderId id, const char* kinds, uint32_t push_size,
                                 const uint32_t* spec, uint32_t nspec) {
    const ShaderBlob* blob = &g_shaders[id];
    uint32_t nb = (uint32_t)strlen(kinds);
    if (nb > PIPELINE_MAX_BINDINGS) die("shader %s: %u bindings (max %d)", blob->name, nb, PIPELINE_MAX_BINDINGS);
    if (nspec < 3 || nspec > PIPELINE_MAX_SPEC)
        die("shader %s: %u specialization constants (3 to %d)", blob->name, nspec, PIPELINE_MAX_SPEC);
    if (push_size > g->props.limits.maxPushConstantsSize)
        die("shader %s: push constants of %u bytes exceed the device limit %u", blob->name, push_size,
            g->props.limits.maxPushConstantsSize);
    uint32_t invocations = spec[0] * spec[1] * spec[2];
    if (invocations == 0 || invocations > g->props.limits.maxComputeWorkGroupInvocations)
        die("shader %s: workgroup %ux%ux%u exceeds the device limit of %u invocations", blob->name, spec[0], spec[1],
            spec[2], g->props.limits.maxComputeWorkGroupInvocations);

    Pipeline* p = xcalloc(1, sizeof *p);
    p->shader = id;
    strcpy(p->kinds, kinds);
    p->nspec = nspec;
    memcpy(p->spec, spec, nspec * sizeof *spec);
    p->nbindings = nb;
    p->push_size = push_size;
    memcpy(p->local, spec, sizeof p->local);

    VkDescriptorSetLayoutBinding b[PIPELINE_MAX_BINDINGS];
    for (uint32_t i = 0; i < nb; i++) {
        if (kinds[i] != 's' && kinds[i] != 't') die("shader %s: binding kind '%c' is not 's' or 't'", blob->name, kinds[i]);
        b[i] = (VkDescriptorSetLayoutBinding){
            .binding = i, .descriptorCount = 1, .stageFlags = VK_SHADER_STAGE_COMPUTE_BIT,
            .descriptorType = kinds[i] == 's' ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER};
    }
    VkDescriptorSetLayoutCreateInfo dl = {.sType = VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO,
                                          .flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR,
                                          .bindingCount = nb, .pBindings = b};
    VK_CHECK(vkCreateDescriptorSetLayout(g->device, &dl, NULL, &p->set_layout));
    VkPushConstantRange pr = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .offset = 0, .size = push_size};
    VkPipelineLayoutCreateInfo li = {.sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO, .setLayoutCount = 1,
                                     .pSetLayouts = &p->set_layout, .pushConstantRangeCount = push_size ? 1 : 0,
                                     .pPushConstantRanges = &pr};
    VK_CHECK(vkCreatePipelineLayout(g->device, &li, NULL, &p->layout));

    VkShaderModuleCreateInfo mi = {.sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO, .codeSize = blob->size,
                                   .pCode = blob->code};
    VkShaderModule module;
    VK_CHECK(vkCreateShaderModule(g->device, &mi, NULL, &module));
    VkSpecializationMapEntry map[PIPELINE_MAX_SPEC];
    for (uint32_t i = 0; i < nspec; i++)
        map[i] = (VkSpecializationMapEntry){.constantID = i, .offset = i * 4, .size = 4};
    VkSpecializationInfo si = {.mapEntryCount = nspec, .pMapEntries = map, .dataSize = nspec * 4, .pData = spec};
    VkComputePipelineCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
        .stage = {.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO, .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                  .module = module, .pName = "main", .pSpecializationInfo = &si},
        .layout = p->layout};
    VK_CHECK(vkCreateComputePipelines(g->device, VK_NULL_HANDLE, 1, &ci, NULL, &p->pipeline));
    vkDestroyShaderModule(g->device, module, NULL);
    return p;
}

const Pipeline* pipeline_get(GpuContext* g, ShaderId id, const char* kinds, uint32_t push_size, const uint32_t* spec,
                             uint32_t nspec) {
    for (int i = 0; i < g->npipes; i++)
        if (same_key(g->pipes[i], id, kinds, push_size, spec, nspec)) return g->pipes[i];
    if (g->npipes == g->cap_pipes) {
        g->cap_pipes = g->cap_pipes ? 2 * g->cap_pipes : 64;
        g->pipes = xrealloc(g->pipes, (size_t)g->cap_pipes * sizeof *g->pipes);
    }
    Pipeline* p = pipeline_create(g, id, kinds, push_size, spec, nspec);
    g->pipes[g->npipes++] = p;
    return p;
}

void pipeline_cache_free(GpuContext* g) {
    for (int i = 0; i < g->npipes; i++) {
        Pipeline* p = g->pipes[i];
        vkDestroyPipeline(g->device, p->pipeline, NULL);
        vkDestroyPipelineLayout(g->device, p->layout, NULL);
        vkDestroyDescriptorSetLayout(g->device, p->set_layout, NULL);
        free(p);
    }
    free(g->pipes);
    g->pipes = NULL;
    g->npipes = g->cap_pipes = 0;
}
