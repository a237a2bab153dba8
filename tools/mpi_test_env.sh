# mpi_test_env.sh: sourced by the tools/mpi_*.sh tests after they set $with_mpi:
# skips (exit 77) when vkpref was built without MPI or mpirun is missing, sets $src
# (the repository) and makes the scratch folder $out (/tmp/$1_XXXXXX, removed at exit).
src=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
case "$with_mpi" in ON | on | 1 | TRUE | true) ;; *) echo "built without MPI: skipped"; exit 77 ;; esac
command -v mpirun >/dev/null || { echo "mpirun not found: skipped"; exit 77; }
out=$(mktemp -d "/tmp/$1_XXXXXX")
trap 'rm -rf "$out"' EXIT
