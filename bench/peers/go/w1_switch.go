//go:build ignore

// W1 switch peer: two goroutines hand control to each other with runtime.Gosched.
// Run with GOMAXPROCS=1 (also forced below) so each Gosched resumes the other one;
// a switch is one Gosched. Usage: w1_switch [switches=5000000].
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func round(switches int) time.Duration {
	per := switches / 2
	var wg sync.WaitGroup
	t0 := time.Now()
	wg.Add(2)
	for k := 0; k < 2; k++ {
		go func() {
			for i := 0; i < per; i++ {
				runtime.Gosched()
			}
			wg.Done()
		}()
	}
	wg.Wait()
	return time.Since(t0)
}

func main() {
	runtime.GOMAXPROCS(1)
	n := 5000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	round(20000) // warm-up
	d := round(n)
	sw := (n / 2) * 2
	fmt.Printf("{\"workload\":\"W1\",\"impl\":\"go\",\"metric\":\"ns_per_switch\",\"value\":%.6g,\"unit\":\"ns\",\"n\":%d}\n",
		float64(d.Nanoseconds())/float64(sw), sw)
}
