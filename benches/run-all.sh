#!/bin/sh
# The whole comparison of issue 7 in one run: creates the Python peers' venv if it is missing
# (benches/peers/setup.sh), then runs `cargo bench --bench compare` (sections 1-5) and prints
# the machine's load so the figures can be read in context. Build cost (section 6) is measured
# separately: see generated/README.md.
set -eu
repo=$(cd "$(dirname "$0")/.." && pwd)
venv=${PEERS_VENV:-$repo/target/peers-venv}
[ -x "$venv/bin/python" ] || sh "$repo/benches/peers/setup.sh" "$venv"
echo "== $(date -u '+%Y-%m-%d %H:%M UTC'), $(nproc) cores, load average: $(cut -d' ' -f1-3 /proc/loadavg)"
cd "$repo"
PEERS_VENV=$venv cargo bench -p azure-twins --bench compare
echo "== load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
