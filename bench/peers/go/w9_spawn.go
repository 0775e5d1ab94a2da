//go:build ignore

// W9 spawn peer: /bin/true run `total` times with `inflight` children at once through
// os/exec (16 goroutines, each exec.Command(...).Run() in a loop), stdin, stdout and
// stderr inherited as in the other implementations. `parent_mib` > 0 first allocates a
// slice of that many MiB and touches each page, so the parent spawns with that much
// resident memory. Usage: w9_spawn [total=2000] [inflight=16] [parent_mib=0].
package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

func arg(i, def int) int {
	if len(os.Args) > i {
		v, err := strconv.Atoi(os.Args[i])
		if err != nil {
			fmt.Fprintln(os.Stderr, "usage: w9_spawn [total] [inflight] [parent_mib]")
			os.Exit(2)
		}
		return v
	}
	return def
}

func main() {
	runtime.GOMAXPROCS(1)
	total, inflight, mib := arg(1, 2000), arg(2, 16), arg(3, 0)
	var ballast []byte
	if mib > 0 {
		ballast = make([]byte, mib<<20)
		for i := 0; i < len(ballast); i += 4096 {
			ballast[i] = byte(i>>12) | 1
		}
	}
	var started int64
	var failed atomic.Value
	var wg sync.WaitGroup
	t0 := time.Now()
	for w := 0; w < inflight; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for atomic.AddInt64(&started, 1) <= int64(total) {
				c := exec.Command("/bin/true")
				c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
				if err := c.Run(); err != nil {
					failed.Store(err)
				}
			}
		}()
	}
	wg.Wait()
	d := time.Since(t0)
	if err := failed.Load(); err != nil {
		fmt.Fprintln(os.Stderr, "w9_spawn:", err)
		os.Exit(1)
	}
	metric := "spawn_per_s"
	if mib > 0 {
		metric = fmt.Sprintf("spawn_per_s_%dmib", mib)
	}
	fmt.Printf("{\"workload\":\"W9\",\"impl\":\"go\",\"metric\":\"%s\",\"value\":%.6g,\"unit\":\"proc/s\",\"n\":%d}\n",
		metric, float64(total)/d.Seconds(), total)
	runtime.KeepAlive(ballast)
}
