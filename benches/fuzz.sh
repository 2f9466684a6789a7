#!/usr/bin/env bash
# Fuzzes the parsers and the emulator's request handling briefly with cargo fuzz (libFuzzer + AddressSanitizer). Not run in CI.
#
#   benches/fuzz.sh [seconds-per-target] [target ...]     (default: 30 s, every target)
#
# Targets (fuzz/fuzz_targets/): connection_string, continuation, json_patch, etag, query,
# emulator_requests (sequences of arbitrary requests through both emulator routers).
# Installs cargo-fuzz with `cargo install --locked` into $CARGO_FUZZ_ROOT
# (default ~/.cache/azure-twins/cargo-fuzz) when it is not on PATH. cargo fuzz passes
# nightly-only rustc flags (-Zsanitizer=address); on a stable toolchain the script sets
# RUSTC_BOOTSTRAP=1 so that stable rustc accepts them, which works with Rust 1.95.
# Build output goes to $FUZZ_TARGET_DIR (default target/fuzz), the corpus grows in
# fuzz/corpus/<target> (ignored by git) from the committed seeds in fuzz/seeds/<target>, and
# crashes land in fuzz/artifacts/<target>. Prints executions per target; exits 1 on a crash.
set -euo pipefail

repo=$(cd "$(dirname "$0")/.." && pwd)
secs=${1:-30}
shift || true

root=${CARGO_FUZZ_ROOT:-$HOME/.cache/azure-twins/cargo-fuzz}
export PATH="$root/bin:$PATH"
if ! command -v cargo-fuzz >/dev/null; then
    echo "installing cargo-fuzz into $root" >&2
    cargo install cargo-fuzz --locked --root "$root"
fi
if ! rustc --version | grep -q nightly; then
    export RUSTC_BOOTSTRAP=1
fi
target_dir=${FUZZ_TARGET_DIR:-$repo/target/fuzz}

cd "$repo/fuzz"
if [ $# -gt 0 ]; then
    targets=("$@")
else
    mapfile -t targets < <(cargo fuzz list)
fi

echo "building the fuzz targets ($(rustc --version))" >&2
cargo fuzz build --target-dir "$target_dir" >&2

logs=$(mktemp -d)
failed=()
printf '%-20s %12s %10s %8s %s\n' target executions exec/s corpus result
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log="$logs/$t.log"
    if cargo fuzz run --target-dir "$target_dir" "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -print_final_stats=1 -timeout=10 -rss_limit_mb=2048 \
        >"$log" 2>&1; then
        result=ok
    else
        result="CRASH (see $log and fuzz/artifacts/$t)"
        failed+=("$t")
    fi
    execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$' | tail -1)
    corpus=$(find "corpus/$t" -type f | wc -l)
    printf '%-20s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "$corpus" "$result"
done

if [ ${#failed[@]} -gt 0 ]; then
    for t in "${failed[@]}"; do
        echo "--- $t" >&2
        grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$logs/$t.log" >&2 || tail -30 "$logs/$t.log" >&2
    done
    exit 1
fi
