// unet_config.c: parse and check a diffusers UNet2DConditionModel config.json.
#include "model/unet_config.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/json_fields.h"

// Keys whose only supported value is diffusers' default: anything else is an error.
static void require_default_str(JsonFields* p, const char* key, const char* def) {
    const char* v = json_str(p, key, def);
    if (v != def && strcmp(v, def) != 0) json_fail(p, key, "\"%s\" is not supported (only \"%s\")", v, def);
}
static void require_null(JsonFields* p, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(p->root, key);
    if (v && !cJSON_IsNull(v)) json_fail(p, key, "only null is supported");
}
static void require_false(JsonFields* p, const char* key) {
    if (json_bool(p, key, false)) json_fail(p, key, "only false is supported");
}

// One integer of a list, in [lo, hi] (0 and a failure otherwise).
static int list_int(JsonFields* p, const char* key, const cJSON* v, int i, int lo, int hi) {
    int x;
    if (!json_to_int(v, lo, hi, &x)) {
        json_fail(p, key, "entry %d: expected an integer from %d to %d", i, lo, hi);
        return 0;
    }
    return x;
}

// An int or a list of nblocks ints (attention_head_dim, transformer_layers_per_block), each in [lo, hi].
static void get_int_or_list(JsonFields* p, const char* key, int* out, int n, int def, int lo, int hi) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(p->root, key);
    for (int i = 0; i < n; i++) out[i] = def;
    if (!v || cJSON_IsNull(v)) return;
    if (cJSON_IsNumber(v)) {
        int x = json_int_in(p, key, def, lo, hi);
        for (int i = 0; i < n; i++) out[i] = x;
        return;
    }
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n) {
        json_fail(p, key, "expected an integer or a list of %d integers", n);
        return;
    }
    for (int i = 0; i < n; i++) out[i] = list_int(p, key, cJSON_GetArrayItem(v, i), i, lo, hi);
}

static void get_block_types(JsonFields* p, const char* key, BlockType* out, int n, const char* plain, const char* cross) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(p->root, key);
    if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) != n) {
        json_fail(p, key, "expected a list of %d block types (one per block_out_channels entry)", n);
        return;
    }
    for (int i = 0; i < n; i++) {
        const cJSON* t = cJSON_GetArrayItem(v, i);
        if (cJSON_IsString(t) && !strcmp(t->valuestring, plain)) out[i] = BLOCK_PLAIN;
        else if (cJSON_IsString(t) && !strcmp(t->valuestring, cross)) out[i] = BLOCK_CROSS_ATTN;
        else json_fail(p, key, "entry %d: %s is not supported (only %s, %s)", i, cJSON_IsString(t) ? t->valuestring : "?", plain, cross);
    }
}

int unet_config_parse(UNetConfig* c, const char* text, const char* source, char* err, size_t errlen) {
    memset(c, 0, sizeof *c);
    cJSON* root = json_parse_object(text, source, err, errlen);
    if (!root) return -1;
    JsonFields p = {root, source, err, errlen, 0};
    // Every size is read with its range first: later checks divide by them, and
    // the bounds keep every tensor's element count far from int overflow.
    const cJSON* boc = cJSON_GetObjectItemCaseSensitive(root, "block_out_channels");
    if (!cJSON_IsArray(boc) || cJSON_GetArraySize(boc) < 1 || cJSON_GetArraySize(boc) > UNET_MAX_BLOCKS)
        json_fail(&p, "block_out_channels", "expected a list of 1 to %d integers", UNET_MAX_BLOCKS);
    else {
        c->nblocks = cJSON_GetArraySize(boc);
        for (int i = 0; i < c->nblocks; i++)
            c->block_out_channels[i] = list_int(&p, "block_out_channels", cJSON_GetArrayItem(boc, i), i, 1, UNET_MAX_CHANNELS);
    }
    c->sample_size = json_int_in(&p, "sample_size", 32, 1, UNET_MAX_SAMPLE_SIZE);
    c->in_channels = json_int_in(&p, "in_channels", 4, 1, UNET_MAX_IO_CHANNELS);
    c->out_channels = json_int_in(&p, "out_channels", 4, 1, UNET_MAX_IO_CHANNELS);
    c->layers_per_block = json_int_in(&p, "layers_per_block", 2, 1, UNET_MAX_LAYERS_PER_BLOCK);
    c->cross_attention_dim = json_int_in(&p, "cross_attention_dim", 1280, 1, UNET_MAX_CHANNELS);
    c->norm_num_groups = json_int_in(&p, "norm_num_groups", 32, 1, UNET_MAX_CHANNELS);
    c->norm_eps = (float)json_num_in(&p, "norm_eps", 1e-5, 1e-12, 1);
    c->flip_sin_to_cos = json_bool(&p, "flip_sin_to_cos", true);
    c->freq_shift = (float)json_num_in(&p, "freq_shift", 0, 0, 1);
    c->use_linear_projection = json_bool(&p, "use_linear_projection", false);
    if (c->nblocks) {
        get_block_types(&p, "down_block_types", c->down, c->nblocks, "DownBlock2D", "CrossAttnDownBlock2D");
        get_block_types(&p, "up_block_types", c->up, c->nblocks, "UpBlock2D", "CrossAttnUpBlock2D");
        // diffusers quirk: attention_head_dim is the number of heads unless num_attention_heads is set.
        const cJSON* nah = cJSON_GetObjectItemCaseSensitive(root, "num_attention_heads");
        get_int_or_list(&p, nah && !cJSON_IsNull(nah) ? "num_attention_heads" : "attention_head_dim", c->heads,
                        c->nblocks, 8, 1, UNET_MAX_CHANNELS);
        int tl[UNET_MAX_BLOCKS];
        get_int_or_list(&p, "transformer_layers_per_block", tl, c->nblocks, 1, 1, 1);
        for (int i = 0; i < c->nblocks; i++)
            if (tl[i] != 1) json_fail(&p, "transformer_layers_per_block", "only 1 is supported");
    }
    require_default_str(&p, "mid_block_type", "UNetMidBlock2DCrossAttn");
    require_default_str(&p, "act_fn", "silu");
    require_default_str(&p, "resnet_time_scale_shift", "default");
    require_default_str(&p, "time_embedding_type", "positional");
    require_false(&p, "center_input_sample");
    require_false(&p, "only_cross_attention");
    require_false(&p, "dual_cross_attention");
    require_false(&p, "upcast_attention");
    require_null(&p, "class_embed_type");
    require_null(&p, "addition_embed_type");
    require_null(&p, "encoder_hid_dim");
    require_null(&p, "time_cond_proj_dim");
    if (json_int(&p, "downsample_padding", 1, false) != 1) json_fail(&p, "downsample_padding", "only 1 is supported");
    if (json_num(&p, "mid_block_scale_factor", 1) != 1) json_fail(&p, "mid_block_scale_factor", "only 1 is supported");
    if (json_int(&p, "conv_in_kernel", 3, false) != 3) json_fail(&p, "conv_in_kernel", "only 3 is supported");
    if (json_int(&p, "conv_out_kernel", 3, false) != 3) json_fail(&p, "conv_out_kernel", "only 3 is supported");

    // Consistency of the values themselves.
    for (int i = 0; i < c->nblocks && !p.failed; i++) {
        int ch = c->block_out_channels[i];
        if (ch <= 0 || ch % c->norm_num_groups) json_fail(&p, "block_out_channels", "%d is not a positive multiple of norm_num_groups %d", ch, c->norm_num_groups);
        else if (c->heads[i] <= 0 || ch % c->heads[i]) json_fail(&p, "attention_head_dim", "%d heads do not divide %d channels", c->heads[i], ch);
    }
    if (!p.failed && c->block_out_channels[0] % 2) json_fail(&p, "block_out_channels", "the first entry must be even (timestep embedding)");
    if (!p.failed && c->sample_size % (1 << (c->nblocks - 1))) json_fail(&p, "sample_size", "%d is not divisible by 2^%d", c->sample_size, c->nblocks - 1);
    for (int i = 0; i < c->nblocks && !p.failed; i++) {
        int64_t side = c->sample_size >> i;  // block i works at sample_size / 2^i
        if (side * side * c->block_out_channels[i] > UNET_MAX_FEATURE_MAP)
            json_fail(&p, "block_out_channels", "entry %d: %d channels at %" PRId64 "x%" PRId64 " exceed %d values per image",
                      i, c->block_out_channels[i], side, side, UNET_MAX_FEATURE_MAP);
    }
    cJSON_Delete(root);
    return p.failed ? -1 : 0;
}

