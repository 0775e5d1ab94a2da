// W5 HTTP peer: node's http module answering "Hello, World!" (text/plain) to every
// request, keep-alive as node does by default.
// Usage: node w5_http.js [PORT] (default 0: a free port); prints "listening on 127.0.0.1:PORT".
'use strict';
const http = require('http');

const body = Buffer.from('Hello, World!');
const server = http.createServer((req, res) => {
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
  res.end(body);
});
// wrk keeps its connections busy; only an idle one would hit node's 5 s keep-alive timeout.
// The backlog is node's 511 by default: 1000 connections arriving at once would overflow
// it (dropped handshakes, requests retried after a second), as the other servers' 4096 do not.
server.listen({ port: Number(process.argv[2] || 0), host: '127.0.0.1', backlog: 4096 }, () => {
  process.stdout.write(`listening on 127.0.0.1:${server.address().port}\n`);
});
