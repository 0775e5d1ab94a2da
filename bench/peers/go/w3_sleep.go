//go:build ignore

// W3 sleepers peer: n goroutines each time.Sleep a pseudo-random [0, 1) s drawn from
// the same fixed-seed xorshift64 as bench/bench_util.h, awaited with a WaitGroup.
// Usage: w3_sleep [n=100000].
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

func label(n int) string {
	switch {
	case n%1000000 == 0:
		return fmt.Sprintf("n%dm", n/1000000)
	case n%1000 == 0:
		return fmt.Sprintf("n%dk", n/1000)
	}
	return fmt.Sprintf("n%d", n)
}

func main() {
	runtime.GOMAXPROCS(1)
	n := 100000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	dur := make([]time.Duration, n)
	s := uint64(0x9E3779B97F4A7C15)
	for i := range dur {
		s ^= s << 13
		s ^= s >> 7
		s ^= s << 17
		u := float64(s>>11) * (1.0 / 9007199254740992.0)
		dur[i] = time.Duration(u * 1e9)
	}
	var ru0, ru1 syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(n)
	for i := 0; i < n; i++ {
		go func(d time.Duration) {
			time.Sleep(d)
			wg.Done()
		}(dur[i])
	}
	wg.Wait()
	d := time.Since(t0)
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	l := label(n)
	emit := func(metric string, v float64, unit string) {
		fmt.Printf("{\"workload\":\"W3\",\"impl\":\"go\",\"metric\":\"%s_%s\",\"value\":%.6g,\"unit\":\"%s\",\"n\":%d}\n",
			l, metric, v, unit, n)
	}
	emit("wall_s", d.Seconds(), "s")
	emit("rss_kib_per_task", float64(ru1.Maxrss-ru0.Maxrss)/float64(n), "KiB")
	emit("minflt_per_task", float64(ru1.Minflt-ru0.Minflt)/float64(n), "faults")
}
