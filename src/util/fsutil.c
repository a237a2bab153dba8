// fsutil.c: atomic file and folder replacement, mkdir -p, rm -rf (see fsutil.h).
#include "util/fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/check.h"

// Returns a malloc'ed copy of the folder part of path ("." when there is none).
static char* parent_dir(const char* path) {
    const char* slash = strrchr(path, '/');
    if (!slash) return xstrdup(".");
    if (slash == path) return xstrdup("/");
    size_t n = (size_t)(slash - path);
    char* d = xmalloc(n + 1);
    memcpy(d, path, n);
    d[n] = 0;
    return d;
}

static char* concat(const char* a, const char* b) {
    size_t na = strlen(a), nb = strlen(b);
    char* s = xmalloc(na + nb + 1);
    memcpy(s, a, na);
    memcpy(s + na, b, nb + 1);
    return s;
}

char* path_join(const char* a, const char* b) {
    size_t na = strlen(a);
    while (na > 1 && a[na - 1] == '/') na--;
    while (*b == '/') b++;
    size_t nb = strlen(b);
    char* s = xmalloc(na + 1 + nb + 1);
    memcpy(s, a, na);
    s[na] = '/';
    memcpy(s + na + 1, b, nb + 1);
    return s;
}

bool path_exists(const char* path) {
    struct stat st;
    return lstat(path, &st) == 0;
}

