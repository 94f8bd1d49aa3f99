'use strict';
// Stands in for pg's lib/stream.js in the CLI bundle (tsup.config.ts). pg's own module asks at load
// whether it runs in a Cloudflare Worker by constructing a `Response`, which on Node 20 loads
// undici: ~20 ms of every command that opens a PostgreSQL session. The CLI only runs on Node.
module.exports = {
  getStream() {
    const net = require('node:net');
    return new net.Socket();
  },
  getSecureStream(options) {
    const tls = require('node:tls');
    return tls.connect(options);
  },
};
