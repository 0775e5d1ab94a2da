#!/usr/bin/env python3
"""Real network peers for coio's tests (tests/test_net.c, tests/test_server.c), on
127.0.0.1 only. Standard library only.

Clients (against a coio server at PORT):
  echo-client PORT CONNS MSGS SIZE  asyncio client: CONNS connections, each sends MSGS
                                    messages of SIZE bytes and waits for each echo;
                                    exit 0 when every byte matched
  reset PORT                        connect, send b"bye", abort with RST (SO_LINGER 0)
  half-close PORT DATA              send DATA, shut down writing, read to EOF, print it
  trickle PORT DATA DELAY           send DATA one byte every DELAY s, shut down writing,
                                    read to EOF; exit 0 if the echo equals DATA
  silent PORT SECONDS               connect and do nothing for SECONDS
Servers (print "PORT\\n" when listening, serve one connection, exit):
  serve-reset                       accept, read one byte, then reset the connection
  serve-silent SECONDS              accept and never answer
  serve-trickle DATA DELAY          send DATA one byte every DELAY s, then close
  serve-half-close                  read to EOF, send b"got N bytes", close
  serve-sink SECONDS                accept, never read (the sender's buffers fill up)
"""
import asyncio
import socket
import struct
import sys
import time

HOST = "127.0.0.1"


async def echo_client(port, conns, msgs, size):
    async def one(i):
        reader, writer = await asyncio.open_connection(HOST, port)
        for j in range(msgs):
            payload = bytes((i + j + k) % 251 for k in range(size))
            writer.write(payload)
            await writer.drain()
            back = await reader.readexactly(size)
            if back != payload:
                raise RuntimeError(f"connection {i} message {j}: echo differs")
        writer.close()
        await writer.wait_closed()

    await asyncio.gather(*(one(i) for i in range(conns)))


def connect(port):
    s = socket.create_connection((HOST, port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    return s


def read_to_eof(s):
    out = b""
    while True:
        b = s.recv(65536)
        if not b:
            return out
        out += b


def abort(s):
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def listen_and_accept():
    ls = socket.socket()
    ls.bind((HOST, 0))
    ls.listen(1)
    print(ls.getsockname()[1], flush=True)
    c, _ = ls.accept()
    ls.close()
    return c


def main(argv):
    cmd = argv[1]
    if cmd == "echo-client":
        port, conns, msgs, size = map(int, argv[2:6])
        asyncio.run(echo_client(port, conns, msgs, size))
    elif cmd == "reset":
        s = connect(int(argv[2]))
        s.sendall(b"bye")
        time.sleep(0.05)
        abort(s)
    elif cmd == "half-close":
        s = connect(int(argv[2]))
        s.sendall(argv[3].encode())
        s.shutdown(socket.SHUT_WR)
        sys.stdout.write(read_to_eof(s).decode())
        s.close()
    elif cmd == "trickle":
        s = connect(int(argv[2]))
        data, delay = argv[3].encode(), float(argv[4])
        for i in range(len(data)):
            s.sendall(data[i:i + 1])
            time.sleep(delay)
        s.shutdown(socket.SHUT_WR)
        back = read_to_eof(s)
        s.close()
        return 0 if back == data else 1
    elif cmd == "silent":
        s = connect(int(argv[2]))
        time.sleep(float(argv[3]))
        s.close()
    elif cmd == "serve-reset":
        c = listen_and_accept()
        c.recv(1)
        abort(c)
    elif cmd in ("serve-silent", "serve-sink"):
        c = listen_and_accept()
        time.sleep(float(argv[2]))
        c.close()
    elif cmd == "serve-trickle":
        c = listen_and_accept()
        data, delay = argv[2].encode(), float(argv[3])
        for i in range(len(data)):
            c.sendall(data[i:i + 1])
            time.sleep(delay)
        c.close()
    elif cmd == "serve-half-close":
        c = listen_and_accept()
        n = len(read_to_eof(c))
        c.sendall(f"got {n} bytes".encode())
        c.close()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