bool path_is_dir(const char* path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

int fsync_dir(const char* path, char* err, size_t errlen) {
    int fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return fail(err, errlen, "%s: cannot open folder to sync: %s", path, strerror(errno));
    // Some file systems (e.g. some network mounts) refuse fsync on folders; the
    // rename itself already happened, so only real I/O errors count.
    int r = fsync(fd);
    int e = errno;
    close(fd);
    if (r != 0 && e != EINVAL && e != ENOTSUP)
        return fail(err, errlen, "%s: fsync of folder failed: %s", path, strerror(e));
    return 0;
}

int mkdir_p(const char* path, char* err, size_t errlen) {
    if (!path || !*path) return fail(err, errlen, "mkdir: empty path");
    char* p = xstrdup(path);
    size_t n = strlen(p);
    // Walk the components left to right; each prefix is created when missing.
    for (size_t i = 1; i <= n; i++) {
        if (p[i] != '/' && p[i] != 0) continue;
        char saved = p[i];
        p[i] = 0;
        if (mkdir(p, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            int r = fail(err, errlen, "%s: cannot create folder %s: %s", path, p, strerror(e));
            free(p);
            return r;
        }
        if (!path_is_dir(p)) {
            int r = fail(err, errlen, "%s: %s exists and is not a folder", path, p);
            free(p);
            return r;
        }
        p[i] = saved;
    }
    free(p);
    return 0;
}

static int remove_one(const char* fpath, const struct stat* sb, int typeflag, struct FTW* ftwbuf) {
    (void)sb, (void)typeflag, (void)ftwbuf;
    return remove(fpath) == 0 ? 0 : -1;  // errno survives nftw's return
}

int remove_tree(const char* path, char* err, size_t errlen) {
    if (!path_exists(path)) return 0;
    // FTW_DEPTH: children before their folder; FTW_PHYS: never follow links out of the tree.
    if (nftw(path, remove_one, 16, FTW_DEPTH | FTW_PHYS) != 0)
        return fail(err, errlen, "%s: cannot remove: %s", path, strerror(errno));
    return 0;
}

// ---------------------------------------------------------------------------
// Atomic file.

int atomic_write_begin(AtomicFile* af, const char* path, char* err, size_t errlen) {
    memset(af, 0, sizeof *af);
    af->path = xstrdup(path);
    af->tmp_path = concat(path, ".tmp-XXXXXX");
    int fd = mkstemp(af->tmp_path);
    if (fd < 0) {
        int e = errno;
        free(af->tmp_path), af->tmp_path = NULL;
        free(af->path), af->path = NULL;
        return fail(err, errlen, "%s: cannot create a temporary file beside it: %s", path, strerror(e));
    }
    // mkstemp creates 0600; outputs are meant to be shared like any other file.
    fchmod(fd, 0644);
    af->f = fdopen(fd, "wb");
    if (!af->f) {
        int e = errno;
        close(fd);
        atomic_write_abort(af);
        return fail(err, errlen, "%s: fdopen failed: %s", path, strerror(e));
    }
    return 0;
}

void atomic_write_abort(AtomicFile* af) {
    if (af->f) fclose(af->f);
    if (af->tmp_path) unlink(af->tmp_path);
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
}

int atomic_write_commit(AtomicFile* af, char* err, size_t errlen) {
    if (!af->f) return fail(err, errlen, "%s: commit without a successful begin", af->path ? af->path : "(null)");
    const char* what = NULL;
    int e = 0;
    // ferror catches any earlier failed fwrite (e.g. disk full) the caller did not check.
    if (fflush(af->f) != 0)
        what = "write failed", e = errno;
    else if (ferror(af->f))
        what = "write failed", e = EIO;
    else if (fsync(fileno(af->f)) != 0)
        what = "fsync failed", e = errno;
    int close_r = fclose(af->f);
    af->f = NULL;
    if (!what && close_r != 0) what = "close failed", e = errno;
    if (!what && rename(af->tmp_path, af->path) != 0) what = "rename into place failed", e = errno;
    if (what) {
        int r = fail(err, errlen, "%s: %s: %s", af->path, what, strerror(e));
        atomic_write_abort(af);
        return r;
    }
    char* dir = parent_dir(af->path);
    int r = fsync_dir(dir, err, errlen);
    free(dir);
    free(af->tmp_path);
    free(af->path);
    memset(af, 0, sizeof *af);
    return r;
}

int write_file_atomic(const char* path, const void* data, size_t n, char* err, size_t errlen) {
    AtomicFile af;
    if (atomic_write_begin(&af, path, err, errlen) != 0) return -1;
    if (n && fwrite(data, 1, n, af.f) != n) {
        int r = fail(err, errlen, "%s: write failed: %s", path, strerror(errno));
        atomic_write_abort(&af);
        return r;
    }
    return atomic_write_commit(&af, err, errlen);
}

// ---------------------------------------------------------------------------
// Atomic folder.

int atomic_dir_begin(AtomicDir* d, const char* path, char* err, size_t errlen) {
    memset(d, 0, sizeof *d);
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;  // "ckpt/" and "ckpt" name the same folder
    d->path = xmalloc(n + 1);
    memcpy(d->path, path, n);
    d->path[n] = 0;
    char* parent = parent_dir(d->path);
    int r = mkdir_p(parent, err, errlen);
    free(parent);
    if (r != 0) {
        atomic_dir_abort(d);
        return -1;
    }
    d->tmp_path = concat(d->path, ".tmp-XXXXXX");
    if (!mkdtemp(d->tmp_path)) {
        int e = errno;
        free(d->tmp_path), d->tmp_path = NULL;
        r = fail(err, errlen, "%s: cannot create a temporary folder beside it: %s", d->path, strerror(e));
        atomic_dir_abort(d);
        return r;
    }
    chmod(d->tmp_path, 0755);  // mkdtemp makes 0700
    return 0;
}

void atomic_dir_abort(AtomicDir* d) {
    if (d->tmp_path) remove_tree(d->tmp_path, NULL, 0);
    free(d->tmp_path);
    free(d->path);
    memset(d, 0, sizeof *d);
}

int atomic_dir_commit(AtomicDir* d, char* err, size_t errlen) {
    if (!d->tmp_path) return fail(err, errlen, "%s: commit without a successful begin", d->path ? d->path : "(null)");
    if (fsync_dir(d->tmp_path, err, errlen) != 0) {
        atomic_dir_abort(d);
        return -1;
    }
    char* parent = parent_dir(d->path);
    int r = 0;
    struct stat st;
    if (lstat(d->path, &st) != 0) {
        // Nothing there yet: a plain rename.
        if (rename(d->tmp_path, d->path) != 0)
            r = fail(err, errlen, "%s: rename into place failed: %s", d->path, strerror(errno));
    } else if (!S_ISDIR(st.st_mode)) {
        r = fail(err, errlen, "%s: exists and is not a folder; not replacing it", d->path);
    } else if (renameat2(AT_FDCWD, d->tmp_path, AT_FDCWD, d->path, RENAME_EXCHANGE) == 0) {
        // Swapped: tmp_path now holds the old folder; delete it below.
    } else if (errno == EINVAL || errno == ENOSYS || errno == ENOTSUP) {
        // No RENAME_EXCHANGE here: move the old folder aside onto an empty
        // placeholder (rename replaces an empty folder atomically), then move in.
        char* old = concat(d->path, ".old-XXXXXX");
        if (!mkdtemp(old))
            r = fail(err, errlen, "%s: cannot create a placeholder for the old folder: %s", d->path, strerror(errno));
        else if (rename(d->path, old) != 0) {
            r = fail(err, errlen, "%s: cannot move the old folder aside: %s", d->path, strerror(errno));
            rmdir(old);
        } else if (rename(d->tmp_path, d->path) != 0) {
            r = fail(err, errlen, "%s: rename into place failed: %s", d->path, strerror(errno));
            rename(old, d->path);  // put the old one back: never leave nothing behind
        } else {
            remove_tree(old, NULL, 0);
        }
        free(old);
    } else {
        r = fail(err, errlen, "%s: rename into place failed: %s", d->path, strerror(errno));
    }
    if (r == 0) {
        // After an exchange tmp_path holds the old contents; otherwise it is gone already.
        if (path_exists(d->tmp_path) && remove_tree(d->tmp_path, err, errlen) != 0) r = -1;
        if (r == 0) r = fsync_dir(parent, err, errlen);
        free(d->tmp_path), d->tmp_path = NULL;
    }
    free(parent);
    atomic_dir_abort(d);  // removes tmp_path if it is still there (failure), frees
    return r;
}

int remove_stale_temps(const char* path, char* err, size_t errlen) {
    size_t n = strlen(path);
    while (n > 1 && path[n - 1] == '/') n--;
    char* clean = xmalloc(n + 1);
    memcpy(clean, path, n);
    clean[n] = 0;
    char* dir = parent_dir(clean);
    const char* base = strrchr(clean, '/') ? strrchr(clean, '/') + 1 : clean;
    size_t nb = strlen(base);
    int removed = 0;
    DIR* dp = opendir(dir);
    if (!dp) {
        // A missing parent means there is nothing stale.
        int r = errno == ENOENT ? 0 : fail(err, errlen, "%s: cannot list %s: %s", path, dir, strerror(errno));
        free(dir), free(clean);
        return r;
    }
    struct dirent* de;
    while ((de = readdir(dp))) {
        const char* s = de->d_name;
        // Exactly the names mkstemp/mkdtemp produce: base + ".tmp-" or ".old-" + 6 characters.
        if (strncmp(s, base, nb) != 0) continue;
        if (strncmp(s + nb, ".tmp-", 5) != 0 && strncmp(s + nb, ".old-", 5) != 0) continue;
        if (strlen(s + nb + 5) != 6) continue;
        char* full = path_join(dir, s);
        if (remove_tree(full, err, errlen) != 0) {
            free(full);
            closedir(dp);
            free(dir), free(clean);
            return -1;
        }
        free(full);
        removed++;
    }
    closedir(dp);
    free(dir), free(clean);
    return removed;
}

char* read_file(const char* path, size_t* n, char* err, size_t errlen) {
    FILE* f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errlen, "%s: cannot open (%s)", path, strerror(errno));
        return NULL;
    }
    size_t cap = 1 << 16, len = 0;
    char* data = xmalloc(cap);
    for (;;) {
        if (len + 1 >= cap) data = xrealloc(data, cap *= 2);
        size_t got = fread(data + len, 1, cap - len - 1, f);
        len += got;
        if (got == 0) break;
    }
    int bad = ferror(f);
    fclose(f);
    if (bad) {
        snprintf(err, errlen, "%s: read error", path);
        free(data);
        return NULL;
    }
    data[len] = 0;
    if (n) *n = len;
    return data;
}