int unet_config_load(UNetConfig* c, const char* path, char* err, size_t errlen) {
    char* text = json_read_file(path, err, errlen);
    if (!text) return -1;
    int r = unet_config_parse(c, text, path, err, errlen);
    free(text);
    return r;
}

int unet_time_embed_dim(const UNetConfig* c) { return 4 * c->block_out_channels[0]; }

char* unet_config_to_json(const UNetConfig* c) {
    cJSON* o = cJSON_CreateObject();
    cJSON_AddStringToObject(o, "_class_name", "UNet2DConditionModel");
    cJSON_AddStringToObject(o, "_diffusers_version", "0.21.0");
    cJSON_AddNumberToObject(o, "sample_size", c->sample_size);
    cJSON_AddNumberToObject(o, "in_channels", c->in_channels);
    cJSON_AddNumberToObject(o, "out_channels", c->out_channels);
    cJSON_AddItemToObject(o, "block_out_channels", cJSON_CreateIntArray(c->block_out_channels, c->nblocks));
    cJSON_AddNumberToObject(o, "layers_per_block", c->layers_per_block);
    cJSON* down = cJSON_AddArrayToObject(o, "down_block_types");
    cJSON* up = cJSON_AddArrayToObject(o, "up_block_types");
    for (int i = 0; i < c->nblocks; i++) {
        cJSON_AddItemToArray(down, cJSON_CreateString(c->down[i] == BLOCK_CROSS_ATTN ? "CrossAttnDownBlock2D" : "DownBlock2D"));
        cJSON_AddItemToArray(up, cJSON_CreateString(c->up[i] == BLOCK_CROSS_ATTN ? "CrossAttnUpBlock2D" : "UpBlock2D"));
    }
    cJSON_AddStringToObject(o, "mid_block_type", "UNetMidBlock2DCrossAttn");
    cJSON_AddItemToObject(o, "attention_head_dim", cJSON_CreateIntArray(c->heads, c->nblocks));
    cJSON_AddNumberToObject(o, "cross_attention_dim", c->cross_attention_dim);
    cJSON_AddNumberToObject(o, "norm_num_groups", c->norm_num_groups);
    cJSON_AddNumberToObject(o, "norm_eps", c->norm_eps);
    cJSON_AddBoolToObject(o, "flip_sin_to_cos", c->flip_sin_to_cos);
    cJSON_AddNumberToObject(o, "freq_shift", c->freq_shift);
    cJSON_AddBoolToObject(o, "use_linear_projection", c->use_linear_projection);
    cJSON_AddStringToObject(o, "act_fn", "silu");
    cJSON_AddNumberToObject(o, "transformer_layers_per_block", 1);
    cJSON_AddBoolToObject(o, "center_input_sample", false);
    char* s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}
