// clip.c: see clip.h.
#include "model/clip.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"
#include "util/json_fields.h"

int clip_config_parse(ClipConfig* c, const char* text, const char* source, char* err, size_t errlen) {
    memset(c, 0, sizeof *c);
    cJSON* root = json_parse_object(text, source, err, errlen);
    if (!root) return -1;
    JsonFields f = {root, source, err, errlen, 0};
    // Ranges first: the checks below divide by these, and the bounds keep every
    // tensor's element count far from int overflow.
    c->vocab_size = json_int_in(&f, "vocab_size", 49408, 1, CLIP_MAX_VOCAB);
    c->hidden_size = json_int_in(&f, "hidden_size", 512, 1, CLIP_MAX_HIDDEN);
    c->intermediate_size = json_int_in(&f, "intermediate_size", 2048, 1, 4 * CLIP_MAX_HIDDEN);
    c->num_hidden_layers = json_int_in(&f, "num_hidden_layers", 12, 1, CLIP_MAX_LAYERS);
    c->num_attention_heads = json_int_in(&f, "num_attention_heads", 8, 1, CLIP_MAX_HIDDEN);
    c->max_position_embeddings = json_int_in(&f, "max_position_embeddings", 77, 1, CLIP_MAX_POSITIONS);
    c->layer_norm_eps = (float)json_num_in(&f, "layer_norm_eps", 1e-5, 1e-12, 1);
    const char* act = json_str(&f, "hidden_act", "quick_gelu");
    if (!strcmp(act, "quick_gelu")) c->hidden_act = ACT_QUICK_GELU;
    else if (!strcmp(act, "gelu")) c->hidden_act = ACT_GELU;
    else json_fail(&f, "hidden_act", "\"%s\" is not supported (quick_gelu, gelu)", act);
    if (!f.failed && c->hidden_size % c->num_attention_heads)
        json_fail(&f, "num_attention_heads", "%d heads do not divide hidden_size %d", c->num_attention_heads, c->hidden_size);
    cJSON_Delete(root);
    return f.failed ? -1 : 0;
}

int clip_config_load(ClipConfig* c, const char* path, char* err, size_t errlen) {
    char* text = json_read_file(path, err, errlen);
    if (!text) return -1;
    int r = clip_config_parse(c, text, path, err, errlen);
    free(text);
    return r;
}

char* clip_config_to_json(const ClipConfig* c) {
    cJSON* o = cJSON_CreateObject();
    cJSON* arch = cJSON_AddArrayToObject(o, "architectures");
    cJSON_AddItemToArray(arch, cJSON_CreateString("CLIPTextModel"));
    cJSON_AddStringToObject(o, "model_type", "clip_text_model");
    cJSON_AddNumberToObject(o, "vocab_size", c->vocab_size);
    cJSON_AddNumberToObject(o, "hidden_size", c->hidden_size);
    cJSON_AddNumberToObject(o, "intermediate_size", c->intermediate_size);
    cJSON_AddNumberToObject(o, "num_hidden_layers", c->num_hidden_layers);
    cJSON_AddNumberToObject(o, "num_attention_heads", c->num_attention_heads);
    cJSON_AddNumberToObject(o, "max_position_embeddings", c->max_position_embeddings);
    cJSON_AddStringToObject(o, "hidden_act", c->hidden_act == ACT_GELU ? "gelu" : "quick_gelu");
    cJSON_AddNumberToObject(o, "layer_norm_eps", c->layer_norm_eps);
    cJSON_AddStringToObject(o, "torch_dtype", "float32");
    char* s = cJSON_Print(o);
    cJSON_Delete(o);
    return s;
}

// ---------------------------------------------------------------------------

void clip_init(ClipTextModel* m, const ClipConfig* cfg, ParamStore* ps) {
    memset(m, 0, sizeof *m);
    m->cfg = *cfg;
    int D = cfg->hidden_size;
    m->token_embedding = param_add(ps, "text_model.embeddings.token_embedding", "weight", 2,
                                   (int64_t[]){cfg->vocab_size, D}, INIT_UNIFORM_FAN_IN);
    m->position_embedding = param_add(ps, "text_model.embeddings.position_embedding", "weight", 2,
                                      (int64_t[]){cfg->max_position_embeddings, D}, INIT_UNIFORM_FAN_IN);
    char p[PARAM_NAME_MAX], q[PARAM_NAME_MAX];
    for (int i = 0; i < cfg->num_hidden_layers; i++) {
        ClipEncoderLayer* l = &m->layers[i];
        snprintf(p, sizeof p, "text_model.encoder.layers.%d", i);
        param_join(q, p, "layer_norm1"), layernorm_init(&l->ln1, ps, q, D, cfg->layer_norm_eps);
        param_join(q, p, "self_attn"), attention_init(&l->attn, ps, q, D, D, cfg->num_attention_heads, true, "out_proj");
        param_join(q, p, "layer_norm2"), layernorm_init(&l->ln2, ps, q, D, cfg->layer_norm_eps);
        param_join(q, p, "mlp.fc1"), linear_init(&l->fc1, ps, q, D, cfg->intermediate_size, true);
        param_join(q, p, "mlp.fc2"), linear_init(&l->fc2, ps, q, cfg->intermediate_size, D, true);
    }
    layernorm_init(&m->final_ln, ps, "text_model.final_layer_norm", D, cfg->layer_norm_eps);
}

