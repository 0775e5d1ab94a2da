//go:build ignore

// W10 HTTPS peer: net/http over crypto/tls answering "Hello, World!" (text/plain), on one
// P (GOMAXPROCS=1), TLS 1.3 only. Usage: w10_https CERT KEY; prints
// "listening on https://127.0.0.1:PORT".
package main

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"runtime"
)

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) != 3 {
		fmt.Fprintln(os.Stderr, "usage: w10_https CERT KEY")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, "w10_https:", err)
		os.Exit(1)
	}
	fmt.Printf("listening on https://%s\n", ln.Addr())
	os.Stdout.Sync()
	body := []byte("Hello, World!")
	hello := func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h["Content-Type"] = []string{"text/plain"}
		h["Content-Length"] = []string{"13"}
		w.Write(body)
	}
	srv := &http.Server{Handler: http.HandlerFunc(hello),
		TLSConfig: &tls.Config{MinVersion: tls.VersionTLS13}}
	err = srv.ServeTLS(ln, os.Args[1], os.Args[2])
	fmt.Fprintln(os.Stderr, "w10_https:", err)
	os.Exit(1)
}
