//go:build ignore

// W4 echo peer: the plain Go echo server, one goroutine per connection looping
// Read/Write on a 64 KiB buffer (what a user would write; io.Copy would splice(2)
// TCP to TCP on Linux, which no other peer does). GOMAXPROCS=1 (also forced below),
// like one coio loop. Go sets TCP_NODELAY on accepted connections by default.
// Usage: w4_echo PORT (0: a free port; prints "listening on 127.0.0.1:PORT").
package main

import (
	"fmt"
	"net"
	"os"
	"runtime"
)

func echo(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 65536)
	for {
		n, err := c.Read(buf)
		if err != nil {
			return
		}
		if _, err := c.Write(buf[:n]); err != nil {
			return
		}
	}
}

func main() {
	runtime.GOMAXPROCS(1)
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "w4_echo:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", l.Addr())
	for {
		c, err := l.Accept()
		if err != nil {
			continue // EMFILE and the like: keep serving
		}
		go echo(c)
	}
}
