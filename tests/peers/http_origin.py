#!/usr/bin/env python3
"""An HTTP origin for tests/test_fetch.c on 127.0.0.1, standard library only: it answers
each path with a fixed raw response (malformed ones included) and closes. Prints
"PORT\\n" once listening, then serves until killed.

  /a                   200, body "hello\\n"
  /cl-junk             Content-Length: 3abc
  /cl-two              two different Content-Lengths
  /cl-same             the same Content-Length twice (valid), body "abc"
  /cl-negative         Content-Length: -5
  /cl-and-te           both Content-Length and Transfer-Encoding: chunked
  /status-2000         status line "HTTP/1.1 2000 OK"
  /chunk-negative      a chunk size of -5
  /chunk-hex-prefix    a chunk size of 0x3
  /moved               301 to the absolute URL of /a
  /redir/N             302 to /redir/N-1 (relative to the root); /redir/0 is 200 "landed\\n"
  /rel/x               302 to "y", i.e. /rel/y, which is 200 "y\\n"
  /https               301 to https://127.0.0.1/
  /ftp                 301 to ftp://127.0.0.1/ (a scheme fetch does not speak)
  /noloc               301 without a Location
  /missing             404
  /slow/N              200 "slow N\\n" after 50 ms
"""
import socket
import sys
import threading
import time


def response(path, port):
    def ok(body, extra=b""):
        return b"HTTP/1.1 200 OK\r\n" + extra + b"Content-Length: %d\r\n\r\n" % len(body) + body

    def redirect(code, loc):
        return b"HTTP/1.1 %d Moved\r\nLocation: %s\r\nContent-Length: 0\r\n\r\n" % (code, loc)

    fixed = {
        "/a": ok(b"hello\n"),
        "/cl-junk": b"HTTP/1.1 200 OK\r\nContent-Length: 3abc\r\n\r\nabc",
        "/cl-two": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
        "/cl-same": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc",
        "/cl-negative": b"HTTP/1.1 200 OK\r\nContent-Length: -5\r\n\r\nabc",
        "/cl-and-te": b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n"
                      b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        "/status-2000": b"HTTP/1.1 2000 OK\r\nContent-Length: 3\r\n\r\nabc",
        "/chunk-negative": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                           b"-5\r\nabc\r\n0\r\n\r\n",
        "/chunk-hex-prefix": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
                             b"0x3\r\nabc\r\n0\r\n\r\n",
        "/moved": redirect(301, b"http://127.0.0.1:%d/a" % port),
        "/rel/x": redirect(302, b"y"),
        "/rel/y": ok(b"y\n"),
        "/https": redirect(301, b"https://127.0.0.1/"),
        "/ftp": redirect(301, b"ftp://127.0.0.1/"),
        "/noloc": b"HTTP/1.1 301 Moved\r\nContent-Length: 0\r\n\r\n",
    }
    if path in fixed:
        return fixed[path]
    if path.startswith("/redir/"):
        n = int(path[7:])
        return ok(b"landed\n") if n == 0 else redirect(302, b"/redir/%d" % (n - 1))
    if path.startswith("/slow/"):
        time.sleep(0.05)
        return ok(b"slow %s\n" % path[6:].encode())
    return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"


def serve(conn, port):
    with conn:
        head = b""
        while b"\r\n\r\n" not in head:
            b = conn.recv(4096)
            if not b:
                return
            head += b
        path = head.split(b" ", 2)[1].decode()
        conn.sendall(response(path, port))


def main():
    ls = socket.socket()
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(256)
    port = ls.getsockname()[1]
    print(port, flush=True)
    while True:
        conn, _ = ls.accept()
        threading.Thread(target=serve, args=(conn, port), daemon=True).start()


if __name__ == "__main__":
    main()
