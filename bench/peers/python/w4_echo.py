"""W4 echo peer: an asyncio protocol echo server, the fast idiomatic form (no streams, no
coroutine per connection: the loop calls the protocol, which writes straight back to the
transport). asyncio and uvloop both set TCP_NODELAY on accepted TCP connections.

It is a BufferedProtocol (receives into a buffer of its own) rather than a plain
Protocol: Python 3.11's selector transport calls sock.recv(256 KiB) for a plain
Protocol, and glibc serves a 256 KiB bytes object with mmap, shrinks it with mremap and
frees it with munmap, so every request pays three extra system calls and a page fault
(measured on the 2-core development VM: ~150 us of server CPU per request instead of
~14 us). A user who profiles finds this quickly; `plain` keeps that form for comparison.

    w4_echo.py asyncio|uvloop PORT [plain]
        PORT 0: a free port; prints "listening on 127.0.0.1:PORT"
"""
import asyncio
import resource
import sys

from common import run


class Echo(asyncio.BufferedProtocol):
    def connection_made(self, transport):
        self.transport = transport
        self.buf = bytearray(65536)

    def get_buffer(self, sizehint):
        return self.buf

    def buffer_updated(self, nbytes):
        # A bytearray slice is a copy: the transport may keep what it cannot send now.
        self.transport.write(self.buf[:nbytes])


class PlainEcho(asyncio.Protocol):
    def connection_made(self, transport):
        self.transport = transport

    def data_received(self, data):
        self.transport.write(data)


async def main(port, proto):
    loop = asyncio.get_running_loop()
    server = await loop.create_server(proto, "127.0.0.1", port, backlog=4096)
    print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4) or sys.argv[3:] not in ([], ["plain"]):
        sys.exit("usage: w4_echo.py asyncio|uvloop PORT [plain]")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    run(main(int(sys.argv[2]), PlainEcho if sys.argv[3:] else Echo), sys.argv[1])
