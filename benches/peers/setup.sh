#!/bin/sh
# Creates the Python venv that section 5 of `cargo bench -p azure-twins --bench compare` uses
# to run the official SDKs (azure-iot-hub, azure-digitaltwins-core) against the emulator.
#
#   sh benches/peers/setup.sh [VENV_DIR]      (default: <repo>/target/peers-venv)
#
# Needs CPython 3.9+ (`python3.11` if present, else `python3`; override with PYTHON=...).
# The bench finds the venv at the same default path, or at $PEERS_VENV.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
venv=${1:-${PEERS_VENV:-$repo/target/peers-venv}}
python=${PYTHON:-$(command -v python3.11 || command -v python3)}
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
"$venv/bin/python" -c "import azure.iot.hub, azure.digitaltwins.core; print('peers venv ready:', '$venv')"
