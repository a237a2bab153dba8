// compare_results.c: see compare_results.h.
#include "report/compare_results.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "report/html_report.h"
#include "report/train_log.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"

// The share of the logged rows whose implicit accuracy is averaged: the end of a
// noisy curve says more than its last point.
#define ACC_TAIL_FRACTION 0.1

static int load_curves(CompareRow* r, const char* dir, char* err, size_t errlen) {
    char* path = path_join(dir, "train_log.csv");
    TrainLog t;
    int rc = train_log_read(&t, path, err, errlen);
    free(path);
    if (rc) return -1;
    int step = train_log_column(&t, "step"), loss = train_log_column(&t, "loss");
    int acc = train_log_column(&t, objective_metric_name(OBJ_METRIC_IMPLICIT_ACC));
    int val = train_log_column(&t, "val_loss");
    if (step < 0 || loss < 0) {
        train_log_free(&t);
        return fail(err, errlen, "%s/train_log.csv: no \"step\" or \"loss\" column", dir);
    }
    size_t n = (size_t)(t.nrows ? t.nrows : 1);
    r->loss_step = xmalloc(n * sizeof(double)), r->loss = xmalloc(n * sizeof(double));
    r->acc_step = xmalloc(n * sizeof(double)), r->acc = xmalloc(n * sizeof(double));
    r->npoints = train_log_series(&t, step, loss, r->loss_step, r->loss);
    r->steps = r->npoints ? (int)r->loss_step[r->npoints - 1] : 0;
    r->final_loss = train_log_last(&t, loss);
    r->has_acc = objective_metric_used(r->obj, OBJ_METRIC_IMPLICIT_ACC) && acc >= 0;
    if (r->has_acc) {
        // The step-0 validation row has no metrics (empty cells): series and means skip it.
        r->nacc = train_log_series(&t, step, acc, r->acc_step, r->acc);
        r->acc_last = train_log_last(&t, acc);
        r->acc_tail_mean = train_log_tail_mean(&t, acc, ACC_TAIL_FRACTION);
    }
    // The held-out loss: step 0 is the base (train validates before the first step), the last row the tuned model.
    r->val_loss = r->val_loss_base = NAN;
    if (val >= 0) {
        r->val_loss = train_log_last(&t, val);
        for (int i = 0; i < t.nrows; i++)
            if (train_log_at(&t, i, step) == 0 && isfinite(train_log_at(&t, i, val))) r->val_loss_base = train_log_at(&t, i, val);
    }
    train_log_free(&t);
    return 0;
}

// The run's learning rate and beta from the train_config.json it saved; NAN when unknown.
static void load_hyper(CompareRow* r, const char* dir) {
    r->learning_rate = r->beta = NAN;
    char* path = path_join(dir, "train_config.json");
    char err[512];
    char* text = path_exists(path) ? read_file(path, NULL, err, sizeof err) : NULL;
    cJSON* o = text ? cJSON_Parse(text) : NULL;
    const cJSON* lr = cJSON_GetObjectItemCaseSensitive(o, "learning_rate");
    if (cJSON_IsNumber(lr)) r->learning_rate = lr->valuedouble;
    const char* beta_key = objective_beta_key(r->obj);  // from the objective table: every objective has its row
    const cJSON* b = beta_key ? cJSON_GetObjectItemCaseSensitive(o, beta_key) : NULL;
    if (cJSON_IsNumber(b)) r->beta = b->valuedouble;
    cJSON_Delete(o);
    free(text), free(path);
}

static int load_eval(CompareRow* r, const char* path, char* err, size_t errlen) {
    char* text = json_read_file(path, err, errlen);
    if (!text) return -1;
    cJSON* o = json_parse_object(text, path, err, errlen);
    free(text);
    if (!o) return -1;
    JsonFields f = {o, path, err, errlen, 0};
    r->comparisons = json_int(&f, "comparisons", 0, true);
    const char* need[] = {"win_rate", "ci95_lo", "ci95_hi", "mean_score_model", "mean_score_base"};
    double* dst[] = {&r->win_rate, &r->ci_lo, &r->ci_hi, &r->score_model, &r->score_base};
    for (int i = 0; i < 5; i++) {
        if (!cJSON_GetObjectItemCaseSensitive(o, need[i])) json_fail(&f, need[i], "missing");
        *dst[i] = json_num(&f, need[i], NAN);
    }
    r->has_fit = cJSON_GetObjectItemCaseSensitive(o, "caption_fit_model") != NULL;
    r->fit_model = json_num(&f, "caption_fit_model", NAN);
    r->fit_base = json_num(&f, "caption_fit_base", NAN);
    cJSON_Delete(o);
    return f.failed ? -1 : 0;
}

