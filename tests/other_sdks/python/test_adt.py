"""The official Python Azure Digital Twins SDK (PyPI azure-digitaltwins-core, pinned in
benches/peers/requirements.txt) against the emulator binary over HTTPS.

Run by ../run.sh (python -m unittest), which exports ADT_ENDPOINT and ADT_TOKEN (the emulator's
--adt-token) and trusts the emulator's certificate through REQUESTS_CA_BUNDLE. The credential
is a plain TokenCredential returning that token: azure-identity is not needed.
"""

import os
import time
import unittest

from azure.core import MatchConditions
from azure.core.credentials import AccessToken
from azure.core.exceptions import (
    HttpResponseError,
    ResourceExistsError,
    ResourceModifiedError,
    ResourceNotFoundError,
)
from azure.digitaltwins.core import DigitalTwinsClient
from azure.digitaltwins.core._generated.models import QueryTwinsOptions

ENDPOINT = os.environ["ADT_ENDPOINT"]
TOKEN = os.environ["ADT_TOKEN"]
RUN = f"py{os.getpid()}"
ROOM = f"dtmi:othersdks:{RUN}:Room;1"
FLOOR = f"dtmi:othersdks:{RUN}:Floor;1"


class StaticToken:
    """azure.core TokenCredential protocol: always the emulator's token."""

    def get_token(self, *scopes, **kwargs):
        return AccessToken(TOKEN, int(time.time()) + 3600)


