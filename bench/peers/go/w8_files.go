// W8 files peer in Go: os.File calls from 64 goroutines (a blocking call holds an OS
// thread; the runtime starts more), as bench/w8_files.c does with coio:
//
//	w8_files b DIR [N=10000]     DIR/b/fNNNNN: open, read (8 KiB buffer), close -> files/s
//	w8_files c DIR [OPS=200000]  random 4 KiB ReadAt of DIR/w8.dat -> IOPS
//	w8_files d DIR [N=1000]      DIR/d/fNNNNN: create, write 64 KiB, Sync, close -> files/s
//
// Prints one JSON line in w8_files.c's schema (impl "go", cpu_us_per_op). Run with
// GOMAXPROCS=1, as every Go peer.
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpu() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) * 1e-9
}

func main() {
	if len(os.Args) < 3 {
		fmt.Fprintln(os.Stderr, "usage: w8_files b|c|d DIR [N]")
		os.Exit(2)
	}
	mode, dir := os.Args[1], os.Args[2]
	n := map[string]int64{"b": 10000, "c": 200000, "d": 1000}[mode]
	if len(os.Args) > 3 {
		n, _ = strconv.ParseInt(os.Args[3], 10, 64)
	}
	var big *os.File
	var blocks int64
	if mode == "c" {
		f, err := os.Open(dir + "/w8.dat")
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		st, _ := f.Stat()
		big, blocks = f, st.Size()/4096
	} else if mode == "d" {
		os.Mkdir(dir+"/d", 0700)
	}
	var next, done, failed int64
	var wg sync.WaitGroup
	c0, t0 := cpu(), time.Now()
	for k := 0; k < 64; k++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			buf := make([]byte, 64*1024)
			rng := seed
			for {
				i := atomic.AddInt64(&next, 1) - 1
				if i >= n {
					return
				}
				var err error
				switch mode {
				case "b":
					var f *os.File
					if f, err = os.Open(fmt.Sprintf("%s/b/f%05d", dir, i)); err == nil {
						_, err = f.Read(buf[:8192])
						f.Close()
					}
				case "c":
					rng ^= rng << 13
					rng ^= rng >> 7
					rng ^= rng << 17
					_, err = big.ReadAt(buf[:4096], int64(rng%uint64(blocks))*4096)
				case "d":
					var f *os.File
					if f, err = os.OpenFile(fmt.Sprintf("%s/d/f%05d", dir, i),
						os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0600); err == nil {
						if _, err = f.Write(buf); err == nil {
							err = f.Sync()
						}
						f.Close()
					}
				}
				if err != nil {
					if atomic.AddInt64(&failed, 1) == 1 {
						fmt.Fprintln(os.Stderr, err)
					}
					return
				}
				atomic.AddInt64(&done, 1)
			}
		}(0x9e3779b97f4a7c15 + uint64(k))
	}
	wg.Wait()
	s, c := time.Since(t0).Seconds(), cpu()-c0
	if failed > 0 || done != n {
		os.Exit(1)
	}
	w := map[string]string{"b": "W8b", "c": "W8c", "d": "W8d"}[mode]
	m := map[string]string{"b": "files_per_s_open_read_close", "c": "iops", "d": "files_per_s"}[mode]
	u := map[string]string{"b": "files/s", "c": "ops/s", "d": "files/s"}[mode]
	fmt.Printf("{\"workload\":\"%s\",\"impl\":\"go\",\"metric\":\"%s\",\"value\":%.6g,"+
		"\"unit\":\"%s\",\"n\":%d,\"cpu_us_per_op\":%.3f}\n", w, m, float64(done)/s, u, done,
		c*1e6/float64(done))
}