int compare_row_load(CompareRow* r, const char* name, Objective obj, const char* dir, const char* eval_json,
                     const char* grid_png, const char* adapter, double train_wall_s, char* err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->name = xstrdup(name);
    r->obj = obj;
    r->adapter_bytes = NAN;
    if (adapter) {
        struct stat st;
        if (stat(adapter, &st)) {
            free(r->name);
            return fail(err, errlen, "%s: %s", adapter, strerror(errno));
        }
        r->adapter_bytes = (double)st.st_size;
    }
    r->dir = xstrdup(dir);
    r->train_wall_s = train_wall_s;
    r->acc_last = r->acc_tail_mean = NAN;
    if (load_curves(r, dir, err, errlen) || load_eval(r, eval_json, err, errlen)) {
        compare_row_free(r);
        return -1;
    }
    load_hyper(r, dir);
    if (grid_png && path_exists(grid_png)) r->grid_png = xstrdup(grid_png);
    return 0;
}

void compare_row_free(CompareRow* r) {
    free(r->name), free(r->dir), free(r->loss_step), free(r->loss), free(r->acc_step), free(r->acc), free(r->grid_png);
    memset(r, 0, sizeof *r);
}

// JSON null for what was not measured (JSON has no NaN).
static void add_num(cJSON* o, const char* key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

static void add_array(cJSON* o, const char* key, const double* v, int n) {
    cJSON* a = cJSON_AddArrayToObject(o, key);
    for (int i = 0; i < n; i++) cJSON_AddItemToArray(a, isfinite(v[i]) ? cJSON_CreateNumber(v[i]) : cJSON_CreateNull());
}

static void add_str(cJSON* o, const char* key, const char* v) {
    if (v) cJSON_AddStringToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

int compare_summary_write(const char* path, const CompareReport* rep, char* err, size_t errlen) {
    cJSON* root = cJSON_CreateObject();
    add_str(root, "title", rep->title);
    add_str(root, "eval_text", rep->eval_text);
    add_str(root, "base_grid", rep->base_grid);
    if (rep->note) cJSON_AddStringToObject(root, "note", rep->note);
    cJSON* cfg = rep->config_json ? cJSON_Parse(rep->config_json) : NULL;
    cJSON_AddItemToObject(root, "config", cfg ? cfg : cJSON_CreateNull());
    cJSON* arr = cJSON_AddArrayToObject(root, "objectives");
    for (int i = 0; i < rep->nrows; i++) {
        const CompareRow* r = &rep->rows[i];
        cJSON* o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "name", r->name);
        cJSON_AddStringToObject(o, "objective", objective_name(r->obj));
        add_num(o, "adapter_bytes", r->adapter_bytes);
        cJSON_AddNumberToObject(o, "steps", r->steps);
        add_num(o, "train_wall_s", r->train_wall_s);
        add_num(o, "learning_rate", r->learning_rate);
        add_num(o, "beta", r->beta);
        add_num(o, "final_loss", r->final_loss);
        add_num(o, "implicit_acc_last", r->has_acc ? r->acc_last : NAN);
        add_num(o, "implicit_acc_tail_mean", r->has_acc ? r->acc_tail_mean : NAN);
        add_num(o, "val_loss", r->val_loss);
        add_num(o, "val_loss_base", r->val_loss_base);
        cJSON_AddNumberToObject(o, "comparisons", r->comparisons);
        add_num(o, "win_rate", r->win_rate);
        add_num(o, "ci95_lo", r->ci_lo);
        add_num(o, "ci95_hi", r->ci_hi);
        add_num(o, "mean_score_model", r->score_model);
        add_num(o, "mean_score_base", r->score_base);
        add_num(o, "caption_fit_model", r->has_fit ? r->fit_model : NAN);
        add_num(o, "caption_fit_base", r->has_fit ? r->fit_base : NAN);
        add_str(o, "output_dir", r->dir);
        add_str(o, "grid", r->grid_png);
        cJSON_AddBoolToObject(o, "reused", r->reused);
        cJSON* cv = cJSON_AddObjectToObject(o, "curves");
        add_array(cv, "loss_step", r->loss_step, r->npoints);
        add_array(cv, "loss", r->loss, r->npoints);
        add_array(cv, "implicit_acc_step", r->acc_step, r->has_acc ? r->nacc : 0);
        add_array(cv, "implicit_acc", r->acc, r->has_acc ? r->nacc : 0);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON* cmds = cJSON_AddArrayToObject(root, "commands");
    for (int i = 0; i < rep->ncommands; i++) {
        cJSON* o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "command", rep->commands[i].line);
        cJSON_AddBoolToObject(o, "reused", rep->commands[i].reused);
        cJSON_AddItemToArray(cmds, o);
    }
    int rc = json_write_file_atomic(path, root, err, errlen);
    cJSON_Delete(root);
    return rc;
}

// ---------------------------------------------------------------------------
// Reading summary.json back.

static double num_or_nan(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static char* str_or_null(const cJSON* o, const char* key) {
    const cJSON* v = cJSON_GetObjectItemCaseSensitive(o, key);
    return cJSON_IsString(v) ? xstrdup(v->valuestring) : NULL;
}

// An array of numbers (null: NAN) into a malloc'ed array; its length in *n.
static double* read_array(const cJSON* o, const char* key, int* n) {
    const cJSON* a = cJSON_GetObjectItemCaseSensitive(o, key);
    *n = cJSON_IsArray(a) ? cJSON_GetArraySize(a) : 0;
    double* v = xmalloc((size_t)(*n ? *n : 1) * sizeof *v);
    int i = 0;
    const cJSON* it;
    cJSON_ArrayForEach(it, a) v[i++] = cJSON_IsNumber(it) ? it->valuedouble : NAN;
    return v;
}

// A grid named in the summary: beside the summary first, then as written.
static char* find_grid(const char* summary_dir, const char* name) {
    if (!name) return NULL;
    if (name[0] != '/') {
        char* p = path_join(summary_dir, name);
        if (path_exists(p)) return p;
        free(p);
    }
    return path_exists(name) ? xstrdup(name) : NULL;
}

int compare_summary_read(CompareReport* rep, const char* path, char* err, size_t errlen) {
    memset(rep, 0, sizeof *rep);
    char* text = json_read_file(path, err, errlen);
    if (!text) return -1;
    cJSON* root = json_parse_object(text, path, err, errlen);
    free(text);
    if (!root) return -1;
    const cJSON* objs = cJSON_GetObjectItemCaseSensitive(root, "objectives");
    const cJSON* cfg = cJSON_GetObjectItemCaseSensitive(root, "config");
    if (!cJSON_IsArray(objs) || !cJSON_IsObject(cfg)) {
        cJSON_Delete(root);
        return fail(err, errlen, "%s: not a compare summary (no \"objectives\" list or \"config\" object)", path);
    }
    const char* slash = strrchr(path, '/');
    char* dir = slash ? strndup(path, (size_t)(slash - path)) : xstrdup(".");
    char* s;
    rep->title = (s = str_or_null(root, "title")) ? s : xstrdup("vkpref compare");
    rep->eval_text = (s = str_or_null(root, "eval_text")) ? s : xstrdup("");
    rep->note = str_or_null(root, "note");
    char* bg = str_or_null(root, "base_grid");
    rep->base_grid = find_grid(dir, bg);
    free(bg);
    rep->config_json = cJSON_Print(cfg);
    rep->base = (s = str_or_null(cfg, "base")) ? s : xstrdup("");
    rep->dataset = (s = str_or_null(cfg, "dataset")) ? s : xstrdup("");
    const cJSON* ev = cJSON_GetObjectItemCaseSensitive(cfg, "eval");
    rep->fit_judge = (s = str_or_null(ev, "caption_fit_judge")) ? s : xstrdup("");
    rep->max_train_steps = (int)num_or_nan(cfg, "max_train_steps");
    rep->train_batch_size = (int)num_or_nan(cfg, "train_batch_size");
    rep->seed = (int)num_or_nan(cfg, "seed");

    int n = cJSON_GetArraySize(objs), rc = 0;
    CompareRow* rows = xcalloc((size_t)(n ? n : 1), sizeof *rows);
    for (int i = 0; i < n && !rc; i++) {
        const cJSON* o = cJSON_GetArrayItem(objs, i);
        CompareRow* r = &rows[i];
        const cJSON* name = cJSON_GetObjectItemCaseSensitive(o, "objective");
        if (!cJSON_IsString(name) || !objective_parse(name->valuestring, &r->obj)) {
            rc = fail(err, errlen, "%s: objectives[%d]: no known \"objective\"", path, i);
            break;
        }
        r->name = str_or_null(o, "name");  // older summaries: the objective names the row
        if (!r->name) r->name = xstrdup(name->valuestring);
        r->adapter_bytes = num_or_nan(o, "adapter_bytes");
        r->dir = str_or_null(o, "output_dir");
        r->steps = (int)num_or_nan(o, "steps");
        r->train_wall_s = num_or_nan(o, "train_wall_s");
        r->learning_rate = num_or_nan(o, "learning_rate");
        r->beta = num_or_nan(o, "beta");
        r->final_loss = num_or_nan(o, "final_loss");
        r->has_acc = objective_metric_used(r->obj, OBJ_METRIC_IMPLICIT_ACC);
        r->acc_last = num_or_nan(o, "implicit_acc_last");
        r->acc_tail_mean = num_or_nan(o, "implicit_acc_tail_mean");
        r->val_loss = num_or_nan(o, "val_loss");
        r->val_loss_base = num_or_nan(o, "val_loss_base");
        r->comparisons = (int)num_or_nan(o, "comparisons");
        r->win_rate = num_or_nan(o, "win_rate");
        r->ci_lo = num_or_nan(o, "ci95_lo");
        r->ci_hi = num_or_nan(o, "ci95_hi");
        r->score_model = num_or_nan(o, "mean_score_model");
        r->score_base = num_or_nan(o, "mean_score_base");
        r->fit_model = num_or_nan(o, "caption_fit_model");
        r->fit_base = num_or_nan(o, "caption_fit_base");
        r->has_fit = isfinite(r->fit_model);
        const cJSON* re = cJSON_GetObjectItemCaseSensitive(o, "reused");
        r->reused = cJSON_IsTrue(re);
        char* g = str_or_null(o, "grid");
        r->grid_png = find_grid(dir, g);
        free(g);
        const cJSON* cv = cJSON_GetObjectItemCaseSensitive(o, "curves");
        int ns, nl, nas, na;
        r->loss_step = read_array(cv, "loss_step", &ns);
        r->loss = read_array(cv, "loss", &nl);
        r->acc_step = read_array(cv, "implicit_acc_step", &nas);
        r->acc = read_array(cv, "implicit_acc", &na);
        if (ns != nl || nas != na) rc = fail(err, errlen, "%s: objectives[%d].curves: steps and values differ in length", path, i);
        r->npoints = nl, r->nacc = na;
    }
    rep->rows = rows;
    rep->nrows = n;
    const cJSON* cmds = cJSON_GetObjectItemCaseSensitive(root, "commands");
    int nc = cJSON_IsArray(cmds) ? cJSON_GetArraySize(cmds) : 0;
    CompareCommand* cc = xcalloc((size_t)(nc ? nc : 1), sizeof *cc);
    for (int i = 0; i < nc; i++) {
        const cJSON* o = cJSON_GetArrayItem(cmds, i);
        char* line = str_or_null(o, "command");
        cc[i] = (CompareCommand){line ? line : xstrdup(""), cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, "reused"))};
    }
    rep->commands = cc;
    rep->ncommands = nc;
    free(dir);
    cJSON_Delete(root);
    if (rc) compare_summary_free(rep);
    return rc;
}

void compare_summary_free(CompareReport* rep) {
    for (int i = 0; i < rep->nrows; i++) compare_row_free((CompareRow*)&rep->rows[i]);
    for (int i = 0; i < rep->ncommands; i++) free(rep->commands[i].line);
    free((void*)rep->rows), free((void*)rep->commands);
    free((void*)rep->title), free((void*)rep->eval_text), free((void*)rep->note), free((void*)rep->base_grid);
    free((void*)rep->config_json), free((void*)rep->base), free((void*)rep->dataset), free((void*)rep->fit_judge);
    memset(rep, 0, sizeof *rep);
}