class DigitalTwins(unittest.TestCase):
    """Tests run in name order (unittest sorts them): models, twins, relationships, query, delete."""

    @classmethod
    def setUpClass(cls):
        cls.c = DigitalTwinsClient(ENDPOINT, StaticToken())
        cls.twins = []

    @classmethod
    def tearDownClass(cls):
        for t in cls.twins:
            for r in cls.c.list_relationships(t):
                cls.c.delete_relationship(t, r["$relationshipId"])
        for t in cls.twins:
            try:
                cls.c.delete_digital_twin(t)
            except ResourceNotFoundError:
                pass
        for m in (FLOOR, ROOM):
            cls.c.delete_model(m)

    def twin(self, twin_id, body):
        made = self.c.upsert_digital_twin(twin_id, body)
        self.twins.append(twin_id)
        return made

    def test_1_models(self):
        models = [
            {
                "@id": ROOM,
                "@type": "Interface",
                "@context": "dtmi:dtdl:context;2",
                "contents": [
                    {"@type": "Property", "name": "temperature", "schema": "double"},
                    {"@type": "Property", "name": "name", "schema": "string"},
                ],
            },
            {
                "@id": FLOOR,
                "@type": "Interface",
                "@context": "dtmi:dtdl:context;2",
                "contents": [
                    {"@type": "Property", "name": "level", "schema": "integer"},
                    {"@type": "Relationship", "name": "contains", "target": ROOM},
                ],
            },
        ]
        made = self.c.create_models(models)
        self.assertEqual(sorted(m.id for m in made), sorted([ROOM, FLOOR]))
        got = self.c.get_model(ROOM, include_model_definition=True)
        self.assertEqual(got.model["@id"], ROOM)
        self.assertFalse(got.decommissioned)
        listed = [m.id for m in self.c.list_models()]
        self.assertIn(ROOM, listed)
        self.assertIn(FLOOR, listed)
        with self.assertRaises(ResourceExistsError) as ctx:
            self.c.create_models([models[0]])
        self.assertEqual(ctx.exception.error.code, "ModelAlreadyExists")

    def test_2_twins(self):
        tid = f"{RUN}-room1"
        made = self.twin(tid, {"$metadata": {"$model": ROOM}, "temperature": 20.5, "name": "kitchen"})
        self.assertEqual(made["$dtId"], tid)
        etag = made["$etag"]
        got = self.c.get_digital_twin(tid)
        self.assertEqual(got["temperature"], 20.5)
        self.assertEqual(got["$etag"], etag)
        self.c.update_digital_twin(
            tid,
            [{"op": "replace", "path": "/temperature", "value": 23}],
            etag=etag,
            match_condition=MatchConditions.IfNotModified,
        )
        after = self.c.get_digital_twin(tid)
        self.assertEqual(after["temperature"], 23)
        self.assertNotEqual(after["$etag"], etag)
        with self.assertRaises(ResourceModifiedError) as ctx:
            self.c.update_digital_twin(
                tid,
                [{"op": "replace", "path": "/temperature", "value": 99}],
                etag=etag,
                match_condition=MatchConditions.IfNotModified,
            )
        self.assertEqual(ctx.exception.status_code, 412)
        self.assertEqual(self.c.get_digital_twin(tid)["temperature"], 23)

    def test_3_relationships(self):
        floor = f"{RUN}-floor1"
        self.twin(floor, {"$metadata": {"$model": FLOOR}, "level": 1})
        rooms = [f"{RUN}-room1", f"{RUN}-room2"]
        self.twin(rooms[1], {"$metadata": {"$model": ROOM}, "temperature": 18, "name": "hall"})
        for i, r in enumerate(rooms):
            rel = self.c.upsert_relationship(
                floor, f"contains-{i}", {"$relationshipName": "contains", "$targetId": r}
            )
            self.assertEqual(rel["$sourceId"], floor)
            self.assertEqual(rel["$targetId"], r)
        out = sorted(r["$targetId"] for r in self.c.list_relationships(floor))
        self.assertEqual(out, sorted(rooms))
        incoming = [r.source_id for r in self.c.list_incoming_relationships(rooms[0])]
        self.assertEqual(incoming, [floor])
        with self.assertRaises(ResourceNotFoundError) as ctx:
            self.c.upsert_relationship(
                floor, "bad", {"$relationshipName": "contains", "$targetId": "nosuch"}
            )
        self.assertEqual(ctx.exception.error.code, "TargetTwinNotFound")

    def test_4_query_pages(self):
        for i in range(5):
            self.twin(
                f"{RUN}-q{i}",
                {"$metadata": {"$model": ROOM}, "temperature": 10 + i, "name": f"q-{RUN}"},
            )
        pages = self.c.query_twins(
            f"SELECT * FROM digitaltwins WHERE name = 'q-{RUN}'",
            query_twins_options=QueryTwinsOptions(max_items_per_page=2),
        ).by_page()
        seen, count = [], 0
        for page in pages:
            items = list(page)
            count += 1
            self.assertLessEqual(len(items), 2)
            seen += [t["temperature"] for t in items]
            self.assertLess(count, 20)
        self.assertGreaterEqual(count, 3)
        self.assertEqual(sorted(seen), [10, 11, 12, 13, 14])

    def test_5_delete(self):
        floor = f"{RUN}-floor1"
        with self.assertRaises(HttpResponseError) as ctx:
            self.c.delete_digital_twin(floor)
        self.assertEqual(ctx.exception.status_code, 400)
        self.assertEqual(ctx.exception.error.code, "RelationshipsNotDeleted")
        for r in self.c.list_relationships(floor):
            self.c.delete_relationship(floor, r["$relationshipId"])
        etag = self.c.get_digital_twin(floor)["$etag"]
        with self.assertRaises(ResourceModifiedError):
            self.c.delete_digital_twin(
                floor, etag='W/"stale"', match_condition=MatchConditions.IfNotModified
            )
        self.c.delete_digital_twin(floor, etag=etag, match_condition=MatchConditions.IfNotModified)
        with self.assertRaises(ResourceNotFoundError) as ctx:
            self.c.get_digital_twin(floor)
        self.assertEqual(ctx.exception.error.code, "DigitalTwinNotFound")
        self.twins.remove(floor)


if __name__ == "__main__":
    unittest.main()
