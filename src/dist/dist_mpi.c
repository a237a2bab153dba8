// dist_mpi.c: dist.h over MPI (built with VKPREF_MPI).
//
// MPI starts only under a launcher: a plain `vkpref train` stays a single
// process without MPI_Init, which in Open MPI would try to start a runtime of
// its own (slow, and it fails where no daemon may be spawned).
#include "dist/dist.h"

#include <errno.h>
#include <mpi.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "util/check.h"
#include "util/hash.h"

// Floats per MPI_Allreduce: large enough to reach the link's bandwidth, small
// enough that the library needs no second buffer of the whole gradient.
#define BUCKET_FLOATS ((int64_t)1 << 22)

static struct {
    bool joined;
    MPI_Comm comm;
    int rank, size, local_rank, local_size;
    char backend[MPI_MAX_LIBRARY_VERSION_STRING];
    // The abort note, written into the slot not in use and then switched to,
    // so that the signal handler never reads a half-written one.
    char note[2][1024];
    volatile sig_atomic_t note_slot;
    struct Peer { pid_t pid; uint64_t host; }* peers;  // every rank's process id and machine (a host name hash)
} g_dist = {.size = 1, .local_size = 1};

static bool under_launcher(void) {
    static const char* const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "PMI_RANK", "PMI_SIZE"};
    for (size_t i = 0; i < sizeof vars / sizeof *vars; i++)
        if (getenv(vars[i])) return true;
    return false;
}

// die() and fatal device errors: take the whole job down with this process's status.
static void abort_job_on_fatal_exit(void) { dist_abort(fatal_exit_status()); }

// A line built inside a signal handler: no stdio, no allocation.
typedef struct SafeLine {
    char buf[1400];
    size_t len;
} SafeLine;

static void line_str(SafeLine* l, const char* s) {
    while (*s && l->len < sizeof l->buf - 1) l->buf[l->len++] = *s++;
}

static void line_int(SafeLine* l, long v) {
    char digits[24];
    int n = 0;
    if (v < 0) line_str(l, "-"), v = -v;
    do digits[n++] = (char)('0' + v % 10);
    while ((v /= 10) && n < (int)sizeof digits);
    while (n && l->len < sizeof l->buf - 1) l->buf[l->len++] = digits[--n];
}

// SIGTERM: how a launcher ends the other ranks once one of them has died
// (mpirun after a `kill -9`, a crash or an MPI_Abort; srun --kill-on-bad-exit;
// a cancelled job). The rank says so before it ends, naming the ranks of its
// machine that are gone and the last complete checkpoint, then dies of the
// signal as it would have.
static void on_stop_signal(int sig) {
    int saved = errno;
    SafeLine l = {.len = 0};
    line_str(&l, "vkpref: rank ");
    line_int(&l, g_dist.rank);
    line_str(&l, " of ");
    line_int(&l, g_dist.size);
    int gone = 0;
    for (int i = 0; g_dist.peers && i < g_dist.size; i++) {
        if (i == g_dist.rank || g_dist.peers[i].host != g_dist.peers[g_dist.rank].host) continue;
        if (kill(g_dist.peers[i].pid, 0) == 0 || errno != ESRCH) continue;
        line_str(&l, gone++ ? ", rank " : ": stopping because rank ");
        line_int(&l, i);
        line_str(&l, " (process ");
        line_int(&l, g_dist.peers[i].pid);
        line_str(&l, ")");
    }
    line_str(&l, gone ? (gone > 1 ? " have ended" : " has ended")
                      : ": stopped by SIGTERM (the launcher ending the job: another rank failed, "
                        "or the job was cancelled)");
    const char* note = g_dist.note[g_dist.note_slot];
    if (*note) line_str(&l, "; "), line_str(&l, note);
    line_str(&l, "\n");
    ssize_t w = write(STDERR_FILENO, l.buf, l.len);
    (void)w;
    errno = saved;
    signal(sig, SIG_DFL);
    raise(sig);
}

// Every rank's process id and machine, for on_stop_signal.
static void share_peers(void) {
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    struct Peer me = {getpid(), hash64(HASH64_INIT, host, strlen(host))};
    g_dist.peers = xcalloc((size_t)g_dist.size, sizeof *g_dist.peers);
    MPI_Allgather(&me, (int)sizeof me, MPI_BYTE, g_dist.peers, (int)sizeof me, MPI_BYTE, g_dist.comm);
    struct sigaction sa = {.sa_handler = on_stop_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
}

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
    share_peers();
    atexit(dist_finalize);  // a command that returns from main leaves the job too
    on_fatal_exit(abort_job_on_fatal_exit);
    return 0;
}

