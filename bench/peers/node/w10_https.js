// W10 HTTPS peer: Node's https module answering "Hello, World!" (text/plain), TLS 1.3
// only. Usage: node w10_https.js CERT KEY; prints "listening on https://127.0.0.1:PORT".
'use strict';
const fs = require('fs');
const https = require('https');

const body = 'Hello, World!';
const server = https.createServer({
    cert: fs.readFileSync(process.argv[2]),
    key: fs.readFileSync(process.argv[3]),
    minVersion: 'TLSv1.3',
}, (req, res) => {
    res.writeHead(200, {'Content-Type': 'text/plain', 'Content-Length': body.length});
    res.end(body);
});
server.keepAliveTimeout = 75000;
server.listen(0, '127.0.0.1', () => {
    console.log(`listening on https://127.0.0.1:${server.address().port}`);
});
