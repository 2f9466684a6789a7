#!/usr/bin/env bash
# The official SDKs of other languages against the emulator binary, over HTTPS:
#   Node.js  azure-iothub, @azure/digital-twins-core   (node/, pinned in package-lock.json; node:test)
#   Python   azure-iot-hub, azure-digitaltwins-core    (python/, pinned in benches/peers/requirements.txt; unittest)
#
#   bash tests/other_sdks/run.sh          (called by .ci/run; needs node >= 18, npm, python3.9+, cargo)
#
# Installs what it needs (npm ci into node/node_modules, a venv at $CARGO_TARGET_DIR/peers-venv via
# benches/peers/setup.sh; both skipped when already installed from the same lock files), builds and
# starts the emulator on 127.0.0.1:443 with --tls --host-name localhost (azure-iothub always connects
# to port 443 of the connection string's HostName, so binding 443 needs root or CAP_NET_BIND_SERVICE;
# a busy 443 fails here), runs every suite, stops the emulator, and prints which api-versions each
# SDK sent (from the emulator's --log-requests). Exits non-zero if anything failed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cd "$repo"
target=${CARGO_TARGET_DIR:-$repo/target}
work=$(mktemp -d)
emu_pid=
cleanup() {
  if [ -n "$emu_pid" ] && kill -0 "$emu_pid" 2>/dev/null; then
    kill -TERM "$emu_pid" 2>/dev/null || true
    wait "$emu_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

for tool in node npm cargo; do
  command -v "$tool" >/dev/null || { echo "other_sdks: '$tool' is not installed" >&2; exit 1; }
done

echo "-- emulator binary (cargo build)"
cargo build --quiet -p azure-twins-emulator --bin azure-twins-emulator
emulator="$target/debug/azure-twins-emulator"

echo "-- Node SDKs (npm ci, from node/package-lock.json)"
if ! cmp -s "$here/node/package-lock.json" "$here/node/node_modules/.installed-package-lock.json"; then
  (cd "$here/node" && npm ci --no-audit --no-fund --loglevel=error)
  cp "$here/node/package-lock.json" "$here/node/node_modules/.installed-package-lock.json"
fi

echo "-- Python SDKs (venv, from benches/peers/requirements.txt)"
venv=${PEERS_VENV:-$target/peers-venv}
if ! cmp -s "$repo/benches/peers/requirements.txt" "$venv/.installed-requirements.txt"; then
  sh "$repo/benches/peers/setup.sh" "$venv"
  cp "$repo/benches/peers/requirements.txt" "$venv/.installed-requirements.txt"
fi

echo "-- emulator on 127.0.0.1:443 (--tls --host-name localhost)"
"$emulator" --listen 127.0.0.1:443 --adt-listen 127.0.0.1:0 --host-name localhost --tls \
  --cert-out "$work/ca.pem" --adt-token other-sdks-token --log-requests \
  >"$work/emulator.out" 2>"$work/emulator.log" &
emu_pid=$!
for _ in $(seq 1 300); do
  grep -q '^CA_CERT=' "$work/emulator.out" && break
  kill -0 "$emu_pid" 2>/dev/null || break
  sleep 0.1
done
if ! grep -q '^CA_CERT=' "$work/emulator.out"; then
  echo "other_sdks: the emulator did not start on 127.0.0.1:443 (busy port, or not root?):" >&2
  cat "$work/emulator.log" >&2
  exit 1
fi
IOTHUB_CONNECTION_STRING=$(sed -n 's/^IOTHUB_CONNECTION_STRING=//p' "$work/emulator.out")
ADT_ENDPOINT=$(sed -n 's/^ADT_ENDPOINT=//p' "$work/emulator.out")
ca=$(sed -n 's/^CA_CERT=//p' "$work/emulator.out")
export IOTHUB_CONNECTION_STRING ADT_ENDPOINT ADT_TOKEN=other-sdks-token
echo "   HostName=${IOTHUB_CONNECTION_STRING#HostName=}" | sed 's/SharedAccessKey=.*/SharedAccessKey=…/'
echo "   ADT_ENDPOINT=$ADT_ENDPOINT"

failed=()
echo "-- Node: node --test (azure-iothub, @azure/digital-twins-core)"
(cd "$here/node" && NODE_EXTRA_CA_CERTS="$ca" node --test --test-concurrency=1 iothub.test.mjs adt.test.mjs) \
  2>&1 | tee "$work/node.out" || failed+=(node)
echo "-- Python: python -m unittest (azure-iot-hub, azure-digitaltwins-core)"
(cd "$here/python" && REQUESTS_CA_BUNDLE="$ca" "$venv/bin/python" -m unittest -v test_iothub test_adt) \
  2>&1 | tee "$work/python.out" || failed+=(python)
# Counts: node:test's "# pass N" / "# fail N"; unittest's "Ran N tests" and "FAILED (failures=F, errors=E)".
node_pass=$(sed -n 's/^# pass //p' "$work/node.out"); node_fail=$(sed -n 's/^# fail //p' "$work/node.out")
py_ran=$(sed -n 's/^Ran \([0-9]*\) tests\{0,1\} in .*/\1/p' "$work/python.out")
py_bad=$(awk '/^FAILED \(/ { while (match($0, /(failures|errors)=[0-9]+/)) {
  split(substr($0, RSTART, RLENGTH), kv, "="); n += kv[2]; $0 = substr($0, RSTART + RLENGTH) } }
  END { print n + 0 }' "$work/python.out")
passed=$(( ${node_pass:-0} + ${py_ran:-0} - ${py_bad:-0} ))
failures=$(( ${node_fail:-0} + ${py_bad:-0} ))

echo "-- api-versions the SDKs sent (requests per SDK User-Agent and api-version)"
awk '
  /^request / {
    sdk = "other"
    if (match($0, /azure-iothub\/[0-9.]+/)) sdk = "node " substr($0, RSTART, RLENGTH)
    else if (match($0, /azsdk-js-digital-twins-core\/[0-9.]+/)) sdk = "node " substr($0, RSTART, RLENGTH)
    else if (match($0, /azsdk-python-digitaltwins-core\/[0-9.]+/)) sdk = "python " substr($0, RSTART, RLENGTH)
    else if (match($0, /iothubgatewayserviceapis\/[0-9-]+/)) sdk = "python azure-iot-hub (" substr($0, RSTART, RLENGTH) ")"
    v = "none"
    if (match($0, /api-version=[^& ]+/)) v = substr($0, RSTART + 12, RLENGTH - 12)
    n[$2 "  " sdk "  api-version=" v]++
  }
  END { for (k in n) printf "   %5d  %s\n", n[k], k }
' "$work/emulator.log" | sort -k2
for sdk in 'azure-iothub/' 'azsdk-js-digital-twins-core/' 'azsdk-python-digitaltwins-core/' 'iothubgatewayserviceapis/'; do
  grep -q "user-agent=\"[^\"]*$sdk" "$work/emulator.log" || { echo "other_sdks: no request from $sdk reached the emulator" >&2; failed+=("$sdk"); }
done

if [ ${#failed[@]} -gt 0 ]; then
  echo "other_sdks: FAILED: ${failed[*]}" >&2
  [ "$failures" -gt 0 ] || failures=${#failed[@]}
  echo "other_sdks: $passed passed, $failures failed"
  exit 1
fi
echo "other_sdks: $passed passed, $failures failed"
