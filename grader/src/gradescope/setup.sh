#!/usr/bin/env bash
# Gradescope runs this once, as root on its Ubuntu image, when it builds the autograder: a
# toolchain, the course where the grader expects it, one build of the grader, and a warm build
# of everything a grade needs (so that grading a submission compiles only the student's code).
# Written by `cargo xtask gradescope` (locksmith grader @VERSION@).
set -euo pipefail

# Gradescope unpacks the zip into /autograder/source, so this script's folder.
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

# rustup is fetched with curl (over https: ca-certificates); rustc links with the system's cc.
missing=()
for package in curl ca-certificates build-essential; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ "${#missing[@]}" -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

export CARGO_HOME="${CARGO_HOME:-${HOME:-/root}/.cargo}"
export PATH="$CARGO_HOME/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs |
        sh -s -- -y --profile minimal --default-toolchain stable
fi
cargo --version

# The course comes in source/; run_autograder expects it at /autograder/source itself. Copied
# as is (modes included), then the copy's origin is removed; a second run finds it done.
if [ -f "$HERE/source/Cargo.toml" ]; then
    cp -a "$HERE/source/." "$HERE/"
    rm -rf "$HERE/source"
fi
cd "$HERE"

cargo build --release --locked -p xtask

# Grading the reference answers builds everything a grade shares (blocks, harness, checks) and
# proves the autograder sound: anything short of full marks is a broken package, not a pass.
rm -f /tmp/warm.toml
if ! LOCKSMITH_ROOT="$HERE" NO_COLOR=1 target/release/xtask grade @EXERCISES@ --solutions \
    --scorecard /tmp/warm.toml; then
    echo "setup.sh: the reference solutions did not get full marks; this autograder would" \
        "grade wrongly, so setup fails" >&2
    exit 1
fi
echo "setup.sh: the autograder is ready"
