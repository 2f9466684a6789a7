"""The official Python IoT Hub service SDK (PyPI azure-iot-hub, pinned in
benches/peers/requirements.txt) against the emulator binary over HTTPS.

Run by ../run.sh (python -m unittest), which exports IOTHUB_CONNECTION_STRING and trusts the
emulator's certificate through REQUESTS_CA_BUNDLE (azure-iot-hub's msrest uses requests).
"""

import base64
import os
import time
import unittest
from datetime import datetime, timezone

from azure.iot.hub import (
    IoTHubConfigurationManager,
    IoTHubJobManager,
    IoTHubRegistryManager,
)
from azure.iot.hub.models import (
    Configuration,
    ConfigurationContent,
    JobRequest,
    QuerySpecification,
    Twin,
    TwinProperties,
)
from msrest.exceptions import HttpOperationError

CS = os.environ["IOTHUB_CONNECTION_STRING"]
RUN = f"py-{os.getpid()}"


def key():
    return base64.b64encode(os.urandom(32)).decode()


def status_of(ctx):
    return ctx.exception.response.status_code


class IotHub(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.reg = IoTHubRegistryManager.from_connection_string(CS)
        cls.created = []

    @classmethod
    def tearDownClass(cls):
        for d in cls.created:
            try:
                cls.reg.delete_device(d)
            except HttpOperationError:
                pass

    def create(self, device_id):
        dev = self.reg.create_device_with_sas(device_id, key(), key(), "enabled")
        self.created.append(device_id)
        return dev

    def test_device_identity(self):
        dev_id = f"{RUN}-dev"
        dev = self.create(dev_id)
        self.assertEqual(dev.device_id, dev_id)
        self.assertEqual(dev.status, "enabled")
        self.assertTrue(dev.etag)
        got = self.reg.get_device(dev_id)
        self.assertEqual(
            got.authentication.symmetric_key.primary_key,
            dev.authentication.symmetric_key.primary_key,
        )
        with self.assertRaises(HttpOperationError) as ctx:
            self.create(dev_id)
        self.assertEqual(status_of(ctx), 409)

    def test_twin_etags(self):
        dev_id = f"{RUN}-twin"
        self.create(dev_id)
        twin = self.reg.get_twin(dev_id)
        self.assertEqual(twin.device_id, dev_id)
        self.assertTrue(twin.etag)
        patch = Twin(tags={"site": "north"}, properties=TwinProperties(desired={"setpoint": 21.5}))
        updated = self.reg.update_twin(dev_id, patch, twin.etag)
        self.assertEqual(updated.tags["site"], "north")
        self.assertEqual(updated.properties.desired["setpoint"], 21.5)
        self.assertNotEqual(updated.etag, twin.etag)
        with self.assertRaises(HttpOperationError) as ctx:
            self.reg.update_twin(dev_id, Twin(tags={"site": "south"}), twin.etag)
        self.assertEqual(status_of(ctx), 412)
        again = self.reg.get_twin(dev_id)
        self.assertEqual(again.tags["site"], "north")
        self.assertEqual(again.etag, updated.etag)
        replaced = self.reg.replace_twin(dev_id, Twin(tags={"only": 1}, etag=again.etag))
        self.assertEqual(replaced.tags, {"only": 1})

    def test_query_pages(self):
        group = f"{RUN}-q"
        ids = []
        for i in range(7):
            d = f"{group}-{i}"
            self.create(d)
            self.reg.update_twin(d, Twin(tags={"group": group, "i": i}), "*")
            ids.append(d)
        spec = QuerySpecification(query=f"SELECT * FROM devices WHERE tags.group = '{group}'")
        seen, pages, token = [], 0, None
        while True:
            page = self.reg.query_iot_hub(spec, token, 2)
            pages += 1
            self.assertEqual(page.type, "Twin")  # x-ms-item-type, as the service sends it
            self.assertLessEqual(len(page.items), 2)
            seen += [t.device_id for t in page.items]
            token = page.continuation_token
            if not token:
                break
            self.assertLess(pages, 20)
        self.assertGreaterEqual(pages, 4)
        self.assertEqual(sorted(seen), sorted(ids))

    def test_scheduled_twin_job(self):
        group = f"{RUN}-job"
        ids = [f"{group}-a", f"{group}-b"]
        for d in ids:
            self.create(d)
            self.reg.update_twin(d, Twin(tags={"group": group}), "*")
        jobs = IoTHubJobManager.from_connection_string(CS)
        job_id = f"{RUN}-job-1"
        req = JobRequest(
            job_id=job_id,
            type="scheduleUpdateTwin",
            start_time=datetime.now(timezone.utc).isoformat(),
            max_execution_time_in_seconds=120,
            update_twin={"etag": "*", "properties": {"desired": {"firmware": "3.1"}}},
            query_condition=f"tags.group = '{group}'",
        )
        job = jobs.create_scheduled_job(job_id, req)
        self.assertEqual(job.job_id, job_id)
        for _ in range(600):
            job = jobs.get_scheduled_job(job_id)
            if job.status in ("completed", "failed", "cancelled"):
                break
            time.sleep(0.1)
        self.assertEqual(job.status, "completed")
        self.assertEqual(job.device_job_statistics.device_count, 2)
        self.assertEqual(job.device_job_statistics.succeeded_count, 2)
        for d in ids:
            self.assertEqual(self.reg.get_twin(d).properties.desired["firmware"], "3.1")

    def test_configurations(self):
        cfgs = IoTHubConfigurationManager.from_connection_string(CS)
        cfg_id = f"{RUN}-cfg"
        created = cfgs.create_configuration(
            Configuration(
                id=cfg_id,
                schema_version="1.0",
                content=ConfigurationContent(
                    device_content={"properties.desired.cfg": {"mode": "eco"}}
                ),
                target_condition="tags.site = 'north'",
                priority=10,
                labels={"owner": "python"},
            )
        )
        self.assertEqual(created.id, cfg_id)
        self.assertTrue(created.etag)
        got = cfgs.get_configuration(cfg_id)
        self.assertEqual(got.priority, 10)
        self.assertEqual(got.labels, {"owner": "python"})
        got.priority = 20
        updated = cfgs.update_configuration(got, got.etag)
        self.assertEqual(updated.priority, 20)
        self.assertNotEqual(updated.etag, got.etag)
        with self.assertRaises(HttpOperationError) as ctx:
            cfgs.update_configuration(got, got.etag)
        self.assertEqual(status_of(ctx), 412)
        listed = {c.id: c.priority for c in cfgs.get_configurations()}
        self.assertEqual(listed.get(cfg_id), 20)
        cfgs.delete_configuration(cfg_id)
        with self.assertRaises(HttpOperationError) as ctx:
            cfgs.get_configuration(cfg_id)
        self.assertEqual(status_of(ctx), 404)


if __name__ == "__main__":
    unittest.main()
