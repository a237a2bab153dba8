#!/usr/bin/env bash
# gpu_bundle.sh: pack what tools/gpu_check.sh needs on a GPU machine that has an
# NVIDIA driver (with its Vulkan ICD) and PyTorch, but none of this machine's
# build: no compiler, no Debian packages, possibly no Vulkan loader.
#
#   tools/gpu_bundle.sh [--build DIR] [--out DIR] [--no-validation] [--no-fmnist]
#
# Writes into DIR (default .gpu, git-ignored), replacing what was there:
#   bundle.tar.xz   bin/: build/vkpref and every build/test_* executable (stripped
#                   copies); lib/: the shared libraries they load, found with
#                   ldd (cJSON, libpng, libjpeg, zlib, Criterion and its dependencies,
#                   the Vulkan loader libvulkan.so.1), glibc's own libraries
#                   excepted; lib-cxx/: libstdc++ and libgcc_s for the layer,
#                   used only where the GPU machine's are older; layer/: the Khronos
#                   validation layer (its JSON manifest, pointing next to
#                   itself, and its .so)
#   fashion-mnist/  the Fashion-MNIST files the tests read (already gzip'ed, so
#                   kept out of the archive)
#   MANIFEST.json   the commit, the source folder the executables were built in
#                   (the tests have their data folder compiled in), the newest
#                   glibc symbol version they need (and lib-cxx needs), the newest
#                   libstdc++ symbol version the layer needs, and the file list
# xz keeps the bundle near 40 MiB (uncompressed, the validation layer alone is
# 22 MiB). tools/gpu_check.sh unpacks the archive into a temporary folder.
#
# The executables come from DIR's build (default build; configure and build
# first: see README.md). Copy the checkout with the bundle folder to the GPU
# machine and run tools/gpu_check.sh there; docs/GPU.md has the steps.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/build" out="$root/.gpu" validation=1 fmnist=1
usage() { awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; }
while [ $# -gt 0 ]; do
    case "$1" in
        --build) build=$(cd "$2" && pwd); shift 2 ;;
        --out) out=$2; shift 2 ;;
        --no-validation) validation=0; shift ;;
        --no-fmnist) fmnist=0; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_bundle.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
done

die() { echo "gpu_bundle.sh: $*" >&2; exit 1; }
for tool in ldd objdump strip xz tar python3; do
    command -v "$tool" >/dev/null || die "$tool is missing (Debian: binutils, xz-utils, tar, python3)"
done
[ -x "$build/vkpref" ] || die "$build/vkpref is missing: build first (cmake -S . -B build && cmake --build build)"
mapfile -t tests < <(find "$build" -maxdepth 1 -type f -name 'test_*' -perm -u+x | sort)
[ ${#tests[@]} -gt 0 ] || die "no test executables in $build (configure with -DVKPREF_TESTS=ON and build)"
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build/CMakeCache.txt" 2>/dev/null || true)
[ -n "$source_dir" ] || source_dir=$root

layer_json="" layer_so=""
if [ "$validation" = 1 ]; then
    for d in /usr/share/vulkan/explicit_layer.d /etc/vulkan/explicit_layer.d /usr/local/share/vulkan/explicit_layer.d; do
        [ -f "$d/VkLayer_khronos_validation.json" ] && { layer_json="$d/VkLayer_khronos_validation.json"; break; }
    done
    [ -n "$layer_json" ] || die "the Khronos validation layer is not installed (apt-get install vulkan-validationlayers)"
    layer_lib=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["layer"]["library_path"])' "$layer_json")
    case "$layer_lib" in
        /*) layer_so=$layer_lib ;;
        */*) layer_so=$(dirname "$layer_json")/$layer_lib ;;
        *) layer_so=$(ldconfig -p | awk -v n="$layer_lib" '$1 == n && /x86-64/ { print $NF; exit }') ;;
    esac
    { [ -n "$layer_so" ] && [ -f "$layer_so" ]; } || die "cannot find $layer_lib, the library of $layer_json"
fi

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir -p "$stage/bin" "$stage/lib" "$stage/lib-cxx" "$stage/layer"
for exe in "$build/vkpref" "${tests[@]}"; do
    strip -o "$stage/bin/$(basename "$exe")" "$exe"
done
if [ -n "$layer_so" ]; then
    cp "$layer_so" "$stage/layer/libVkLayer_khronos_validation.so"
    python3 - "$layer_json" "$stage/layer/VkLayer_khronos_validation.json" <<'EOF'
