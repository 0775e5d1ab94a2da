// W4 echo peer: Node's net module, each 'data' chunk written straight back (the plain
// form; socket.pipe(socket) does the same with stream bookkeeping on top). noDelay as
// every other W4 server has TCP_NODELAY.
// Usage: node w4_echo.js PORT (0: a free port; prints "listening on 127.0.0.1:PORT").
'use strict';
const net = require('net');

const server = net.createServer({ noDelay: true }, (sock) => {
  sock.on('data', (d) => sock.write(d));
  sock.on('error', () => sock.destroy());
});
server.listen({ host: '127.0.0.1', port: Number(process.argv[2] || 0), backlog: 4096 }, () => {
  console.log(`listening on 127.0.0.1:${server.address().port}`);
});