Tensor clip_forward(Graph* g, const ClipTextModel* m, ClipActs* s, const Tensor* ids, int N, int L) {
    const ClipConfig* c = &m->cfg;
    if (L > c->max_position_embeddings) die("clip: %d tokens exceed max_position_embeddings %d", L, c->max_position_embeddings);
    if (tensor_numel(ids) != (int64_t)N * L) die("clip: %lld ids for %d x %d tokens", (long long)tensor_numel(ids), N, L);
    int D = c->hidden_size;
    s->ids = *ids;
    // Position ids 0..L-1 for every sample: a constant written once at record time.
    s->pos_ids = graph_act(g, 1, (int64_t[]){(int64_t)N * L});
    uint32_t* pos = xmalloc((size_t)N * L * sizeof *pos);
    for (int i = 0; i < N * L; i++) pos[i] = (uint32_t)(i % L);
    tensor_upload_raw(g->cmd->gpu, &s->pos_ids, pos);
    free(pos);

    int64_t shape[3] = {N, L, D};
    Tensor h = graph_act(g, 3, shape), hp = graph_tmp(g, 3, shape);
    op_embedding_forward(g->cmd, &h, ids, P(g->ps, m->token_embedding));
    op_embedding_forward(g->cmd, &hp, &s->pos_ids, P(g->ps, m->position_embedding));
    op_add(g->cmd, &h, &h, &hp);
    for (int i = 0; i < c->num_hidden_layers; i++) {
        const ClipEncoderLayer* l = &m->layers[i];
        ClipEncoderLayerActs* ls = &s->layers[i];
        graph_tmp_reset(g);
        ls->h0 = h;
        ls->n1 = layernorm_forward(g, &l->ln1, &ls->s1, &h);
        ls->h1 = attention_forward(g, &l->attn, &ls->attn, &ls->n1, &ls->n1, true);
        op_add(g->cmd, &ls->h1, &ls->h1, &h);
        ls->n2 = layernorm_forward(g, &l->ln2, &ls->s2, &ls->h1);
        ls->f1 = linear_forward(g, &l->fc1, &ls->n2);
        ls->f1act = graph_tmp(g, 3, ls->f1.shape);
        op_act_forward(g->cmd, &ls->f1act, &ls->f1, c->hidden_act);
        Tensor f2 = linear_forward(g, &l->fc2, &ls->f1act);
        h = graph_act(g, 3, shape);
        op_add(g->cmd, &h, &f2, &ls->h1);
    }
    graph_tmp_reset(g);
    s->h_last = h;
    Tensor out = graph_act(g, 3, shape);
    s->s_final.mean = graph_act(g, 1, (int64_t[]){(int64_t)N * L});
    s->s_final.rstd = graph_act(g, 1, (int64_t[]){(int64_t)N * L});
    op_layernorm_forward(g->cmd, &out, &s->s_final.mean, &s->s_final.rstd, &h, P(g->ps, m->final_ln.w),
                         P(g->ps, m->final_ln.b), m->final_ln.eps);
    return out;
}

void clip_backward(Graph* g, const ClipTextModel* m, const ClipActs* s, const Tensor* dout) {
    const ClipConfig* c = &m->cfg;
    Tensor dh = graph_grad_like(g, &s->h_last);
    layernorm_backward(g, &m->final_ln, &s->s_final, &dh, dout, &s->h_last);
    for (int i = c->num_hidden_layers - 1; i >= 0; i--) {
        const ClipEncoderLayer* l = &m->layers[i];
        const ClipEncoderLayerActs* ls = &s->layers[i];
        Tensor df1act = graph_grad_like(g, &ls->f1act), df1 = graph_grad_like(g, &ls->f1);
        linear_backward(g, &l->fc2, &df1act, &dh, &ls->f1act);
        op_act_backward(g->cmd, &df1, &df1act, &ls->f1, c->hidden_act);
        Tensor dn2 = graph_grad_like(g, &ls->n2);
        linear_backward(g, &l->fc1, &dn2, &df1, &ls->n2);
        Tensor dh1 = graph_grad_like(g, &ls->h1);
        op_accumulate(g->cmd, &dh1, &dh, 1.0f);
        layernorm_backward(g, &l->ln2, &ls->s2, &dh1, &dn2, &ls->h1);
        Tensor dn1 = graph_grad_like(g, &ls->n1);
        attention_backward(g, &l->attn, &ls->attn, &dn1, &dn1, &dh1, true);
        Tensor dh0 = graph_grad_like(g, &ls->h0);
        op_accumulate(g->cmd, &dh0, &dh1, 1.0f);
        layernorm_backward(g, &l->ln1, &ls->s1, &dh0, &dn1, &ls->h0);
        dh = dh0;
    }
    // h = token_embedding[ids] + position_embedding[pos]: both tables get dh.
    op_embedding_backward(g->cmd, G(g->ps, m->token_embedding), &dh, &s->ids);
    op_embedding_backward(g->cmd, G(g->ps, m->position_embedding), &dh, &s->pos_ids);
}