import json, sys
m = json.load(open(sys.argv[1]))
m["layer"]["library_path"] = "./libVkLayer_khronos_validation.so"  # relative to the manifest
json.dump(m, open(sys.argv[2], "w"), indent=4)
EOF
fi

# Every shared library the executables and the layer load, by soname, except
# glibc's (the GPU machine's own glibc must be used with its own dynamic loader).
glibc_re='^(linux-vdso\.so|ld-linux|libc\.so|libm\.so|libmvec\.so|libpthread\.so|libdl\.so|librt\.so|libresolv\.so|libutil\.so|libanl\.so|libnsl\.so|libBrokenLocale\.so|libcrypt\.so)'
elfs=("$stage"/bin/*)
[ -z "$layer_so" ] || elfs+=("$stage/layer/libVkLayer_khronos_validation.so")
missing=$(ldd "${elfs[@]}" 2>/dev/null | awk '/=> not found/ { print $1 }' | sort -u)
[ -z "$missing" ] || die "libraries not found on this machine: $missing"
# The C++ runtime (the validation layer's) goes to lib-cxx: Debian 12's needs
# glibc 2.36, so gpu_check.sh uses it only where the GPU machine's own is too old.
while read -r name path; do
    [[ "$name" =~ $glibc_re ]] && continue
    case "$name" in
        libstdc++.so.*|libgcc_s.so.*) cp -L "$path" "$stage/lib-cxx/$name" ;;
        *) cp -L "$path" "$stage/lib/$name" ;;
    esac
done < <(ldd "${elfs[@]}" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// { print $1, $3 }' | sort -u)

newest_glibc() { objdump -T "$@" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sed 's/GLIBC_//' | sort -Vu | tail -1; }
glibc_needed=$(newest_glibc "${elfs[@]}" "$stage"/lib/*)
glibc_needed_cxx=$(newest_glibc "$stage"/lib-cxx/* 2>/dev/null || true)
glibcxx_needed=$(objdump -T "${elfs[@]}" "$stage"/lib/* 2>/dev/null | grep -o 'GLIBCXX_[0-9][0-9.]*' | sed 's/GLIBCXX_//' |
                 sort -Vu | tail -1 || true)
commit=$(git -C "$root" rev-parse HEAD 2>/dev/null || echo unknown)
dirty=$(git -C "$root" status --porcelain --untracked-files=no 2>/dev/null | grep -q . && echo true || echo false)

rm -rf "$out"
mkdir -p "$out"
tar -C "$stage" -cf - bin lib lib-cxx layer | xz -T0 -6 > "$out/bundle.tar.xz"
if [ "$fmnist" = 1 ]; then
    fm=${VKPREF_FMNIST_DIR:-/usr/share/datasets/fashion-mnist}
    mkdir -p "$out/fashion-mnist"
    for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
        [ -f "$fm/$f" ] || die "$fm/$f is missing (apt-get install dataset-fashion-mnist, or --no-fmnist)"
        cp "$fm/$f" "$out/fashion-mnist/"
    done
fi
python3 - "$out/MANIFEST.json" "$stage" "$commit" "$dirty" "$source_dir" "$glibc_needed" "$glibc_needed_cxx" \
    "$glibcxx_needed" "$validation" "$fmnist" <<'EOF'
import json, os, sys, time
path, stage, commit, dirty, source_dir, glibc, glibc_cxx, glibcxx, validation, fmnist = sys.argv[1:]
files = sorted(os.path.relpath(os.path.join(d, f), stage) for d, _, fs in os.walk(stage) for f in fs)
json.dump({"format": 1, "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "commit": commit,
           "dirty": dirty == "true", "source_dir": source_dir, "glibc_needed": glibc, "glibc_needed_lib_cxx": glibc_cxx,
           "glibcxx_needed": glibcxx,
           "validation_layer": validation == "1", "fashion_mnist": fmnist == "1",
           "tests": sorted(f[len("bin/"):] for f in files if f.startswith("bin/test_")), "files": files},
          open(path, "w"), indent=1)
EOF
echo "gpu_bundle.sh: $out: $(du -sh "$out" | cut -f1) (${#tests[@]} test executables, $(find "$stage/lib" "$stage/lib-cxx" -type f | wc -l)" \
     "libraries, validation layer: $([ "$validation" = 1 ] && echo yes || echo no), glibc >= $glibc_needed needed)" >&2
