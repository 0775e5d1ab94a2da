//go:build ignore

// W5 HTTP peer: net/http answering "Hello, World!" (text/plain) to every request,
// keep-alive as net/http does by default, on one P (GOMAXPROCS=1, also forced below).
// Usage: w5_http [PORT] (default 0: a free port); prints "listening on 127.0.0.1:PORT".
package main

import (
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
)

func main() {
	runtime.GOMAXPROCS(1)
	port := "0"
	if len(os.Args) > 1 {
		port = os.Args[1]
	}
	ln, err := net.Listen("tcp", "127.0.0.1:"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, "w5_http:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	os.Stdout.Sync()
	body := []byte("Hello, World!")
	hello := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{"13"}
		w.Write(body)
	}
	err = http.Serve(ln, http.HandlerFunc(hello))
	fmt.Fprintln(os.Stderr, "w5_http:", err)
	os.Exit(1)
}
