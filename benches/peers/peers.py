"""The Python half of section 5 of `cargo bench -p azure-twins --bench compare`.

Drives the official SDKs `azure-iot-hub` (IoTHubRegistryManager) and `azure-digitaltwins-core`
(DigitalTwinsClient) against the azure-twins emulator over HTTPS, doing the same work the Rust
facade does in benches/compare/peers.rs, and prints one JSON object on stdout.

Configuration comes from the environment (benches/compare/peers.rs sets it):

  IOTHUB_CONNECTION_STRING  HostName=127.0.0.1:<port>;SharedAccessKeyName=iothubowner;SharedAccessKey=...
  ADT_ENDPOINT              https://localhost:<port>
  ADT_TOKEN                 the bearer token the emulator's ADT listener requires
  REQUESTS_CA_BUNDLE        the emulator's self-signed certificate (PEM)
  PEER_OPS                  operations per (operation, thread count) run
  PEER_THREADS              comma-separated thread counts to try, e.g. 1,4,16,64
  PEER_DEVICES              devices peer-0 .. peer-<n-1> that GET/PATCH cycle over (already created)
  PEER_QUERY_PAGE           page size of the query runs
  PEER_ONLY                 optional comma-separated subset of operations

Each thread has its own SDK client (and so its own connection pool): the SDK clients wrap a
requests.Session, which is not documented as thread-safe. Every client makes one untimed call
first so connection set-up and TLS handshakes are not in the timed part. CPU time is the whole
Python process's user+sys (time.process_time), i.e. the SDK's cost per operation.
"""

import importlib.metadata
import json
import os
import sys
import threading
import time

from azure.core.credentials import AccessToken
from azure.digitaltwins.core import DigitalTwinsClient
from azure.digitaltwins.core._generated.models import QueryTwinsOptions
from azure.iot.hub import IoTHubRegistryManager
from azure.iot.hub.models import QuerySpecification, Twin, TwinProperties


class StaticTokenCredential:
    """A TokenCredential (azure.core protocol) that returns one fixed token: the emulator's
    --adt-token / EmulatorBuilder::adt_bearer_token."""

    def __init__(self, token):
        self._token = token

    def get_token(self, *scopes, **kwargs):
        return AccessToken(self._token, int(time.time()) + 3600)


def env_int(name, default):
    return int(os.environ.get(name, default))


CS = os.environ["IOTHUB_CONNECTION_STRING"]
ADT = os.environ["ADT_ENDPOINT"]
ADT_TOKEN = os.environ.get("ADT_TOKEN", "bench-token")
OPS = env_int("PEER_OPS", 2000)
THREADS = [int(t) for t in os.environ.get("PEER_THREADS", "1,4,16,64").split(",") if t]
DEVICES = env_int("PEER_DEVICES", 64)
PAGE = env_int("PEER_QUERY_PAGE", 1000)
ONLY = [o for o in os.environ.get("PEER_ONLY", "").split(",") if o]


def hub_client():
    return IoTHubRegistryManager.from_connection_string(CS)


def hub_client_keep_alive():
    """The same client with msrest's `keep_alive` on. IoTHubRegistryManager leaves it off, so by
    default every call opens a new HTTPS connection (new TLS handshake); msrest turns it on
    for `with client:` blocks, which IoTHubRegistryManager does not offer, so this sets the
    msrest configuration field directly."""
    c = IoTHubRegistryManager.from_connection_string(CS)
    c.protocol.config.keep_alive = True
    return c


def adt_client():
    return DigitalTwinsClient(ADT, StaticTokenCredential(ADT_TOKEN))


def hub_get(c, i):
    t = c.get_twin(f"peer-{i % DEVICES}")
    assert t.device_id == f"peer-{i % DEVICES}", t.device_id


def hub_patch(c, i):
    patch = Twin(properties=TwinProperties(desired={"n": i}))
    t = c.update_twin(f"peer-{i % DEVICES}", patch, etag="*")
    assert t.properties.desired["n"] == i


