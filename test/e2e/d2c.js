// Sends device-to-cloud messages with the real Azure IoT device SDK for Node
// over HTTP, as the Go test in d2c_test.go describes them, and prints one JSON
// line per send: {"i":n,"ok":true} or {"i":n,"ok":false,"error":{name,message}}.
//
// Environment:
//   DEVICE_CONNECTION_STRING  HostName=devicehub.test;DeviceId=...;SharedAccessKey=...
//   HUB_PORT                  plain-HTTP port of the hub on 127.0.0.1
//   SENDS                     JSON array; each item is {"single": msg} or {"batch": [msg, ...]}
//                             msg = {"body": "<base64>", "properties": [[k, v], ...],
//                                    "messageId", "correlationId", "userId", "contentType", "contentEncoding"}
'use strict';

const http = require('http');
const { Client, Message } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`d2c.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const connectionString = need('DEVICE_CONNECTION_STRING');
const port = Number(need('HUB_PORT'));
const sends = JSON.parse(need('SENDS'));

// The SDK always calls https.request({host: HostName}) with no port; this
// agent speaks plain HTTP and connects to the local hub whatever the host.
const agent = new http.Agent({ keepAlive: true });
agent.protocol = 'https:';
agent.defaultPort = port;
const createConnection = agent.createConnection.bind(agent);
agent.createConnection = (options, cb) => createConnection({ ...options, host: '127.0.0.1', port }, cb);

function toMessage(m) {
  const msg = new Message(Buffer.from(m.body, 'base64'));
  for (const [k, v] of m.properties || []) msg.properties.add(k, v);
  if (m.messageId) msg.messageId = m.messageId;
  if (m.correlationId) msg.correlationId = m.correlationId;
  if (m.userId) msg.userId = m.userId;
  if (m.contentType) msg.contentType = m.contentType;
  if (m.contentEncoding) msg.contentEncoding = m.contentEncoding;
  return msg;
}

async function main() {
  const client = Client.fromConnectionString(connectionString, Http);
  // http.receivePolicy must be present or setOptions never resolves.
  await client.setOptions({ http: { agent, receivePolicy: { interval: 3600 } } });
  let failed = 0;
  for (let i = 0; i < sends.length; i++) {
    const s = sends[i];
    try {
      if (s.single) {
        await client.sendEvent(toMessage(s.single));
      } else {
        await client.sendEventBatch(s.batch.map(toMessage));
      }
      console.log(JSON.stringify({ i, ok: true }));
    } catch (err) {
      failed++;
      console.log(JSON.stringify({ i, ok: false, error: { name: err.name, constructor: err.constructor.name, message: err.message, status: err.response ? err.response.statusCode : 0, body: err.responseBody ? String(err.responseBody) : '' } }));
    }
  }
  await client.close();
  agent.destroy();
  return failed;
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error('d2c.js:', err);
    process.exit(1);
  },
);
