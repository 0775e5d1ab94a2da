//go:build ignore

// W2 spawn peer: `total` empty goroutines, each storing its result (0) like a gather
// would, awaited with a sync.WaitGroup either in batches or all at once.
// Usage: w2_spawn batched|all [total=1000000] [batch=10000].
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

func spawnWait(res []int) {
	var wg sync.WaitGroup
	wg.Add(len(res))
	for i := range res {
		go func(i int) {
			res[i] = 0
			wg.Done()
		}(i)
	}
	wg.Wait()
}

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) < 2 || (os.Args[1] != "batched" && os.Args[1] != "all") {
		fmt.Fprintln(os.Stderr, "usage: w2_spawn batched|all [total] [batch]")
		os.Exit(2)
	}
	mode := os.Args[1]
	total, batch := 1000000, 10000
	if len(os.Args) > 2 {
		total, _ = strconv.Atoi(os.Args[2])
	}
	if len(os.Args) > 3 {
		batch, _ = strconv.Atoi(os.Args[3])
	}
	chunk := batch
	if mode == "all" {
		chunk = total
	}
	res := make([]int, chunk)
	w := chunk
	if w > 1000 {
		w = 1000
	}
	spawnWait(res[:w]) // warm-up
	t0 := time.Now()
	for done := 0; done < total; done += chunk {
		spawnWait(res)
	}
	d := time.Since(t0)
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	fmt.Printf("{\"workload\":\"W2\",\"impl\":\"go\",\"metric\":\"%s_tasks_per_s\",\"value\":%.6g,\"unit\":\"tasks/s\",\"n\":%d}\n",
		mode, float64(total)/d.Seconds(), total)
	fmt.Printf("{\"workload\":\"W2\",\"impl\":\"go\",\"metric\":\"%s_peak_rss_mib\",\"value\":%.6g,\"unit\":\"MiB\",\"n\":%d}\n",
		mode, float64(ru.Maxrss)/1024, total)
}
