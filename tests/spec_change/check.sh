#!/usr/bin/env bash
# A spec change reaches the facade: the raw clients and the facade are generated and compiled from
# a fixture copy of the vendored IoT Hub spec with one change at a time (through the build script's
# AZURE_TWINS_SPEC_DIR override), and each change must make the facade fail to build, with the
# compiler naming the facade line that must follow it. A facade that bypassed the generated client
# or copied its types would still build, and this check fails.
#
# Usage: tests/spec_change/check.sh   (run by .ci/run; about a minute with a warm target dir)
set -euo pipefail
cd "$(dirname "$0")/../.."
spec=specs/iothub/2021-04-12/iothub.json
fixture=$(mktemp -d)
log="$fixture/cargo.log"
trap 'rm -rf "$fixture"' EXIT

# expect NAME PYTHON-MUTATION REGEX: mutate a copy of the spec (the JSON is `s`), build, and require
# a failed build whose error output matches REGEX (an error located in the facade).
expect() {
    local name=$1 mutation=$2 regex=$3
    python3 - "$spec" "$fixture/iothub.json" <<PY
import json, sys
s = json.load(open(sys.argv[1]))
$mutation
json.dump(s, open(sys.argv[2], "w"), indent=1)
PY
    if AZURE_TWINS_SPEC_DIR="$fixture" cargo check -p azure-twins --lib --no-default-features \
        --features codegen,iothub --message-format short >"$log" 2>&1; then
        echo "FAIL ($name): the facade still builds after the spec change"
        exit 1
    fi
    if ! grep -Eq "$regex" "$log"; then
        echo "FAIL ($name): the build failed, but not in the facade as expected (/$regex/):"
        grep -E "^(error|src/|warning: generating)" "$log" | head -20
        exit 1
    fi
    echo "ok ($name): $(grep -E "$regex" "$log" | head -1)"
}

# A removed field: desired properties disappear from the twin model.
expect "removed field TwinProperties.desired" \
    'del s["definitions"]["TwinProperties"]["properties"]["desired"]' \
    '^src/iothub/[a-z_/]+\.rs:[0-9]+:[0-9]+: error.*desired'

# A renamed operation: Devices_GetTwin becomes Devices_ReadTwin (a new method name).
expect "renamed operation Devices_GetTwin" \
    's["paths"]["/twins/{id}"]["get"]["operationId"] = "Devices_ReadTwin"' \
    '^src/iothub/[a-z_/]+\.rs:[0-9]+:[0-9]+: error.*devices_get_twin'

# A new required parameter on an operation the facade calls.
expect "new required parameter on Devices_UpdateTwin" \
    's["paths"]["/twins/{id}"]["patch"]["parameters"].append({"name": "x-ms-tenant", "in": "header", "required": True, "type": "string"})' \
    '^src/iothub/[a-z_/]+\.rs:[0-9]+:[0-9]+: error.*(argument|parameter)'

echo "spec-change check: 3 passed, 0 failed"
