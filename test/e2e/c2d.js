// Receives cloud-to-device messages with the real Azure IoT device SDK for
// Node over HTTP and settles each as its message id says: complete-*,
// reject-*, abandon-* (abandoned the first time, completed the second).
// Prints one JSON line per message received:
//   {"messageId","correlationId","lockToken","data":"<base64>","properties":[[k,v],...],"action"}
// and exits 0 once EXPECT settles succeeded (1 on a settle error or timeout).
//
// Environment:
//   DEVICE_CONNECTION_STRING  HostName=devicehub.test;DeviceId=...;SharedAccessKey=...
//   HUB_PORT                  plain-HTTP port of the hub on 127.0.0.1
//   EXPECT                    number of settles before exiting
'use strict';

const http = require('http');
const { Client } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`c2d.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const connectionString = need('DEVICE_CONNECTION_STRING');
const port = Number(need('HUB_PORT'));
const expect = Number(need('EXPECT'));

// The SDK always calls https.request({host: HostName}) with no port; this
// agent speaks plain HTTP and connects to the local hub whatever the host.
const agent = new http.Agent({ keepAlive: true });
agent.protocol = 'https:';
agent.defaultPort = port;
const createConnection = agent.createConnection.bind(agent);
agent.createConnection = (options, cb) => createConnection({ ...options, host: '127.0.0.1', port }, cb);

async function main() {
  const client = Client.fromConnectionString(connectionString, Http);
  // http.receivePolicy must be present or setOptions never resolves; drain
  // (the default) asks again at once after every message.
  await client.setOptions({ http: { agent, receivePolicy: { interval: 1 } } });
  const seen = new Map();
  let settled = 0;
  const done = new Promise((resolve, reject) => {
    client.on('error', reject);
    client.on('message', async (msg) => {
      const id = msg.messageId || '';
      const n = (seen.get(id) || 0) + 1;
      seen.set(id, n);
      let action = 'complete';
      if (id.startsWith('reject')) action = 'reject';
      if (id.startsWith('abandon') && n === 1) action = 'abandon';
      const data = Buffer.isBuffer(msg.data) ? msg.data : Buffer.from(msg.data || '', 'utf8');
      const properties = [];
      for (let i = 0; i < msg.properties.count(); i++) {
        const p = msg.properties.getItem(i);
        properties.push([p.key, p.value]);
      }
      console.log(JSON.stringify({ messageId: id, correlationId: msg.correlationId || '', lockToken: msg.lockToken,
        data: data.toString('base64'), properties, action }));
      try {
        await client[action](msg);
        settled++;
        if (settled >= expect) resolve();
      } catch (err) {
        reject(err);
      }
    });
  });
  const timer = setTimeout(() => { console.error('c2d.js: timed out'); process.exit(1); }, 30000);
  try {
    await done;
  } finally {
    clearTimeout(timer);
    client.removeAllListeners('message');
    await client.close();
  }
}

main().then(() => process.exit(0), (err) => {
  console.error('c2d.js:', err && err.name, err && err.message);
  process.exit(1);
});
