"""The official Python SDK row of `cargo bench --bench fleet` (issue 15).

Patches the desired properties of every device's twin once with azure-iot-hub's
IoTHubRegistryManager.update_twin (etag "*", as the SDK does by default), from a
ThreadPoolExecutor, the way a user of the SDK would run a fleet-wide change. One SDK client per
thread (the client wraps a requests.Session, not documented as thread-safe); the SDK's defaults
otherwise (it does not retry 429: a refused call raises). Prints one JSON object on stdout.

Environment (benches/fleet/main.rs sets it):
  IOTHUB_CONNECTION_STRING  HostName=127.0.0.1:<port>;SharedAccessKeyName=iothubowner;...
  REQUESTS_CA_BUNDLE        the emulator's self-signed certificate (PEM)
  FLEET_DEVICES             devices d00000 .. d<n-1>, already created
  FLEET_THREADS             worker threads (64)
  FLEET_VALUE               the desired "mode" value to set
"""

import importlib.metadata
import json
import os
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from azure.iot.hub import IoTHubRegistryManager
from azure.iot.hub.models import Twin, TwinProperties

CS = os.environ["IOTHUB_CONNECTION_STRING"]
DEVICES = int(os.environ.get("FLEET_DEVICES", "1000"))
THREADS = int(os.environ.get("FLEET_THREADS", "64"))
VALUE = os.environ.get("FLEET_VALUE", "python")

local = threading.local()


def client():
    c = getattr(local, "client", None)
    if c is None:
        c = IoTHubRegistryManager.from_connection_string(CS)
        local.client = c
    return c


def patch(device_id):
    """None on success, else (HTTP status or None, error text)."""
    try:
        twin = Twin(properties=TwinProperties(desired={"mode": VALUE}))
        client().update_twin(device_id, twin, etag="*")
        return None
    except Exception as e:  # noqa: BLE001 - every failure of an item counts
        resp = getattr(e, "response", None)
        status = getattr(resp, "status_code", None)
        return (status, f"{type(e).__name__}: {e}"[:200])


def main():
    ids = [f"d{i:05}" for i in range(DEVICES)]
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=THREADS) as pool:
        outcomes = list(pool.map(patch, ids))
    secs = time.perf_counter() - start
    failures = [o for o in outcomes if o is not None]
    by_status = {}
    for status, _ in failures:
        key = str(status) if status is not None else "transport"
        by_status[key] = by_status.get(key, 0) + 1
    print(
        json.dumps(
            {
                "python": sys.version.split()[0],
                "sdk": "azure-iot-hub " + importlib.metadata.version("azure-iot-hub"),
                "devices": DEVICES,
                "threads": THREADS,
                "seconds": secs,
                "failed": len(failures),
                "failed_by_status": by_status,
                "first_errors": [e for _, e in failures[:3]],
            }
        )
    )


if __name__ == "__main__":
    main()
