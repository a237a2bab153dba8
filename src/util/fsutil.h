// fsutil.h: file-system helpers that keep outputs whole. A file or a folder is
// written under a temporary sibling name ("<path>.tmp-XXXXXX"), flushed to disk,
// then renamed over the final name, so a reader (or a crash) never sees a
// half-written checkpoint, PNG or log.
// Every fallible call returns 0 on success or -1 with a message naming the path
// in err (errlen bytes, always NUL-terminated when errlen > 0).
#pragma once
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

// ---------------------------------------------------------------------------
// One file.

typedef struct AtomicFile {
    FILE* f;         // write through this between begin and commit
    char* path;      // final name
    char* tmp_path;  // "<path>.tmp-XXXXXX" in the same folder (rename is atomic only within one file system)
} AtomicFile;

// Creates the temporary file (mode 0644; the folder must exist).
int atomic_write_begin(AtomicFile* af, const char* path, char* err, size_t errlen);
// Flushes, checks for write errors, fsyncs, renames over path and fsyncs the
// folder. On failure the temporary file is removed and path is untouched.
// Either way af is released.
int atomic_write_commit(AtomicFile* af, char* err, size_t errlen);
// Removes the temporary file and releases af (safe after a failed begin).
void atomic_write_abort(AtomicFile* af);
// begin + fwrite + commit.
int write_file_atomic(const char* path, const void* data, size_t n, char* err, size_t errlen);

// ---------------------------------------------------------------------------
// One folder (checkpoints: a diffusers pipeline folder is replaced as a whole).

typedef struct AtomicDir {
    char* path;      // final name
    char* tmp_path;  // "<path>.tmp-XXXXXX": write the folder's contents here
} AtomicDir;

// Creates the parent folders and an empty temporary folder (mode 0755).
int atomic_dir_begin(AtomicDir* d, const char* path, char* err, size_t errlen);
// Renames the temporary folder into place. When path already exists, the two are
// swapped with renameat2(RENAME_EXCHANGE) (one atomic step) and the old contents
// are deleted; where the file system lacks RENAME_EXCHANGE, the old folder is
// first renamed aside, so path is briefly absent but never partial. Files inside
// should have been written with atomic_write_* or fsync'ed by the caller.
int atomic_dir_commit(AtomicDir* d, char* err, size_t errlen);
// Deletes the temporary folder and releases d.
void atomic_dir_abort(AtomicDir* d);

// Deletes "<path>.tmp-*" and "<path>.old-*" siblings that a killed run left
// behind (call before writing path again; single-writer assumption). Returns the
// number removed, or -1 with err.
int remove_stale_temps(const char* path, char* err, size_t errlen);

// ---------------------------------------------------------------------------
// Checking an output before the work that produces it (so a bad --out fails in
// a second, not after an hour of sampling).

typedef enum OutputKind {
    OUTPUT_FILE,             // a file, written under a temporary name beside it
    OUTPUT_FOLDER,           // a folder that files are written into
    OUTPUT_FOLDER_REPLACED,  // a folder replaced whole (atomic_dir_*): built beside it
} OutputKind;

// Fails when path exists as the wrong kind (a folder where a file goes, or the
// reverse) or when the folder the output will be created in cannot be written:
// the nearest existing one on the way, since missing folders are created later.
// Writability is tested by creating and removing a file there, which also holds
// for root and for read-only file systems. 0, or -1 with err naming path.
int output_path_check(const char* path, OutputKind kind, char* err, size_t errlen);

// ---------------------------------------------------------------------------
// Plain helpers.

// mkdir -p: creates every missing folder of path (mode 0755); existing ones are fine.
int mkdir_p(const char* path, char* err, size_t errlen);
// rm -rf without following symbolic links; a missing path is not an error.
int remove_tree(const char* path, char* err, size_t errlen);
bool path_exists(const char* path);
bool path_is_dir(const char* path);
// Fsyncs a folder so that a rename inside it survives a power cut.
int fsync_dir(const char* path, char* err, size_t errlen);
// Whole file, malloc'ed and NUL-terminated (*n bytes without the NUL; n may be NULL); NULL with err.
char* read_file(const char* path, size_t* n, char* err, size_t errlen);
// A data file named relative to the repository (e.g. "configs/models/x.json"):
// rel itself when it exists, else the same path beside the binary's folder
// (build/../rel) or inside it. Writes the found path (or rel) to out.
const char* find_data_file(const char* rel, char* out, size_t n);
// Returns malloc'ed "a/b" (no doubled '/').
char* path_join(const char* a, const char* b);