const char* find_data_file(const char* rel, char* out, size_t n) {
    snprintf(out, n, "%s", rel);
    if (path_exists(rel) || rel[0] == '/') return out;
    char exe[4096];
    ssize_t k = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (k <= 0) return out;
    exe[k] = 0;
    char* slash = strrchr(exe, '/');
    if (!slash) return out;
    *slash = 0;
    static const char* const prefixes[] = {"/..", ""};
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++) {
        char cand[8192];
        snprintf(cand, sizeof cand, "%s%s/%s", exe, prefixes[i], rel);
        if (path_exists(cand)) {
            snprintf(out, n, "%s", cand);
            break;
        }
    }
    return out;
}

// ---------------------------------------------------------------------------
// Output checks.

int output_path_check(const char* path, OutputKind kind, char* err, size_t errlen) {
    if (!path || !*path) return fail(err, errlen, "empty output path");
    struct stat st;
    bool exists = stat(path, &st) == 0;
    if (exists && kind == OUTPUT_FILE && S_ISDIR(st.st_mode))
        return fail(err, errlen, "%s: is a folder, expected a file name", path);
    if (exists && kind != OUTPUT_FILE && !S_ISDIR(st.st_mode))
        return fail(err, errlen, "%s: exists and is not a folder", path);
    // Where new entries appear: inside an existing folder written into, else
    // beside path (temporary name + rename) or in the nearest existing ancestor.
    char* where = exists && kind == OUTPUT_FOLDER ? xstrdup(path) : parent_dir(path);
    while (stat(where, &st) != 0 && errno == ENOENT && strcmp(where, "/") && strcmp(where, ".")) {
        char* up = parent_dir(where);
        free(where);
        where = up;
    }
    int r = 0;
    if (stat(where, &st) != 0 || !S_ISDIR(st.st_mode)) {
        r = fail(err, errlen, "%s: cannot be created: %s is not a folder", path, where);
    } else {
        char* probe = concat(where, "/.vkpref-write-test-XXXXXX");
        int fd = mkstemp(probe);
        if (fd < 0) r = fail(err, errlen, "%s: cannot write in folder %s: %s", path, where, strerror(errno));
        else close(fd), unlink(probe);
        free(probe);
    }
    free(where);
    return r;
}
