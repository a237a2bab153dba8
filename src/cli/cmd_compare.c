// cmd_compare.c: `vkpref compare`: one base pipeline fine-tuned with each listed
// objective on the same pairs, seeds and step budget, each run evaluated
// against the base and sampled at the same prompts and seeds, and one
// self-contained HTML report (report/html_report.h) plus summary.json.
//
// Every piece of work runs in this process, as the same code its command runs:
// training through the library's run (train/run.h) on compare's one device, so
// the objectives share the device and its pipeline cache one after another;
// eval and sample through their command functions. Each step is recorded as
// the command line that repeats it; a failure stops compare with a message
// naming the objective. compare itself only plans, records and reports.
//
// Layout of OUT (output_dir):
//   OUT/compare_config.json        the resolved settings
//   OUT/base/grid.png              the base's grid
//   OUT/<objective>/               the run's pipeline, train_log.csv, train_config.json,
//                                  compare_train_config.json (the --config it got), eval.json, grid.png
//   OUT/<dir>/compare_record.json  the steps finished there: command, its config, wall time
//   OUT/summary.json, OUT/report.html
// --report_from SUMMARY.json [--report FILE.html] renders a report again from a
// summary.json (and the grid PNGs it names) without running anything.
// Resuming: a step is reused when its record holds the same command (and, for
// train, the same config), its output exists and no step it depends on ran
// again; --rerun redoes everything. Records are written after a step
// succeeds, so an interrupted step is never reused. The report is rewritten
// after every objective, so a long compare can be watched.
#include <cjson/cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/commands.h"
#include "model/lora.h"
#include "report/compare_config.h"
#include "report/compare_results.h"
#include "report/html_report.h"
#include "sample/render.h"
#include "sample/sample_output.h"
#include "util/check.h"
#include "util/fsutil.h"
#include "util/json_fields.h"
#include "util/command_line.h"
#include "train/train_config.h"
#include "util/timer.h"

#define RECORD_FILE "compare_record.json"
#define TRAIN_CONFIG_FILE "compare_train_config.json"

// A growing argv for a child command.
typedef struct Args {
    char** v;
    int n;
} Args;

static void arg(Args* a, const char* s) {
    a->v = xrealloc(a->v, (size_t)(a->n + 2) * sizeof *a->v);
    a->v[a->n++] = xstrdup(s);
    a->v[a->n] = NULL;
}
static void arg2(Args* a, const char* flag, const char* value) { arg(a, flag), arg(a, value); }
static void arg_int(Args* a, const char* flag, int v) {
    char buf[32];
    snprintf(buf, sizeof buf, "%d", v);
    arg2(a, flag, buf);
}
static void arg_num(Args* a, const char* flag, double v) {
    char buf[64];
    snprintf(buf, sizeof buf, "%.17g", v);
    arg2(a, flag, buf);
}
static void args_free(Args* a) {
    for (int i = 0; i < a->n; i++) free(a->v[i]);
    free(a->v);
    *a = (Args){0};
}

typedef struct Compare {
    CompareConfig* c;
    char* config_json;
    CompareCommand* cmds;
    int ncmds;
    CompareRow* rows;
    int nrows;
    char* base_grid;  // set once the base grid exists
    char* eval_text;
    GpuContext gpu;   // opened for the first training run, shared by the rest
    bool gpu_open;
} Compare;

static void add_command(Compare* cmp, const char* line, bool reused) {
    cmp->cmds = xrealloc(cmp->cmds, (size_t)(cmp->ncmds + 1) * sizeof *cmp->cmds);
    cmp->cmds[cmp->ncmds++] = (CompareCommand){xstrdup(line), reused};
}

// ---------------------------------------------------------------------------
// The record of a folder's finished steps.

static cJSON* record_load(const char* dir) {
    char* path = path_join(dir, RECORD_FILE);
    char err[1024];
    char* text = path_exists(path) ? read_file(path, NULL, err, sizeof err) : NULL;
    cJSON* r = text ? cJSON_Parse(text) : NULL;
    if (text && !cJSON_IsObject(r))  // damaged: nothing in it can be trusted, so nothing is reused
        fprintf(stderr, "vkpref compare: warning: %s is not a JSON object; redoing that folder's steps\n", path);
    free(text), free(path);
    if (!cJSON_IsObject(r)) cJSON_Delete(r), r = cJSON_CreateObject();
    return r;
}

