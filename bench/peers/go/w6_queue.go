//go:build ignore

// W6 queue peer: a producer goroutine sends `items` integers through an unbuffered
// channel to a consumer goroutine. GOMAXPROCS=1 (also forced below), like the other
// peers: one thread, as a coio loop. Usage: w6_queue [items=2000000].
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func round(items int) time.Duration {
	ch := make(chan int)
	done := make(chan int)
	t0 := time.Now()
	go func() {
		sum := 0
		for i := 0; i < items; i++ {
			sum += <-ch
		}
		done <- sum
	}()
	for i := 1; i <= items; i++ {
		ch <- i
	}
	if sum := <-done; sum != items*(items+1)/2 {
		panic("lost items")
	}
	return time.Since(t0)
}

func main() {
	runtime.GOMAXPROCS(1)
	n := 2000000
	if len(os.Args) > 1 {
		n, _ = strconv.Atoi(os.Args[1])
	}
	round(20000) // warm-up
	d := round(n)
	fmt.Printf("{\"workload\":\"W6\",\"impl\":\"go\",\"metric\":\"items_per_s\",\"value\":%.6g,\"unit\":\"items/s\",\"n\":%d}\n",
		float64(n)/d.Seconds(), n)
	fmt.Printf("{\"workload\":\"W6\",\"impl\":\"go\",\"metric\":\"ns_per_item\",\"value\":%.6g,\"unit\":\"ns\",\"n\":%d}\n",
		float64(d.Nanoseconds())/float64(n), n)
}
