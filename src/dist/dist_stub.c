// dist_stub.c: dist.h without MPI (VKPREF_MPI off): always one process of one.
#include "dist/dist.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"

// Several copies started by a launcher would each train alone into one folder: refuse.
int dist_init(int* argc, char*** argv, char* err, size_t errlen) {
    static const char* const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++) {
        const char* v = getenv(vars[i]);
        if (v && atoi(v) > 1)
            return fail(err, errlen, "started as one of %s processes (%s), but this vkpref was built without MPI: "
                        "rebuild with -DVKPREF_MPI=on", v, vars[i]);
    }
    return 0;
}
void dist_finalize(void) {}
int dist_rank(void) { return 0; }
int dist_size(void) { return 1; }
int dist_local_rank(void) { return 0; }
int dist_local_size(void) { return 1; }
const char* dist_backend(void) { return "none"; }
void dist_barrier(void) {}
void dist_sum_floats(float* x, int64_t n) {}
void dist_gather_floats(const float* mine, float* all, int64_t n) { memmove(all, mine, (size_t)n * sizeof *all); }
void dist_share(int64_t n, int64_t* lo, int64_t* hi) { *lo = 0, *hi = n; }
void dist_gather_shares_to_lead(float* x, int64_t n, int64_t unit_len) {}
void dist_mean_doubles(double* x, int n) {}
void dist_broadcast(void* buf, size_t bytes) {}
bool dist_all_equal(uint64_t v) { return true; }
void dist_set_abort_note(const char* note) {}
void dist_abort(int status) { exit(status); }
