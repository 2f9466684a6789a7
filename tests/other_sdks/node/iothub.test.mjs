// The official Node.js IoT Hub service SDK (npm azure-iothub, pinned in package.json) against the
// emulator binary over HTTPS. Run by ../run.sh, which starts the emulator with `--tls
// --host-name localhost --listen 127.0.0.1:443` (azure-iothub always connects to port 443 of the
// connection string's HostName), exports IOTHUB_CONNECTION_STRING and trusts the emulator's
// certificate through NODE_EXTRA_CA_CERTS.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import iothub from 'azure-iothub';

const { Registry, JobClient } = iothub;

const cs = process.env.IOTHUB_CONNECTION_STRING;
assert.ok(cs, 'IOTHUB_CONNECTION_STRING is not set (run ../run.sh)');
assert.match(cs, /^HostName=[^:;]+;/, 'azure-iothub needs a HostName without a port');

const registry = Registry.fromConnectionString(cs);
const jobs = JobClient.fromConnectionString(cs);
const run = `node-${process.pid}`;
const created = [];

async function createDevice(deviceId) {
  const { responseBody } = await registry.create({ deviceId });
  created.push(deviceId);
  return responseBody;
}

after(async () => {
  for (const id of created) {
    await registry.delete(id).catch(() => {});
  }
});

test('device identity: create, get, list', async () => {
  const id = `${run}-dev`;
  const dev = await createDevice(id);
  assert.equal(dev.deviceId, id);
  assert.equal(dev.status, 'enabled');
  assert.ok(dev.etag, 'created device has an etag');
  assert.ok(dev.authentication.symmetricKey.primaryKey.length > 20, 'service generated a key');
  const { responseBody: got } = await registry.get(id);
  assert.equal(got.deviceId, id);
  assert.equal(got.authentication.symmetricKey.primaryKey, dev.authentication.symmetricKey.primaryKey);
  const { responseBody: all } = await registry.list();
  assert.ok(all.some((d) => d.deviceId === id), 'list has the new device');
  await assert.rejects(registry.create({ deviceId: id }), (e) => {
    assert.equal(e.constructor.name, 'DeviceAlreadyExistsError');
    assert.equal(e.response.statusCode, 409);
    return true;
  });
});

test('twin: get, update with the etag, 412 on a stale etag', async () => {
  const id = `${run}-twin`;
  await createDevice(id);
  const { responseBody: twin } = await registry.getTwin(id);
  assert.equal(twin.deviceId, id);
  assert.ok(twin.etag, 'twin has an etag');
  const version = twin.properties.desired.$metadata ? twin.properties.desired.$version : undefined;
  const patch = { tags: { site: 'north', floor: 3 }, properties: { desired: { setpoint: 21.5 } } };
  const { responseBody: updated } = await registry.updateTwin(id, patch, twin.etag);
  assert.equal(updated.tags.site, 'north');
  assert.equal(updated.tags.floor, 3);
  assert.equal(updated.properties.desired.setpoint, 21.5);
  assert.notEqual(updated.etag, twin.etag, 'the update changed the etag');
  if (version !== undefined) {
    assert.equal(updated.properties.desired.$version, version + 1);
  }
  // The old etag is stale now: the service answers 412, the SDK raises InvalidEtagError.
  await assert.rejects(registry.updateTwin(id, { tags: { site: 'south' } }, twin.etag), (e) => {
    assert.equal(e.constructor.name, 'InvalidEtagError');
    assert.equal(e.response.statusCode, 412);
    return true;
  });
  const { responseBody: after412 } = await registry.getTwin(id);
  assert.equal(after412.tags.site, 'north', 'the refused update changed nothing');
  assert.equal(after412.etag, updated.etag);
  // The Twin object's own update() sends its current etag; the patch merges (null removes).
  const { result: merged } = await after412.update({ tags: { floor: null, wing: 'b' } });
  assert.equal(merged.tags.wing, 'b');
  assert.equal(merged.tags.floor, undefined, 'null removed the tag');
  assert.equal(merged.tags.site, 'north');
});

