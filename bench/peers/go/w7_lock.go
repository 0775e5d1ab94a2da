//go:build ignore

// W7 lock peer: `tasks` goroutines (default 100) make `acquisitions` acquisitions of one
// sync.Mutex in total, each holding it across one runtime.Gosched (the coio program
// yields inside the critical section). GOMAXPROCS=1, also forced below.
// Usage: w7_lock [acquisitions=1000000] [tasks=100].
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func round(acquisitions, tasks int) (time.Duration, int) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	per := acquisitions / tasks
	total := 0
	t0 := time.Now()
	wg.Add(tasks)
	for k := 0; k < tasks; k++ {
		go func() {
			for i := 0; i < per; i++ {
				mu.Lock()
				total++
				runtime.Gosched()
				mu.Unlock()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0), total
}

func main() {
	runtime.GOMAXPROCS(1)
	n, tasks := 1000000, 100
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	if len(os.Args) > 2 {
		tasks, _ = strconv.Atoi(os.Args[2])
	}
	round(20000, tasks) // warm-up
	d, done := round(n, tasks)
	fmt.Printf("{\"workload\":\"W7\",\"impl\":\"go\",\"metric\":\"acquisitions_per_s\",\"value\":%.6g,\"unit\":\"acq/s\",\"n\":%d}\n",
		float64(done)/d.Seconds(), done)
	fmt.Printf("{\"workload\":\"W7\",\"impl\":\"go\",\"metric\":\"ns_per_acquisition\",\"value\":%.6g,\"unit\":\"ns\",\"n\":%d}\n",
		float64(d.Nanoseconds())/float64(done), done)
}
