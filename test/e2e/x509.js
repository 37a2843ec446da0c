// An X.509 device with the real Azure IoT device SDK for Node over HTTPS: an
// `x509=true` connection string and setOptions({cert, key}), unchanged. It
// sends each message of SENDS (one line per send:
// {"send":i,"ok":true} or {"send":i,"ok":false,"error":{name,constructor,message,status}}),
// then, when EXPECT_C2D > 0, receives and completes that many
// cloud-to-device messages (one line each: {"received":messageId,"data":"<text>"}).
//
// Environment:
//   DEVICE_CONNECTION_STRING  HostName=devicehub.test;DeviceId=...;x509=true
//   HUB_PORT                  HTTPS port of the hub on 127.0.0.1
//   CERT_PEM, KEY_PEM         the device's certificate (leaf first, then its chain) and key
//   CA_PEM                    the CA of the hub's server certificate
//   SENDS                     JSON array: {"body": "<text>", "properties": [[k, v], ...]} sends one
//                             message, {"batch": [...]} sends those as one batch
//   EXPECT_C2D                cloud-to-device messages to complete before exiting (default 0)
'use strict';

const https = require('https');
const { Client, Message } = require('azure-iot-device');
const { Http } = require('azure-iot-device-http');

function need(name) {
  const v = process.env[name];
  if (!v) {
    console.error(`x509.js: ${name} is not set`);
    process.exit(2);
  }
  return v;
}

const port = Number(need('HUB_PORT'));
const sends = JSON.parse(need('SENDS'));
const expectC2D = Number(process.env.EXPECT_C2D || '0');

// The SDK connects to HostName on 443; this agent keeps every TLS option the
// SDK passes (the device's cert and key, the ca, the server name HostName,
// checked against the hub's certificate) and only changes where it connects.
class LocalAgent extends https.Agent {
  createConnection(options, cb) {
    return super.createConnection({ ...options, host: '127.0.0.1', port }, cb);
  }
}
const agent = new LocalAgent({ keepAlive: true });

function toMessage(m) {
  const msg = new Message(m.body);
  for (const [k, v] of m.properties || []) msg.properties.add(k, v);
  if (m.messageId) msg.messageId = m.messageId;
  return msg;
}

function describe(err) {
  return { name: err.name, constructor: err.constructor.name, message: err.message,
    status: err.response ? err.response.statusCode : 0, body: err.responseBody ? String(err.responseBody) : '' };
}

async function main() {
  const client = Client.fromConnectionString(need('DEVICE_CONNECTION_STRING'), Http);
  // http.receivePolicy must be present or setOptions never resolves.
  await client.setOptions({
    cert: need('CERT_PEM'), key: need('KEY_PEM'), ca: need('CA_PEM'),
    http: { agent, receivePolicy: { interval: 1 } },
  });
  for (let i = 0; i < sends.length; i++) {
    const s = sends[i];
    try {
      if (s.batch) {
        await client.sendEventBatch(s.batch.map(toMessage));
      } else {
        await client.sendEvent(toMessage(s));
      }
      console.log(JSON.stringify({ send: i, ok: true }));
    } catch (err) {
      console.log(JSON.stringify({ send: i, ok: false, error: describe(err) }));
    }
  }
  if (expectC2D > 0) {
    let done = 0;
    await new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('timed out waiting for cloud-to-device messages')), 30000);
      client.on('error', reject);
      client.on('message', async (msg) => {
        const data = Buffer.isBuffer(msg.data) ? msg.data.toString('utf8') : String(msg.data || '');
        console.log(JSON.stringify({ received: msg.messageId, data }));
        try {
          await client.complete(msg);
        } catch (err) {
          clearTimeout(timer);
          reject(err);
          return;
        }
        if (++done >= expectC2D) {
          clearTimeout(timer);
          resolve();
        }
      });
    });
    client.removeAllListeners('message');
  }
  await client.close();
  agent.destroy();
}

main().then(() => process.exit(0), (err) => {
  console.error('x509.js:', err && err.name, err && err.message);
  process.exit(1);
});