test('query: several pages of twins', async () => {
  const group = `${run}-q`;
  const ids = [];
  for (let i = 0; i < 7; i++) {
    const id = `${group}-${i}`;
    await createDevice(id);
    const { responseBody: t } = await registry.getTwin(id);
    await registry.updateTwin(id, { tags: { group, index: i } }, t.etag);
    ids.push(id);
  }
  const query = registry.createQuery(`SELECT * FROM devices WHERE tags.group = '${group}'`, 2);
  const seen = [];
  let pages = 0;
  while (query.hasMoreResults) {
    const { result } = await query.nextAsTwin();
    pages += 1;
    assert.ok(result.length <= 2, `page ${pages} has ${result.length} twins, page size is 2`);
    for (const t of result) {
      assert.equal(t.tags.group, group);
      seen.push(t.deviceId);
    }
    assert.ok(pages < 20, 'the continuation ends');
  }
  assert.ok(pages >= 4, `7 twins at 2 a page came in ${pages} pages`);
  assert.deepEqual([...seen].sort(), [...ids].sort());
  // An aggregate query.
  const count = registry.createQuery(`SELECT COUNT() AS n FROM devices WHERE tags.group = '${group}'`);
  const { result: rows } = await count.next();
  assert.deepEqual(rows, [{ n: 7 }]);
});

test('scheduled twin-update job runs over the matching devices', async () => {
  const group = `${run}-job`;
  const ids = [`${group}-a`, `${group}-b`];
  for (const id of ids) {
    await createDevice(id);
    const { responseBody: t } = await registry.getTwin(id);
    await registry.updateTwin(id, { tags: { group } }, t.etag);
  }
  const jobId = `${run}-job-1`;
  const patch = { etag: '*', properties: { desired: { firmware: '2.0.1' } } };
  const { jobStatus: scheduled } = await jobs.scheduleTwinUpdate(
    jobId, `tags.group = '${group}'`, patch, new Date(), 120,
  );
  assert.equal(scheduled.jobId, jobId);
  assert.equal(scheduled.type, 'scheduleUpdateTwin');
  let job = scheduled;
  for (let i = 0; i < 600 && !['completed', 'failed', 'cancelled'].includes(job.status); i++) {
    await new Promise((r) => setTimeout(r, 100));
    ({ jobStatus: job } = await jobs.getJob(jobId));
  }
  assert.equal(job.status, 'completed', JSON.stringify(job));
  assert.equal(job.deviceJobStatistics.deviceCount, 2);
  assert.equal(job.deviceJobStatistics.succeededCount, 2);
  for (const id of ids) {
    const { responseBody: t } = await registry.getTwin(id);
    assert.equal(t.properties.desired.firmware, '2.0.1', `job patched ${id}`);
  }
  const { responseBody: other } = await registry.getTwin(`${run}-twin`);
  assert.equal(other.properties.desired.firmware, undefined, 'a device outside the condition is untouched');
});

test('configurations: add, get, update with the etag, list, remove', async () => {
  const id = `${run}-cfg`;
  const { responseBody: added } = await registry.addConfiguration({
    id,
    content: { deviceContent: { 'properties.desired.cfg': { mode: 'eco' } } },
    targetCondition: `tags.site = 'north'`,
    priority: 10,
    labels: { owner: 'node' },
  });
  assert.equal(added.id, id);
  assert.equal(added.schemaVersion, '1.0');
  assert.ok(added.etag);
  const { responseBody: got } = await registry.getConfiguration(id);
  assert.equal(got.priority, 10);
  assert.equal(got.labels.owner, 'node');
  assert.deepEqual(got.content.deviceContent['properties.desired.cfg'], { mode: 'eco' });
  got.priority = 20;
  const { responseBody: updated } = await registry.updateConfiguration(got);
  assert.equal(updated.priority, 20);
  assert.notEqual(updated.etag, got.etag);
  got.priority = 30; // got.etag is stale now
  await assert.rejects(registry.updateConfiguration(got), (e) => {
    assert.equal(e.response.statusCode, 412);
    return true;
  });
  const { responseBody: list } = await registry.getConfigurations();
  assert.equal(list.find((c) => c.id === id)?.priority, 20);
  await registry.removeConfiguration(id);
  await assert.rejects(registry.getConfiguration(id), (e) => {
    assert.equal(e.response.statusCode, 404);
    return true;
  });
});
