// Drives the hub's registry with the Azure IoT service SDK for Node
// (azure-iothub's Registry over HTTPS REST), unchanged, and prints one JSON
// line per step: {"step","ok":true,"value":...} or
// {"step","ok":false,"error":{"name","constructor","message","status"}}.
// It also reads and writes device twin tags (getTwin, Twin.update, updateTwin).
// registry_test.go says what each step must answer.
//
// Environment:
//   SERVICE_CONNECTION_STRING  HostName=devicehub.test;SharedAccessKeyName=iothubowner;SharedAccessKey=...
//   HUB_PORT                   plain-HTTP port of the hub on 127.0.0.1
//   PREFIX                     device id prefix of this run
//   KEY1, KEY2                 base64 keys for the device created with keys
//   THUMB1, THUMB2             thumbprints for the self-signed device
'use strict';

const https = require('https');
const net = require('net');
const { Registry, Device, Twin } = require('azure-iothub');
// The SDK's own REST client, for the one request Registry cannot make: a
// device update guarded by an etag (Registry.update always sends If-Match "*").
const { RestApiClient } = require('azure-iothub/dist/common-http/rest_api_client');
const { SharedAccessSignature } = require('azure-iothub');

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`registry.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const connectionString = need('SERVICE_CONNECTION_STRING');
const port = Number(need('HUB_PORT'));
const prefix = need('PREFIX');

// Registry.fromConnectionString makes its own https.Agent and connects to
// HostName on 443. This process reaches the hub on 127.0.0.1:HUB_PORT over
// plain HTTP instead: every https.Agent connection goes there (the SDK's
// request code runs unchanged on the socket).
https.Agent.prototype.createConnection = function createConnection(options, cb) {
  const socket = net.createConnection({ host: '127.0.0.1', port });
  if (cb) socket.once('connect', () => cb(null, socket));
  return socket;
};

function describe(err) {
  return {
    name: err.name,
    constructor: err.constructor.name,
    message: err.message,
    status: err.response ? err.response.statusCode : 0,
  };
}

function summary(d) {
  const a = d.authentication || {};
  return {
    deviceId: d.deviceId,
    generationId: d.generationId,
    etag: d.etag,
    status: d.status,
    statusReason: d.statusReason,
    type: a.type,
    primaryKey: a.symmetricKey ? a.symmetricKey.primaryKey : null,
    secondaryKey: a.symmetricKey ? a.symmetricKey.secondaryKey : null,
    primaryThumbprint: a.x509Thumbprint ? a.x509Thumbprint.primaryThumbprint : null,
    secondaryThumbprint: a.x509Thumbprint ? a.x509Thumbprint.secondaryThumbprint : null,
    isDevice: d instanceof Device,
  };
}

async function step(name, fn) {
  try {
    const value = await fn();
    console.log(JSON.stringify({ step: name, ok: true, value }));
    return value;
  } catch (err) {
    console.log(JSON.stringify({ step: name, ok: false, error: describe(err) }));
    return undefined;
  }
}

// putWithETag sends the device the way Registry.update does, but with the
// given If-Match, through the SDK's own REST client and error mapping.
function putWithETag(registryHost, device, etag) {
  const cs = require('azure-iothub').ConnectionString.parse(connectionString);
  const client = new RestApiClient({
    host: registryHost,
    sharedAccessSignature: SharedAccessSignature.create(cs.HostName, cs.SharedAccessKeyName, cs.SharedAccessKey, Date.now()),
  }, 'azure-iothub/e2e');
  const path = '/devices/' + encodeURIComponent(device.deviceId) + require('azure-iothub').versionQueryString();
  return new Promise((resolve, reject) => {
    client.executeApiCall('PUT', path, { 'Content-Type': 'application/json; charset=utf-8', 'If-Match': '"' + etag + '"' }, device,
      (err, result) => (err ? reject(err) : resolve(new Device(result))));
  });
}

async function main() {
  const registry = Registry.fromConnectionString(connectionString);
  const host = require('azure-iothub').ConnectionString.parse(connectionString).HostName;

  // Create: a plain object as the README sample builds it (no keys: the hub makes them).
  await step('create-plain', async () => summary((await registry.create({ deviceId: prefix + '-plain' })).responseBody));
  // A Device object with its keys, as the samples build one.
  await step('create-keys', async () => summary((await registry.create(new Device({
    deviceId: prefix + '-keys', status: 'enabled',
    authentication: { symmetricKey: { primaryKey: need('KEY1'), secondaryKey: need('KEY2') } },
  }))).responseBody));
  // A bare Device object: every field at the SDK's default (cloudToDeviceMessageCount '0', null keys and thumbprints).
  await step('create-device-class', async () => summary((await registry.create(new Device({ deviceId: prefix + '-class' }))).responseBody));
  // X.509 self-signed, as the SDK's x509 sample builds it: thumbprints only, the SDK adds type selfSigned.
  await step('create-selfsigned', async () => summary((await registry.create({
    deviceId: prefix + '-x509', status: 'enabled',
    authentication: { x509Thumbprint: { primaryThumbprint: need('THUMB1'), secondaryThumbprint: need('THUMB2') } },
  })).responseBody));
  // X.509 CA-signed.
  await step('create-ca', async () => summary((await registry.create({
    deviceId: prefix + '-ca', authentication: { type: 'certificateAuthority' },
  })).responseBody));
  await step('create-duplicate', async () => summary((await registry.create({ deviceId: prefix + '-plain' })).responseBody));
  await step('create-bad-id', async () => summary((await registry.create({ deviceId: prefix + ' bad id' })).responseBody));

  const got = await step('get', async () => summary((await registry.get(prefix + '-keys')).responseBody));
  await step('get-missing', async () => summary((await registry.get(prefix + '-missing')).responseBody));

  // Update as the samples do: get, change, update (If-Match "*").
  await step('update-star', async () => {
    const d = (await registry.get(prefix + '-keys')).responseBody;
    d.status = 'disabled';
    d.statusReason = 'maintenance';
    return summary((await registry.update(d)).responseBody);
  });
  // A partial device, as Registry.update's doc allows: only id and status.
  await step('update-partial', async () => summary((await registry.update({ deviceId: prefix + '-class', status: 'disabled' })).responseBody));
  await step('update-missing', async () => summary((await registry.update({ deviceId: prefix + '-missing', status: 'disabled' })).responseBody));
  // Update guarded by the current etag, then by the stale one.
  await step('update-etag', async () => {
    const cur = (await registry.get(prefix + '-keys')).responseBody;
    cur.status = 'enabled';
    return summary(await putWithETag(host, cur, cur.etag));
  });
  // The etag the first get saw is two updates old by now.
  await step('update-stale-etag', async () => {
    const cur = (await registry.get(prefix + '-keys')).responseBody;
    return summary(await putWithETag(host, cur, got ? got.etag : 'x'));
  });

  // The twin's tags, as the SDK's twin samples use them: Registry.getTwin,
  // Twin.update (If-Match: the twin's etag), Registry.updateTwin.
  function twinSummary(t) {
    return { deviceId: t.deviceId, etag: t.etag, version: t.version, tags: t.tags, isTwin: t instanceof Twin };
  }
  const twin = await step('twin-get', async () => twinSummary((await registry.getTwin(prefix + '-keys')).responseBody));
  await step('twin-update', async () => {
    const t = (await registry.getTwin(prefix + '-keys')).responseBody;
    return twinSummary((await t.update({ tags: { site: 'b43', loc: { floor: 1, room: '12' } } })).result);
  });
  await step('twin-update-registry', async () => {
    const t = (await registry.getTwin(prefix + '-keys')).responseBody;
    return twinSummary((await registry.updateTwin(prefix + '-keys', { tags: { loc: { room: null }, extra: true } }, t.etag)).responseBody);
  });
  await step('twin-stale-etag', async () => twinSummary((await registry.updateTwin(prefix + '-keys', { tags: { x: 1 } }, twin ? twin.etag : 'x')).responseBody));
  await step('twin-bad-key', async () => twinSummary((await registry.updateTwin(prefix + '-keys', { tags: { 'a.b': 1 } }, '*')).responseBody));
  await step('twin-missing', async () => twinSummary((await registry.getTwin(prefix + '-missing')).responseBody));

  await step('list', async () => (await registry.list()).responseBody.map((d) => summary(d)).sort((a, b) => a.deviceId.localeCompare(b.deviceId)));

  await step('delete', async () => { await registry.delete(prefix + '-plain'); return null; });
  await step('get-deleted', async () => summary((await registry.get(prefix + '-plain')).responseBody));
  await step('delete-missing', async () => { await registry.delete(prefix + '-plain'); return null; });

  // A connection string with a wrong key.
  const cs = require('azure-iothub').ConnectionString.parse(connectionString);
  const wrong = Registry.fromConnectionString(`HostName=${cs.HostName};SharedAccessKeyName=${cs.SharedAccessKeyName};SharedAccessKey=${Buffer.alloc(32, 7).toString('base64')}`);
  await step('wrong-key', async () => summary((await wrong.get(prefix + '-keys')).responseBody));
}

main().then(() => process.exit(0), (err) => {
  console.error('registry.js:', err);
  process.exit(1);
});