static void record_save(const char* dir, const cJSON* rec) {
    char err[1024];
    char* path = path_join(dir, RECORD_FILE);
    char* text = cJSON_Print(rec);
    if (mkdir_p(dir, err, sizeof err) || write_file_atomic(path, text, strlen(text), err, sizeof err)) die("%s", err);
    free(text), free(path);
}

// One step: a child command, the file it makes, and (train) the config it reads.
typedef struct Step {
    const char* who;       // "base" or the objective, for messages
    const char* name;      // "train", "eval", "grid": the record key
    Args args;
    char* output;          // must exist for the step to be reused
    const cJSON* config;   // part of the step's identity besides its command line; may be NULL
} Step;

// Whether rec holds s as finished; *wall_s gets its recorded wall time.
static bool reusable(const cJSON* rec, const Step* s, const char* line, double* wall_s) {
    const cJSON* e = cJSON_GetObjectItemCaseSensitive(rec, s->name);
    const cJSON* cmd = cJSON_GetObjectItemCaseSensitive(e, "command");
    if (!cJSON_IsString(cmd) || strcmp(cmd->valuestring, line) || !path_exists(s->output)) return false;
    const cJSON* cfg = cJSON_GetObjectItemCaseSensitive(e, "config");
    if (s->config ? !cfg || !cJSON_Compare(cfg, s->config, true) : cfg != NULL) return false;
    const cJSON* w = cJSON_GetObjectItemCaseSensitive(e, "wall_s");
    *wall_s = cJSON_IsNumber(w) ? w->valuedouble : NAN;
    return true;
}

// The step running now, for the message when its command exits the process (die).
static const Step* g_running;
static const char* g_running_line;

static void report_stopped_step(void) {
    if (g_running)
        fprintf(stderr, "vkpref compare: compare stopped: %s of %s failed (the message is above). The command was:\n  %s\n",
                g_running->name, g_running->who, g_running_line);
}

// Runs the step's command in this process; returns its exit status.
static int execute(Compare* cmp, Step* s) {
    int argc = s->args.n;
    char** argv = s->args.v;
    if (!strcmp(argv[0], "train")) {
        TrainConfig tc;
        int pr = opts_parse(train_options(), &tc, argc, argv);
        if (pr) return pr > 0 ? 0 : 2;
        if (!cmp->gpu_open) {  // one device for every objective's run
            GpuOptions go = GPU_DEFAULTS;
            go.device = cmp->c->device;
            if (gpu_init(&cmp->gpu, &go)) die("no usable Vulkan device (see `vkpref info`)");
            cmp->gpu_open = true;
        }
        return train_with_progress(&cmp->gpu, &tc);
    }
    if (!strcmp(argv[0], "eval")) return cmd_eval(argc, argv);
    if (!strcmp(argv[0], "sample")) return cmd_sample(argc, argv);
    die("compare: no step runs `vkpref %s`", argv[0]);
}

// Runs s in dir (or reuses it; see the file comment). *upstream_ran: a step this
// one depends on ran in this invocation (in), this step ran (out). Returns the
// step's wall time in seconds (NAN when a reused record has none).
static double run_step(Compare* cmp, const char* dir, cJSON* rec, Step* s, bool* upstream_ran) {
    char* line = command_line_text(s->args.v);
    double wall = NAN;
    if (!cmp->c->rerun && !*upstream_ran && reusable(rec, s, line, &wall)) {
        fprintf(stderr, "vkpref compare: [%s] %s: reusing the finished run (--rerun redoes it)\n", s->who, s->name);
        add_command(cmp, line, true);
        free(line);
        return wall;
    }
    *upstream_ran = true;
    cJSON_DeleteItemFromObjectCaseSensitive(rec, s->name);
    record_save(dir, rec);  // before the run: a killed run leaves no record of the old output
    fprintf(stderr, "vkpref compare: [%s] %s: %s\n", s->who, s->name, line);
    add_command(cmp, line, false);
    double t0 = now_seconds();
    g_running = s, g_running_line = line;
    on_fatal_exit(report_stopped_step);
    int rc = execute(cmp, s);
    g_running = NULL;
    wall = now_seconds() - t0;
    if (rc)
        die("compare stopped: %s of %s failed (`vkpref %s` exit status %d; its messages are above). The command was:\n  %s",
            s->name, s->who, s->args.v[0], rc, line);
    if (!path_exists(s->output))
        die("compare stopped: %s of %s succeeded but wrote no %s", s->name, s->who, s->output);
    cJSON* e = cJSON_CreateObject();
    cJSON_AddStringToObject(e, "command", line);
    if (s->config) cJSON_AddItemToObject(e, "config", cJSON_Duplicate(s->config, true));
    cJSON_AddNumberToObject(e, "wall_s", wall);
    cJSON_AddItemToObject(rec, s->name, e);
    record_save(dir, rec);
    free(line);
    return wall;
}

