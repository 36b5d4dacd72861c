#!/usr/bin/env bash
# Grade a class as a Slurm job array: array task K grades shard K of N.
# N is the number of array tasks: to change it, edit --array (it must be 0 to N-1).
# Edit WORKSPACE, SUBMISSIONS and OUT below.
#
# Submit, then merge once every task has succeeded:
#
#   jobid=$(sbatch --parsable slurm-array.sh)
#   sbatch --dependency=afterok:"${jobid%%;*}" --cpus-per-task=1 --mem=2G --time=00:30:00 \
#     --wrap='cd "$HOME/locksmith" && { cargo xtask merge "$HOME/class/out"/shard-* --out "$HOME/class/out/class" || [ $? -eq 1 ]; }'
#
# afterok waits for every task of the array. If a task fails, the merge job never starts:
# scancel it, fix the cause, re-run the task, then submit the merge again.
#
# To re-run some tasks of a class split N ways, carrying on from their earlier output:
#   SHARDS=4 RESUME=1 sbatch --array=2 slurm-array.sh
#
#SBATCH --job-name=locksmith-grade
#SBATCH --array=0-3
#SBATCH --cpus-per-task=2
#SBATCH --mem=4G
#SBATCH --time=01:00:00
#SBATCH --output=locksmith-grade-%A_%a.log

set -euo pipefail

WORKSPACE=$HOME/locksmith            # the locksmith workspace, checked out
SUBMISSIONS=$HOME/class/submissions  # the class's submissions (DIR)
OUT=$HOME/class/out                  # task K writes $OUT/shard-K

if [ -z "${SLURM_ARRAY_TASK_ID:-}" ]; then
    echo "slurm-array.sh: submit it with sbatch as a job array" >&2
    exit 2
fi
K=$SLURM_ARRAY_TASK_ID
if [ -n "${SHARDS:-}" ]; then
    N=$SHARDS
    if [ "$K" -ge "$N" ]; then
        echo "slurm-array.sh: task $K is not a shard of $N (0 to $((N - 1)))" >&2
        exit 2
    fi
else
    N=$SLURM_ARRAY_TASK_COUNT
    if [ "$SLURM_ARRAY_TASK_MIN" -ne 0 ] || [ "$SLURM_ARRAY_TASK_MAX" -ne $((N - 1)) ]; then
        echo "slurm-array.sh: --array must be 0-$((N - 1)) without gaps (or set SHARDS)" >&2
        exit 2
    fi
fi
resume=()
if [ "${RESUME:-0}" = 1 ]; then
    resume=(--resume)
fi

# rustup's cargo, if it is not already on PATH.
if [ -f "$HOME/.cargo/env" ]; then
    . "$HOME/.cargo/env"
fi

cd "$WORKSPACE"
status=0
cargo xtask batch "$SUBMISSIONS" --out "$OUT/shard-$K" --shard "$K/$N" \
    --jobs "${SLURM_CPUS_PER_TASK:-2}" ${resume[@]+"${resume[@]}"} || status=$?
# 1: graded, points lost (a result, not a failure); 2: the grader could not run.
if [ "$status" -eq 1 ]; then
    status=0
fi
exit "$status"
