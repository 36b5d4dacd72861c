#!/usr/bin/env bash
# Grade a class on several machines with GNU parallel over ssh. The K-th host of the hosts
# file grades shard K of N (N = the number of hosts); each shard's output is copied back
# here with rsync, then the shards are merged here.
#
# Usage: gnu-parallel-ssh.sh [HOSTS_FILE]         (default: hosts.txt)
#   HOSTS_FILE          one sshlogin a line (host, user@host, ssh -p 2222 host); blank lines
#                       and lines starting with # are ignored. One line per machine.
#   RESUME=1            carry on after an interruption (same hosts file, same order)
#   COPY_SUBMISSIONS=1  first copy $SUBMISSIONS from here to the same path on every host
# The paths below can be edited here or set in the environment; use absolute paths.
#
# Every host needs: ssh login without a password prompt; bash, perl and rsync (GNU
# parallel's remote side); stable Rust installed with rustup; the locksmith workspace at
# $WORKSPACE, at the same commit everywhere (merge refuses shards from different grader or
# checks versions); the submissions at $SUBMISSIONS (a shared filesystem, or
# COPY_SUBMISSIONS=1); no other grader or heavy job running.
# This machine needs: GNU parallel, rsync, and a checkout of the same commit at
# $LOCAL_WORKSPACE, with stable Rust, for the merge.
set -euo pipefail

HOSTS_FILE=${1:-hosts.txt}
WORKSPACE=${WORKSPACE:-/srv/locksmith}             # on every host
SUBMISSIONS=${SUBMISSIONS:-/srv/class/submissions} # on every host
REMOTE_OUT=${REMOTE_OUT:-/srv/class/out}           # host K writes $REMOTE_OUT/shard-K
JOBS=${JOBS:-2}                                    # --jobs: at most each host's cores
LOCAL_WORKSPACE=${LOCAL_WORKSPACE:-$WORKSPACE}     # here, for the merge
LOCAL_OUT=${LOCAL_OUT:-$PWD/class-out}             # shards come back here; merged into $LOCAL_OUT/class

if [ ! -r "$HOSTS_FILE" ]; then
    echo "gnu-parallel-ssh.sh: cannot read $HOSTS_FILE" >&2
    exit 2
fi
hosts=()
while IFS= read -r line; do
    hosts+=("$line")
done < <(awk 'NF && $1 !~ /^#/ { $1 = $1; print }' "$HOSTS_FILE")
N=${#hosts[@]}
if [ "$N" -eq 0 ]; then
    echo "gnu-parallel-ssh.sh: no hosts in $HOSTS_FILE" >&2
    exit 2
fi

# Host K is alone in host group shardK, and job K may only run in that group: shard K
# always runs on the same host, so RESUME=1 finds its earlier output there.
logins=()
jobs=()
shard_dirs=()
for ((k = 0; k < N; k++)); do
    logins+=(--sshlogin "@shard$k/${hosts[k]}")
    jobs+=("$k@shard$k")
    shard_dirs+=("$LOCAL_OUT/shard-$k")
done
extra=()
if [ "${COPY_SUBMISSIONS:-0}" = 1 ]; then
    extra+=(--basefile "$SUBMISSIONS")
fi
resume=
if [ "${RESUME:-0}" = 1 ]; then
    resume=" --resume"
fi

# Run on the host by bash; {} is the shard number. Exit status 1 (graded, points lost) is
# a result, not a failure; 2 (the grader could not run) fails the job.
remote="PATH=\$HOME/.cargo/bin:\$PATH; cd $(printf %q "$WORKSPACE") || exit 2; status=0"
remote+="; cargo xtask batch $(printf %q "$SUBMISSIONS") --out $(printf %q "$REMOTE_OUT")/shard-{}"
remote+=" --shard {}/$N --jobs $JOBS$resume || status=\$?"
remote+="; if [ \$status -eq 1 ]; then status=0; fi; exit \$status"

mkdir -p "$LOCAL_OUT"
status=0
(
    cd "$LOCAL_OUT"
    # --jobs 1: one job at a time per host. --return copies $REMOTE_OUT/shard-K back to
    # ./shard-K, also after a failed job.
    parallel --hostgroups --jobs 1 "${logins[@]}" ${extra[@]+"${extra[@]}"} \
        --workdir "$REMOTE_OUT" --return 'shard-{}' \
        --line-buffer --tagstring 'shard {}' --joblog "$LOCAL_OUT/joblog" \
        "$remote" ::: "${jobs[@]}"
) || status=$?
if [ "$status" -ne 0 ]; then
    echo "gnu-parallel-ssh.sh: parallel exited with $status (failed shards: see" \
        "$LOCAL_OUT/joblog); fix the cause, then run again with RESUME=1" >&2
    exit 2
fi

cd "$LOCAL_WORKSPACE"
status=0
cargo xtask merge "${shard_dirs[@]}" --out "$LOCAL_OUT/class" || status=$?
if [ "$status" -eq 1 ]; then
    status=0
fi
exit "$status"