void dist_finalize(void) {
    if (!g_dist.joined) return;
    signal(SIGTERM, SIG_DFL);
    free(g_dist.peers);
    g_dist.peers = NULL;
    MPI_Comm_free(&g_dist.comm);
    MPI_Finalize();
    g_dist.joined = false;
}

int dist_rank(void) { return g_dist.rank; }
int dist_size(void) { return g_dist.size; }
int dist_local_rank(void) { return g_dist.local_rank; }
int dist_local_size(void) { return g_dist.local_size; }
const char* dist_backend(void) { return g_dist.joined ? g_dist.backend : "none"; }

// Polls with a sleep instead of MPI_Barrier's spin: the ranks waiting here (for
// rank 0's checkpoint or validation, or one rank's solo benchmark) leave the
// cores to the one that works; a barrier is rare enough for 1 ms more.
void dist_barrier(void) {
    if (!g_dist.joined) return;
    MPI_Request req;
    MPI_Ibarrier(g_dist.comm, &req);
    for (int done = 0;;) {
        MPI_Test(&req, &done, MPI_STATUS_IGNORE);
        if (done) return;
        nanosleep(&(struct timespec){.tv_nsec = 1000000}, NULL);
    }
}

void dist_sum_floats(float* x, int64_t n) {
    if (!g_dist.joined || g_dist.size == 1) return;
    for (int64_t off = 0; off < n; off += BUCKET_FLOATS) {
        int count = (int)(n - off < BUCKET_FLOATS ? n - off : BUCKET_FLOATS);
        MPI_Allreduce(MPI_IN_PLACE, x + off, count, MPI_FLOAT, MPI_SUM, g_dist.comm);
    }
}

void dist_gather_floats(const float* mine, float* all, int64_t n) {
    if (!g_dist.joined || g_dist.size == 1) {
        memmove(all, mine, (size_t)n * sizeof *all);
        return;
    }
    if (n > INT32_MAX) die("dist_gather_floats: %lld floats at once", (long long)n);
    MPI_Allgather(mine, (int)n, MPI_FLOAT, all, (int)n, MPI_FLOAT, g_dist.comm);
}

void dist_share(int64_t n, int64_t* lo, int64_t* hi) {
    *lo = n * g_dist.rank / g_dist.size;
    *hi = n * (g_dist.rank + 1) / g_dist.size;
}

void dist_gather_shares_to_lead(float* x, int64_t n, int64_t unit_len) {
    if (!g_dist.joined || g_dist.size == 1) return;
    if (n * unit_len > INT32_MAX) die("dist_gather_shares_to_lead: %lld floats at once", (long long)(n * unit_len));
    int* counts = xmalloc(2 * (size_t)g_dist.size * sizeof *counts);
    int* offsets = counts + g_dist.size;
    for (int k = 0; k < g_dist.size; k++) {
        int64_t lo = n * k / g_dist.size, hi = n * (k + 1) / g_dist.size;
        counts[k] = (int)((hi - lo) * unit_len), offsets[k] = (int)(lo * unit_len);
    }
    float* mine = x + offsets[g_dist.rank];
    MPI_Gatherv(g_dist.rank == 0 ? MPI_IN_PLACE : mine, counts[g_dist.rank], MPI_FLOAT, x, counts, offsets, MPI_FLOAT,
                0, g_dist.comm);
    free(counts);
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

void dist_set_abort_note(const char* note) {
    int next = !g_dist.note_slot;
    snprintf(g_dist.note[next], sizeof g_dist.note[next], "%s", note);
    g_dist.note_slot = next;
}

void dist_abort(int status) {
    if (!g_dist.joined) exit(status);
    const char* note = g_dist.note[g_dist.note_slot];
    fprintf(stderr, "vkpref: rank %d of %d stopped with exit status %d: stopping every rank%s%s\n", g_dist.rank,
            g_dist.size, status, *note ? "; " : "", note);
    fflush(stderr);
    signal(SIGTERM, SIG_DFL);  // this rank said why already
    MPI_Abort(MPI_COMM_WORLD, status ? status : 1);
    exit(status);  // not reached: MPI_Abort does not return
}
