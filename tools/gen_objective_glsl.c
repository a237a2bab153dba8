// gen_objective_glsl.c: writes the shader side of objective/objective.h at
// build time (CMake runs it into the build tree's objective_gen.glsl): the
// Objective enum values and the metric indices, so that the C table and the
// GLSL constants cannot drift apart.
// Usage: gen_objective_glsl OUT.glsl
#include <ctype.h>
#include <stdio.h>

#include "objective/objective.h"

static void upper(FILE* f, const char* s) {
    for (; *s; s++) fputc(toupper((unsigned char)*s), f);
}

int main(int argc, char** argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s OUT.glsl\n", argv[0]);
        return 2;
    }
    FILE* f = fopen(argv[1], "w");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    fprintf(f, "// objective_gen.glsl: generated from src/objective/objective.h by tools/gen_objective_glsl.c.\n\n");
    fprintf(f, "// enum Objective\n");
    for (int k = 0; k < OBJ_COUNT; k++) {
        fputs("#define OBJ_", f);
        upper(f, objective_name((Objective)k));
        fprintf(f, " %du\n", k);
    }
    fprintf(f, "#define OBJ_COUNT %du\n\n// enum DpoLoss\n", OBJ_COUNT);
    for (int k = 0; k < DPO_LOSS_COUNT; k++) {
        fputs("#define DPO_LOSS_", f);
        upper(f, objective_dpo_loss_name((DpoLoss)k));
        fprintf(f, " %du\n", k);
    }
    fprintf(f, "\n// enum ObjMetric (the layout of the metrics vector)\n");
    for (int m = 0; m < OBJ_METRICS_COUNT; m++) {
        fputs("#define OBJ_METRIC_", f);
        upper(f, objective_metric_name((ObjMetric)m));
        fprintf(f, " %d\n", m);
    }
    fprintf(f, "#define OBJ_METRICS_COUNT %d\n", OBJ_METRICS_COUNT);
    return fclose(f) ? 1 : 0;
}