static void step_free(Step* s) {
    args_free(&s->args);
    free(s->output);
}

// ---------------------------------------------------------------------------
// The child commands.

static void add_device(Args* a, const CompareConfig* c) {
    if (c->device >= 0) arg_int(a, "--device", c->device);
}

// Sampler flags shared by eval and sample, so grids show what was evaluated.
static void add_sampler(Args* a, const CompareConfig* c) {
    arg_int(a, "--steps", c->eval.steps);
    arg2(a, "--sampler", c->eval.sampler);
    arg_num(a, "--eta", c->eval.eta);
    arg_num(a, "--cfg", c->eval.cfg);
    arg_int(a, "--batch", c->eval.batch);
}

static void add_prompts(Args* a, const OptStrings* list, const char* file) {
    for (int i = 0; i < list->n; i++) arg2(a, "--prompt", list->v[i]);
    if (*file) arg2(a, "--prompts", file);
}

// A LoRA row's adapters (adapter: its file; NULL: none) apply to the base.
static void add_model(Args* a, const CompareConfig* c, const char* model, const char* adapter) {
    arg2(a, "--model", adapter ? c->base : model);
    if (adapter) arg2(a, "--lora", adapter);
}

static Step grid_step(const CompareConfig* c, const char* who, const char* model, const char* adapter,
                      const char* dir) {
    Step s = {.who = who, .name = "grid", .output = path_join(dir, "grid.png")};
    arg(&s.args, "sample");
    add_model(&s.args, c, model, adapter);
    bool own = c->grid.prompt.n || *c->grid.prompts;  // else the evaluation prompts
    add_prompts(&s.args, own ? &c->grid.prompt : &c->eval.prompt, own ? c->grid.prompts : c->eval.prompts);
    arg2(&s.args, "--seeds", c->grid.seeds);
    add_sampler(&s.args, c);
    arg_int(&s.args, "--upscale", c->grid.upscale);
    arg2(&s.args, "--out", s.output);
    add_device(&s.args, c);
    return s;
}

// A row trains LoRA adapters when its train config sets lora_rank (or --rank) > 0.
static bool lora_row(const cJSON* config) {
    const char* keys[] = {"lora_rank", "rank"};
    for (int i = 0; i < 2; i++) {
        const cJSON* v = cJSON_GetObjectItemCaseSensitive(config, keys[i]);
        if ((cJSON_IsNumber(v) && v->valuedouble > 0) || (cJSON_IsString(v) && atof(v->valuestring) > 0)) return true;
    }
    return false;
}

// output: what the run leaves (its pipeline, or a LoRA row's adapter file).
static Step train_step(const CompareConfig* c, const char* who, Objective obj, const char* dir, const cJSON* config,
                       const char* output) {
    Step s = {.who = who, .name = "train", .output = xstrdup(output), .config = config};
    char* cfg_path = path_join(dir, TRAIN_CONFIG_FILE);
    arg(&s.args, "train");
    arg2(&s.args, "--config", cfg_path);
    arg2(&s.args, "--objective", objective_name(obj));
    arg2(&s.args, "--pretrained_model_name_or_path", c->base);
    arg2(&s.args, "--dataset", c->dataset);
    arg_int(&s.args, "--max_train_steps", c->max_train_steps);
    arg_int(&s.args, "--train_batch_size", c->train_batch_size);
    arg_int(&s.args, "--seed", c->seed);
    arg2(&s.args, "--output_dir", dir);
    add_device(&s.args, c);
    free(cfg_path);
    return s;
}

static Step eval_step(const CompareConfig* c, const char* who, const char* dir, const char* adapter) {
    Step s = {.who = who, .name = "eval", .output = path_join(dir, "eval.json")};
    const CompareEval* e = &c->eval;
    arg(&s.args, "eval");
    add_model(&s.args, c, dir, adapter);
    arg2(&s.args, "--base", c->base);
    add_prompts(&s.args, &e->prompt, e->prompts);
    arg2(&s.args, "--seeds", e->seeds);
    arg2(&s.args, "--judge", e->judge);
    arg2(&s.args, "--caption_fit_judge", e->caption_fit_judge);
    arg_num(&s.args, "--tie_margin", e->tie_margin);
    add_sampler(&s.args, c);
    arg2(&s.args, "--json", s.output);
    add_device(&s.args, c);
    return s;
}

