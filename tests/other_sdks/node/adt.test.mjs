// The official Node.js Azure Digital Twins SDK (npm @azure/digital-twins-core, pinned in
// package.json) against the emulator binary over HTTPS. Run by ../run.sh, which exports
// ADT_ENDPOINT and ADT_TOKEN (the emulator's `--adt-token`) and trusts the emulator's certificate
// through NODE_EXTRA_CA_CERTS. The credential is a plain TokenCredential returning that token:
// @azure/identity is not needed.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { DigitalTwinsClient } from '@azure/digital-twins-core';

const endpoint = process.env.ADT_ENDPOINT;
const token = process.env.ADT_TOKEN;
assert.ok(endpoint && token, 'ADT_ENDPOINT and ADT_TOKEN must be set (run ../run.sh)');

const credential = {
  getToken: async () => ({ token, expiresOnTimestamp: Date.now() + 3600 * 1000 }),
};
const client = new DigitalTwinsClient(endpoint, credential);
const run = `node${process.pid}`;
const roomModel = `dtmi:othersdks:${run}:Room;1`;
const floorModel = `dtmi:othersdks:${run}:Floor;1`;
const twins = [];

after(async () => {
  for (const id of twins) {
    for await (const rel of client.listRelationships(id)) {
      await client.deleteRelationship(id, rel.$relationshipId).catch(() => {});
    }
  }
  for (const id of twins) {
    await client.deleteDigitalTwin(id).catch(() => {});
  }
  for (const m of [floorModel, roomModel]) {
    await client.deleteModel(m).catch(() => {});
  }
});

async function createTwin(id, body) {
  const created = await client.upsertDigitalTwin(id, JSON.stringify(body));
  twins.push(id);
  return created;
}

test('models: upload, get, list', async () => {
  const models = [
    {
      '@id': roomModel,
      '@type': 'Interface',
      '@context': 'dtmi:dtdl:context;2',
      contents: [
        { '@type': 'Property', name: 'temperature', schema: 'double' },
        { '@type': 'Property', name: 'name', schema: 'string' },
      ],
    },
    {
      '@id': floorModel,
      '@type': 'Interface',
      '@context': 'dtmi:dtdl:context;2',
      contents: [
        { '@type': 'Property', name: 'level', schema: 'integer' },
        { '@type': 'Relationship', name: 'contains', target: roomModel },
      ],
    },
  ];
  const created = await client.createModels(models);
  assert.deepEqual(created.map((m) => m.id).sort(), [floorModel, roomModel].sort());
  const got = await client.getModel(roomModel, true);
  assert.equal(got.id, roomModel);
  assert.equal(got.decommissioned, false);
  assert.equal(got.model['@id'], roomModel);
  const listed = [];
  for await (const m of client.listModels(undefined, false)) {
    listed.push(m.id);
  }
  assert.ok(listed.includes(roomModel) && listed.includes(floorModel), `listed ${listed}`);
  await assert.rejects(client.createModels([models[0]]), (e) => {
    assert.equal(e.statusCode, 409);
    assert.equal(e.code, 'ModelAlreadyExists');
    return true;
  });
});

test('twins: create, get, JSON Patch with If-Match, 412 on a stale etag', async () => {
  const id = `${run}-room1`;
  const created = await createTwin(id, {
    $metadata: { $model: roomModel },
    temperature: 20.5,
    name: 'kitchen',
  });
  assert.equal(created.body.$dtId, id);
  assert.ok(created.etag, 'create returns an ETag');
  const got = await client.getDigitalTwin(id);
  assert.equal(got.body.temperature, 20.5);
  assert.equal(got.body.$metadata.$model, roomModel);
  assert.equal(got.etag, created.etag);
  const patched = await client.updateDigitalTwin(
    id,
    [{ op: 'replace', path: '/temperature', value: 23 }],
    { ifMatch: got.etag },
  );
  assert.ok(patched.etag && patched.etag !== got.etag, 'the patch changed the ETag');
  await assert.rejects(
    client.updateDigitalTwin(id, [{ op: 'replace', path: '/temperature', value: 99 }], {
      ifMatch: got.etag,
    }),
    (e) => {
      assert.equal(e.statusCode, 412);
      return true;
    },
  );
  const after412 = await client.getDigitalTwin(id);
  assert.equal(after412.body.temperature, 23, 'the refused patch changed nothing');
  assert.equal(after412.etag, patched.etag);
  await assert.rejects(
    client.updateDigitalTwin(id, [{ op: 'add', path: '/nosuch', value: 1 }]),
    (e) => {
      assert.equal(e.statusCode, 400);
      return true;
    },
  );
});

