// compare_results.c: see compare_results.h.
#include "report/compare_results.h"

#include <cjson/cJSON.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

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
    train_log_free(&t);
    return 0;
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

int compare_row_load(CompareRow* r, Objective obj, const char* dir, const char* eval_json, const char* grid_png,
                     double train_wall_s, char* err, size_t errlen) {
    memset(r, 0, sizeof *r);
    r->obj = obj;
    r->dir = xstrdup(dir);
    r->train_wall_s = train_wall_s;
    r->acc_last = r->acc_tail_mean = NAN;
    if (load_curves(r, dir, err, errlen) || load_eval(r, eval_json, err, errlen)) {
        compare_row_free(r);
        return -1;
    }
    if (grid_png && path_exists(grid_png)) r->grid_png = xstrdup(grid_png);
    return 0;
}

void compare_row_free(CompareRow* r) {
    free(r->dir), free(r->loss_step), free(r->loss), free(r->acc_step), free(r->acc), free(r->grid_png);
    memset(r, 0, sizeof *r);
}

// JSON null for what was not measured (JSON has no NaN).
static void add_num(cJSON* o, const char* key, double v) {
    if (isfinite(v)) cJSON_AddNumberToObject(o, key, v);
    else cJSON_AddNullToObject(o, key);
}

int compare_summary_write(const char* path, const char* config_json, const CompareRow* rows, int nrows,
                          const CompareCommand* commands, int ncommands, char* err, size_t errlen) {
    cJSON* root = cJSON_CreateObject();
    cJSON* cfg = cJSON_Parse(config_json);
    cJSON_AddItemToObject(root, "config", cfg ? cfg : cJSON_CreateNull());
    cJSON* arr = cJSON_AddArrayToObject(root, "objectives");
    for (int i = 0; i < nrows; i++) {
        const CompareRow* r = &rows[i];
        cJSON* o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "objective", objective_name(r->obj));
        cJSON_AddNumberToObject(o, "steps", r->steps);
        add_num(o, "train_wall_s", r->train_wall_s);
        add_num(o, "final_loss", r->final_loss);
        add_num(o, "implicit_acc_last", r->has_acc ? r->acc_last : NAN);
        add_num(o, "implicit_acc_tail_mean", r->has_acc ? r->acc_tail_mean : NAN);
        cJSON_AddNumberToObject(o, "comparisons", r->comparisons);
        add_num(o, "win_rate", r->win_rate);
        add_num(o, "ci95_lo", r->ci_lo);
        add_num(o, "ci95_hi", r->ci_hi);
        add_num(o, "mean_score_model", r->score_model);
        add_num(o, "mean_score_base", r->score_base);
        add_num(o, "caption_fit_model", r->has_fit ? r->fit_model : NAN);
        add_num(o, "caption_fit_base", r->has_fit ? r->fit_base : NAN);
        cJSON_AddStringToObject(o, "output_dir", r->dir);
        if (r->grid_png) cJSON_AddStringToObject(o, "grid", r->grid_png);
        else cJSON_AddNullToObject(o, "grid");
        cJSON_AddBoolToObject(o, "reused", r->reused);
        cJSON_AddItemToArray(arr, o);
    }
    cJSON* cmds = cJSON_AddArrayToObject(root, "commands");
    for (int i = 0; i < ncommands; i++) {
        cJSON* o = cJSON_CreateObject();
        cJSON_AddStringToObject(o, "command", commands[i].line);
        cJSON_AddBoolToObject(o, "reused", commands[i].reused);
        cJSON_AddItemToArray(cmds, o);
    }
    int rc = json_write_file_atomic(path, root, err, errlen);
    cJSON_Delete(root);
    return rc;
}
