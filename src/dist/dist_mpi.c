// dist_mpi.c: dist.h over MPI (built with VKPREF_MPI).
//
// MPI starts only under a launcher: a plain `vkpref train` stays a single
// process without MPI_Init, which in Open MPI would try to start a runtime of
// its own (slow, and it fails where no daemon may be spawned).
#include "dist/dist.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/check.h"

// Floats per MPI_Allreduce: large enough to reach the link's bandwidth, small
// enough that the library needs no second buffer of the whole gradient.
#define BUCKET_FLOATS ((int64_t)1 << 22)

static struct {
    bool joined;
    MPI_Comm comm;
    int rank, size, local_rank, local_size;
    char backend[MPI_MAX_LIBRARY_VERSION_STRING];
    char note[1024];
} g_dist = {.size = 1, .local_size = 1};

static bool under_launcher(void) {
    static const char* const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

// die() and fatal device errors: take the whole job down with this process's status.
static void abort_job_on_fatal_exit(void) { dist_abort(fatal_exit_status()); }

int dist_init(int* argc, char*** argv, char* err, size_t errlen) {
    if (g_dist.joined || !under_launcher()) return 0;
    int provided, version_len;
    // Funneled: only the main thread calls MPI (kernel compiles run on other threads).
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS)
        return fail(err, errlen, "MPI_Init_thread failed");
    MPI_Comm_dup(MPI_COMM_WORLD, &g_dist.comm);
    MPI_Comm_rank(g_dist.comm, &g_dist.rank);
    MPI_Comm_size(g_dist.comm, &g_dist.size);
    MPI_Comm local;
    MPI_Comm_split_type(g_dist.comm, MPI_COMM_TYPE_SHARED, g_dist.rank, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &g_dist.local_rank);
    MPI_Comm_size(local, &g_dist.local_size);
    MPI_Comm_free(&local);
    char version[MPI_MAX_LIBRARY_VERSION_STRING];
    MPI_Get_library_version(version, &version_len);
    version[strcspn(version, ",\n")] = 0;  // "Open MPI v4.1.4, package: ..." -> "Open MPI v4.1.4"
    snprintf(g_dist.backend, sizeof g_dist.backend, "%s", version);
    g_dist.joined = true;
    on_fatal_exit(abort_job_on_fatal_exit);
    return 0;
}

void dist_finalize(void) {
    if (!g_dist.joined) return;
    MPI_Comm_free(&g_dist.comm);
    MPI_Finalize();
    g_dist.joined = false;
}

int dist_rank(void) { return g_dist.rank; }
int dist_size(void) { return g_dist.size; }
int dist_local_rank(void) { return g_dist.local_rank; }
int dist_local_size(void) { return g_dist.local_size; }
const char* dist_backend(void) { return g_dist.joined ? g_dist.backend : "none"; }

void dist_barrier(void) {
    if (g_dist.joined) MPI_Barrier(g_dist.comm);
}

void dist_sum_floats(float* x, int64_t n) {
    if (!g_dist.joined || g_dist.size == 1) return;
    for (int64_t off = 0; off < n; off += BUCKET_FLOATS) {
        int count = (int)(n - off < BUCKET_FLOATS ? n - off : BUCKET_FLOATS);
        MPI_Allreduce(MPI_IN_PLACE, x + off, count, MPI_FLOAT, MPI_SUM, g_dist.comm);
    }
}

void dist_mean_doubles(double* x, int n) {
    if (!g_dist.joined || g_dist.size == 1) return;
    MPI_Allreduce(MPI_IN_PLACE, x, n, MPI_DOUBLE, MPI_SUM, g_dist.comm);
    for (int i = 0; i < n; i++) x[i] /= g_dist.size;
}

void dist_broadcast(void* buf, size_t bytes) {
    if (!g_dist.joined || g_dist.size == 1) return;
    if (bytes > (size_t)1 << 30) die("dist_broadcast: %zu bytes at once", bytes);
    MPI_Bcast(buf, (int)bytes, MPI_BYTE, 0, g_dist.comm);
}

bool dist_all_equal(uint64_t v) {
    if (!g_dist.joined || g_dist.size == 1) return true;
    // max(v) == v and max(~v) == ~v: every process holds v, in one reduction.
    uint64_t m[2] = {v, ~v};
    MPI_Allreduce(MPI_IN_PLACE, m, 2, MPI_UINT64_T, MPI_MAX, g_dist.comm);
    return m[0] == v && m[1] == ~v;
}

void dist_set_abort_note(const char* note) { snprintf(g_dist.note, sizeof g_dist.note, "%s", note); }

void dist_abort(int status) {
    if (!g_dist.joined) exit(status);
    fprintf(stderr, "vkpref: rank %d of %d stopped with exit status %d: stopping every rank%s%s\n", g_dist.rank,
            g_dist.size, status, *g_dist.note ? "; " : "", g_dist.note);
    fflush(stderr);
    MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    exit(status);  // not reached: MPI_Abort does not return
}