test('relationships: create, list, incoming', async () => {
  const floor = `${run}-floor1`;
  await createTwin(floor, { $metadata: { $model: floorModel }, level: 1 });
  const rooms = [`${run}-room1`, `${run}-room2`, `${run}-room3`];
  for (const r of rooms.slice(1)) {
    await createTwin(r, { $metadata: { $model: roomModel }, temperature: 18, name: r });
  }
  for (const [i, r] of rooms.entries()) {
    const rel = await client.upsertRelationship(floor, `contains-${i}`, {
      $relationshipName: 'contains',
      $targetId: r,
    });
    assert.equal(rel.body.$sourceId, floor);
    assert.equal(rel.body.$targetId, r);
    assert.ok(rel.etag);
  }
  const out = [];
  for await (const rel of client.listRelationships(floor)) {
    out.push(rel.$targetId);
  }
  assert.deepEqual(out.sort(), [...rooms].sort());
  const incoming = [];
  for await (const rel of client.listIncomingRelationships(rooms[1])) {
    incoming.push(rel.sourceId);
  }
  assert.deepEqual(incoming, [floor]);
  await assert.rejects(
    client.upsertRelationship(floor, 'bad', { $relationshipName: 'contains', $targetId: 'nosuch' }),
    (e) => {
      assert.equal(e.statusCode, 404);
      assert.equal(e.code, 'TargetTwinNotFound');
      return true;
    },
  );
});

test('query: several pages', async () => {
  for (let i = 0; i < 5; i++) {
    await createTwin(`${run}-q${i}`, {
      $metadata: { $model: roomModel },
      temperature: 10 + i,
      name: `q-${run}`,
    });
  }
  const sql = `SELECT * FROM digitaltwins WHERE name = 'q-${run}'`;
  const seen = [];
  let pages = 0;
  for await (const page of client.queryTwins(sql, 2).byPage()) {
    pages += 1;
    assert.ok(page.value.length <= 2, `page ${pages} has ${page.value.length} twins`);
    seen.push(...page.value.map((t) => t.temperature));
    assert.ok(pages < 20, 'the continuation ends');
  }
  assert.ok(pages >= 3, `5 twins at 2 a page came in ${pages} pages`);
  assert.deepEqual(seen.sort((a, b) => a - b), [10, 11, 12, 13, 14]);
  const counted = [];
  for await (const row of client.queryTwins(`SELECT COUNT() FROM digitaltwins WHERE name = 'q-${run}'`)) {
    counted.push(row);
  }
  assert.deepEqual(counted, [{ COUNT: 5 }]);
});

test('delete: twin with relationships is refused, then deleted with If-Match', async () => {
  const floor = `${run}-floor1`;
  await assert.rejects(client.deleteDigitalTwin(floor), (e) => {
    assert.equal(e.statusCode, 400);
    assert.equal(e.code, 'RelationshipsNotDeleted');
    return true;
  });
  for await (const rel of client.listRelationships(floor)) {
    await client.deleteRelationship(floor, rel.$relationshipId);
  }
  const { etag } = await client.getDigitalTwin(floor);
  await assert.rejects(client.deleteDigitalTwin(floor, { ifMatch: 'W/"stale"' }), (e) => {
    assert.equal(e.statusCode, 412);
    return true;
  });
  await client.deleteDigitalTwin(floor, { ifMatch: etag });
  await assert.rejects(client.getDigitalTwin(floor), (e) => {
    assert.equal(e.statusCode, 404);
    assert.equal(e.code, 'DigitalTwinNotFound');
    return true;
  });
  twins.splice(twins.indexOf(floor), 1);
});