// A run folder compare may wipe before training again: one it made (or train
// began), never an unrelated folder that happens to have the objective's name.
static void prepare_run_dir(const char* dir) {
    char err[1024];
    if (path_exists(dir)) {
        const char* marks[] = {RECORD_FILE, TRAIN_CONFIG_FILE, "train_config.json"};
        bool ours = false;
        for (int i = 0; i < 3; i++) {
            char* p = path_join(dir, marks[i]);
            ours |= path_exists(p);
            free(p);
        }
        if (!ours) die("%s exists and is not a compare run folder: move it or choose another output_dir", dir);
        if (remove_tree(dir, err, sizeof err)) die("%s", err);
    }
    if (mkdir_p(dir, err, sizeof err)) die("%s", err);
}

// ---------------------------------------------------------------------------
// Outputs.

static void write_outputs(Compare* cmp, int done) {
    const CompareConfig* c = cmp->c;
    char err[2048];
    char title[1024];
    int n = snprintf(title, sizeof title, "vkpref compare:");
    for (int i = 0; i < c->objectives.n && n < (int)sizeof title; i++)
        n += snprintf(title + n, sizeof title - (size_t)n, "%s %s", i ? "," : "", c->objectives.v[i]);
    CompareReport r = {.title = title, .base = c->base, .dataset = c->dataset, .max_train_steps = c->max_train_steps,
                       .train_batch_size = c->train_batch_size, .seed = c->seed, .eval_text = cmp->eval_text,
                       .fit_judge = c->eval.caption_fit_judge, .rows = cmp->rows, .nrows = cmp->nrows,
                       .pending = c->objectives.v + done, .npending = c->objectives.n - done,
                       .base_grid = cmp->base_grid, .commands = cmp->cmds, .ncommands = cmp->ncmds,
                       .config_json = cmp->config_json};
    char* path = path_join(c->output_dir, "summary.json");
    if (compare_summary_write(path, &r, err, sizeof err)) die("%s", err);
    free(path);
    path = path_join(c->output_dir, "report.html");
    if (html_report_write(path, &r, err, sizeof err)) die("%s", err);
    free(path);
}

// "judge brightness; 2 prompts x 4 seeds (0-3) = 8 comparisons per objective; ddim, 25 steps, cfg 3, eta 0"
static char* describe_eval(const CompareConfig* c) {
    const CompareEval* e = &c->eval;
    RenderJob job;  // the settings were checked: parsing cannot fail here
    render_job_parse(&job, &e->prompt, e->prompts, e->seeds, e->sampler, e->steps, e->eta, e->cfg);
    char set[128], text[2048];
    sample_settings_text(&job.set, set, sizeof set);
    snprintf(text, sizeof text, "judge %s; %d prompt(s) x %d seed(s) (%s) = %d comparisons per objective, ties within %g "
             "count half; %s", e->judge, job.nprompts, job.nseeds, e->seeds, job.nprompts * job.nseeds, e->tie_margin, set);
    render_job_free(&job);
    return xstrdup(text);
}

static void print_table(const Compare* cmp) {
    printf("vkpref compare: %d objective(s); report %s/report.html\n", cmp->nrows, cmp->c->output_dir);
    printf("  %-10s %6s %10s %10s %8s  %-22s %-24s %s\n", "", "steps", "wall s", "loss", "acc", "win rate [95% CI]",
           "caption fit (model/base)", "LoRA adapter");
    for (int i = 0; i < cmp->nrows; i++) {
        const CompareRow* r = &cmp->rows[i];
        char acc[32];
        if (r->has_acc && isfinite(r->acc_last)) snprintf(acc, sizeof acc, "%.3f", r->acc_last);
        else snprintf(acc, sizeof acc, "-");
        char fit[32] = "-", adapter[32] = "-";
        if (r->has_fit) snprintf(fit, sizeof fit, "%.3f/%.3f", r->fit_model, r->fit_base);
        if (isfinite(r->adapter_bytes)) snprintf(adapter, sizeof adapter, "%.1f KB", r->adapter_bytes / 1024);
        printf("  %-10s %6d %10.1f %10.4f %8s  %.3f [%.3f, %.3f]   %-24s %s\n", r->name, r->steps, r->train_wall_s,
               r->final_loss, acc, r->win_rate, r->ci_lo, r->ci_hi, fit, adapter);
    }
}