def adt_get(c, i):
    t = c.get_digital_twin(f"peer-{i % DEVICES}")
    assert t["$dtId"] == f"peer-{i % DEVICES}"


def adt_patch(c, i):
    c.update_digital_twin(
        f"peer-{i % DEVICES}", [{"op": "replace", "path": "/temperature", "value": i}]
    )


def hub_query(c):
    """Every twin of `SELECT * FROM devices`, page by page; returns the row count."""
    n, token = 0, None
    spec = QuerySpecification(query="SELECT * FROM devices")
    while True:
        r = c.query_iot_hub(spec, continuation_token=token, max_item_count=PAGE)
        n += len(r.items)
        token = r.continuation_token
        if not token:
            return n


def adt_query(c):
    opts = QueryTwinsOptions(max_items_per_page=PAGE)
    return sum(1 for _ in c.query_twins("SELECT * FROM digitaltwins", query_twins_options=opts))


def run_calls(name, make, call, threads):
    """`OPS` calls of `call` spread over `threads` threads, one client each."""
    clients = [make() for _ in range(threads)]
    for k, c in enumerate(clients):
        call(c, k)  # warm-up: connection and TLS handshake
    share = [OPS // threads + (1 if k < OPS % threads else 0) for k in range(threads)]
    errors = []
    start = threading.Barrier(threads + 1)

    def work(k):
        start.wait()
        base = sum(share[:k])
        try:
            for j in range(share[k]):
                call(clients[k], base + j)
        except Exception as e:  # reported, not hidden
            errors.append(f"{type(e).__name__}: {e}")

    ts = [threading.Thread(target=work, args=(k,)) for k in range(threads)]
    for t in ts:
        t.start()
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    start.wait()
    for t in ts:
        t.join()
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "op": name,
        "threads": threads,
        "ops": OPS,
        "wall_s": wall,
        "cpu_s": cpu,
        "ops_per_s": OPS / wall,
        "cpu_us_per_op": cpu / OPS * 1e6,
        "errors": errors[:3],
    }


def run_query(name, make, query):
    c = make()
    query(c)  # warm-up
    cpu0 = time.process_time()
    t0 = time.perf_counter()
    n = query(c)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - cpu0
    return {
        "op": name,
        "threads": 1,
        "ops": n,
        "wall_s": wall,
        "cpu_s": cpu,
        "ops_per_s": n / wall,
        "cpu_us_per_op": cpu / n * 1e6 if n else 0.0,
        "errors": [],
    }


def main():
    calls = [
        ("iothub_get", hub_client, hub_get),
        ("iothub_get_keep_alive", hub_client_keep_alive, hub_get),
        ("iothub_patch", hub_client, hub_patch),
        ("iothub_patch_keep_alive", hub_client_keep_alive, hub_patch),
        ("adt_get", adt_client, adt_get),
        ("adt_patch", adt_client, adt_patch),
    ]
    queries = [
        ("iothub_query", hub_client, hub_query),
        ("iothub_query_keep_alive", hub_client_keep_alive, hub_query),
        ("adt_query", adt_client, adt_query),
    ]
    results = []
    for name, make, call in calls:
        if ONLY and name not in ONLY:
            continue
        for t in THREADS:
            try:
                results.append(run_calls(name, make, call, t))
            except Exception as e:
                results.append({"op": name, "threads": t, "errors": [f"{type(e).__name__}: {e}"]})
            print(f"python {name} threads={t}: {results[-1].get('ops_per_s', 0):.0f}/s",
                  file=sys.stderr)
    for name, make, query in queries:
        if ONLY and name not in ONLY:
            continue
        try:
            results.append(run_query(name, make, query))
        except Exception as e:
            results.append({"op": name, "threads": 1, "errors": [f"{type(e).__name__}: {e}"]})
    versions = {
        p: importlib.metadata.version(p)
        for p in ("azure-iot-hub", "azure-digitaltwins-core", "azure-core", "msrest", "requests")
    }
    print(json.dumps({"python": sys.version.split()[0], "versions": versions, "results": results}))


if __name__ == "__main__":
    main()
