"""W5 HTTP peer: an asyncio Protocol answering "Hello, World!" (text/plain) to every
request: keep-alive for HTTP/1.1 unless "Connection: close", pipelined requests answered
with one write per data_received, Content-Length bodies skipped.
Usage: w5_http.py asyncio|uvloop [PORT] (default 0: a free port); prints
"listening on 127.0.0.1:PORT"."""
import asyncio
import email.utils
import sys
import time

from common import run

BODY = b"Hello, World!"
_head = [0, b""]  # second, status line + headers up to Content-Length


def head():
    now = int(time.time())
    if now != _head[0]:  # the Date changes once a second: format it once a second
        _head[0] = now
        _head[1] = (b"HTTP/1.1 200 OK\r\nServer: asyncio\r\nDate: " +
                    email.utils.formatdate(now, usegmt=True).encode() +
                    b"\r\nContent-Type: text/plain\r\nContent-Length: 13\r\n")
    return _head[1]


class Hello(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = b""
        self.skip = 0  # body bytes still to drop

    def data_received(self, data):
        buf = self.buf + data
        out = []
        close = False
        while True:
            if self.skip:
                n = min(self.skip, len(buf))
                buf = buf[n:]
                self.skip -= n
                if self.skip:
                    break
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                break
            lines = buf[:end].split(b"\r\n")
            buf = buf[end + 4:]
            method = lines[0].partition(b" ")[0]
            keep = lines[0].endswith(b"HTTP/1.1")
            for line in lines[1:]:
                name, _, value = line.partition(b":")
                name = name.lower()
                if name == b"connection":
                    v = value.strip().lower()
                    keep = v != b"close" and (keep or v == b"keep-alive")
                elif name == b"content-length":
                    self.skip = int(value)
            out.append(head())
            out.append(b"\r\n" if keep else b"Connection: close\r\n\r\n")
            if method != b"HEAD":
                out.append(BODY)
            if not keep:
                close = True
                break
        self.buf = buf
        if out:
            self.transport.write(b"".join(out))
        if close:
            self.transport.close()


async def main(port):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Hello, "127.0.0.1", port, backlog=4096)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    run(main(int(sys.argv[2]) if len(sys.argv) > 2 else 0), sys.argv[1])