int cmd_compare(int argc, char** argv) {
    CompareConfig c;
    int pr = compare_config_parse(&c, argc, argv);
    if (pr) {
        compare_config_free(&c);
        return pr > 0 ? 0 : 2;
    }
    char err[2048];
    if (*c.report_from) {  // render a report again from a summary.json; nothing runs
        int rc = compare_report_from_summary(c.report_from, c.report_out, err, sizeof err);
        if (rc) fprintf(stderr, "vkpref compare: %s\n", err);
        else fprintf(stderr, "vkpref compare: report %s\n", c.report_out);
        compare_config_free(&c);
        return rc ? 1 : 0;
    }
    // Every input is checked before the first (possibly hours-long) run.
    if (compare_config_check(&c, err, sizeof err)) die("%s", err);
    Compare cmp = {.c = &c, .config_json = compare_config_to_json(&c), .eval_text = describe_eval(&c)};
    char* path = path_join(c.output_dir, "compare_config.json");
    if (mkdir_p(c.output_dir, err, sizeof err) ||
        write_file_atomic(path, cmp.config_json, strlen(cmp.config_json), err, sizeof err))
        die("%s", err);
    free(path);
    cmp.rows = xcalloc((size_t)c.objectives.n, sizeof *cmp.rows);

    char* base_dir = path_join(c.output_dir, "base");
    cJSON* rec = record_load(base_dir);
    Step s = grid_step(&c, "base", c.base, NULL, base_dir);
    bool ran = false;
    run_step(&cmp, base_dir, rec, &s, &ran);
    cmp.base_grid = xstrdup(s.output);
    step_free(&s), cJSON_Delete(rec), free(base_dir);

    for (int i = 0; i < c.objectives.n; i++) {
        const char* name = c.objectives.v[i];
        Objective obj;
        compare_row_objective(name, &obj);
        char* dir = path_join(c.output_dir, name);
        char* text = compare_train_config(&c, name, err, sizeof err);
        if (!text) die("%s (objective_configs.%s)", err, name);
        cJSON* train_cfg = cJSON_Parse(text);
        char* adapter = lora_row(train_cfg) ? path_join(dir, LORA_WEIGHTS_FILE) : NULL;
        char* output = adapter ? xstrdup(adapter) : path_join(dir, "model_index.json");
        fprintf(stderr, "vkpref compare: objective %d of %d: %s\n", i + 1, c.objectives.n, name);

        rec = record_load(dir);
        ran = false;
        s = train_step(&c, name, obj, dir, train_cfg, output);
        double wall = NAN;
        char* line = command_line_text(s.args.v);
        bool reuse_train = !c.rerun && reusable(rec, &s, line, &wall);
        free(line);
        if (!reuse_train) {  // a fresh folder for a fresh run (stale checkpoints and logs would mislead)
            prepare_run_dir(dir);
            cJSON_Delete(rec), rec = cJSON_CreateObject();
            char* cfg_path = path_join(dir, TRAIN_CONFIG_FILE);
            if (write_file_atomic(cfg_path, text, strlen(text), err, sizeof err)) die("%s", err);
            free(cfg_path);
        }
        wall = run_step(&cmp, dir, rec, &s, &ran);
        step_free(&s);
        bool trained = ran;
        Step ev = eval_step(&c, name, dir, adapter), gr = grid_step(&c, name, dir, adapter, dir);
        bool ran_eval = trained, ran_grid = trained;
        run_step(&cmp, dir, rec, &ev, &ran_eval);
        run_step(&cmp, dir, rec, &gr, &ran_grid);

        if (compare_row_load(&cmp.rows[i], name, obj, dir, ev.output, gr.output, adapter, wall, err, sizeof err))
            die("%s (objective %s)", err, name);
        cmp.rows[i].reused = !ran_eval && !ran_grid;
        cmp.nrows = i + 1;
        write_outputs(&cmp, i + 1);
        step_free(&ev), step_free(&gr);
        cJSON_Delete(rec), cJSON_Delete(train_cfg);
        free(text), free(dir), free(adapter), free(output);
    }
    print_table(&cmp);
    fprintf(stderr, "vkpref compare: report %s/report.html, numbers %s/summary.json\n", c.output_dir, c.output_dir);

    for (int i = 0; i < cmp.nrows; i++) compare_row_free(&cmp.rows[i]);
    for (int i = 0; i < cmp.ncmds; i++) free(cmp.cmds[i].line);
    free(cmp.rows), free(cmp.cmds), free(cmp.base_grid), free(cmp.eval_text), free(cmp.config_json);
    if (cmp.gpu_open) gpu_free(&cmp.gpu);
    compare_config_free(&c);
    return 0;
}
