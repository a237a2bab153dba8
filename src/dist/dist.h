// dist.h: the processes of a data-parallel run. Built with MPI (VKPREF_MPI),
// a program started by a launcher (mpirun, srun --mpi=pmix) joins its job;
// otherwise, and always without MPI, it is one process of one (dist_stub.c).
//
// Every call but dist_init, dist_rank/size and the local ones is collective:
// all processes make it, in the same order. Without a job they do nothing.
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// Joins the launcher's job when there is one (once per process; later calls
// return at once). 0, or -1 with err when the MPI library fails to start.
int dist_init(int* argc, char*** argv, char* err, size_t errlen);
// Leaves the job (after the last collective call).
void dist_finalize(void);

int dist_rank(void);        // 0 .. dist_size() - 1
int dist_size(void);        // processes in the job (1 without one)
int dist_local_rank(void);  // rank among the processes on this machine: picks the device
int dist_local_size(void);
static inline bool dist_lead(void) { return dist_rank() == 0; }  // writes outputs
static inline bool dist_active(void) { return dist_size() > 1; }
// "Open MPI v4.1.4" (the library's name and version), or "none".
const char* dist_backend(void);

void dist_barrier(void);
// x[0..n) := the sum over processes, element by element, in place, in buckets
// of a fixed size taken in order. The MPI standard recommends that every
// process get the same bits, and Open MPI's algorithms do; a training run
// compares weight hashes to catch a library that does not.
void dist_sum_floats(float* x, int64_t n);
// all[0..size x n) := every process's mine[0..n), in rank order (MPI_Allgather).
void dist_gather_floats(const float* mine, float* all, int64_t n);
// Work split between the processes: this one's share [*lo, *hi) of n units,
// contiguous and in rank order (n k / size .. n (k + 1) / size for rank k).
void dist_share(int64_t n, int64_t* lo, int64_t* hi);
// x holds n units of unit_len floats; each process has filled its share
// (dist_share). Afterwards rank 0's x holds every unit (MPI_Gatherv); the
// others' x is unchanged.
void dist_gather_shares_to_lead(float* x, int64_t n, int64_t unit_len);
// x[0..n) := the mean over processes.
void dist_mean_doubles(double* x, int n);
// Copies rank 0's bytes into every process's buf.
void dist_broadcast(void* buf, size_t bytes);
// Whether every process passed the same value (compared through min and max).
bool dist_all_equal(uint64_t v);

// A line naming what a user needs after a crash ("last complete checkpoint:
// ..."), printed when this process stops the job.
void dist_set_abort_note(const char* note);
// Stops every process of the job with this exit status (MPI_Abort), after a
// message naming this rank; in a single process, exit(status). Also run by
// die() and fatal device errors once dist_init joined a job.
_Noreturn void dist_abort(int status);
