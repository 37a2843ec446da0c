// Preloaded into the emulators (node -r): they bind 0.0.0.0 by default; this
// forces every listening socket onto 127.0.0.1 so nothing is exposed.
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' || typeof args[0] === 'string' && /^\d+$/.test(args[0])) {
    const cb = args.find((a) => typeof a === 'function');
    return cb ? listen.call(this, Number(args[0]), '127.0.0.1', cb) : listen.call(this, Number(args[0]), '127.0.0.1');
  }
  if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined) {
    args[0] = { ...args[0], host: '127.0.0.1' };
  }
  return listen.apply(this, args);
};

// kinesalite and dynalite rethrow a request's 'error' event
// (`req.on('error', err => { throw err })`), so a client that drops a
// request mid-body (a cancelled context, a killed process) crashes the
// emulator for every later test. A dropped client connection is the
// client's business: ignore it; anything else still ends the process as
// Node would.
process.on('uncaughtException', (err) => {
  if (err && (err.code === 'ECONNRESET' || err.message === 'aborted')) return;
  console.error(err);
  process.exit(1);
});
