// SPDX-License-Identifier: MIT

// Peer benchmark: two goroutines yielding to each other with runtime.Gosched
// on a single P (GOMAXPROCS=1). Each Gosched is counted as one switch; the
// value is total elapsed time / total yields across both goroutines.
//
// usage: yield_go [N]   (N = total yields, default 10000000)
// build: go build -o yield_go yield_go.go
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync"
	"time"
)

func parseCount(def uint64) uint64 {
	if len(os.Args) < 2 {
		return def
	}
	v, err := strconv.ParseUint(os.Args[1], 10, 64)
	if err != nil || v == 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [N>0]\n", os.Args[0])
		os.Exit(2)
	}
	return v
}

func main() {
	runtime.GOMAXPROCS(1)
	n := parseCount(10000000)
	per := (n + 1) / 2 // yields per goroutine
	n = per * 2

	var ready, done sync.WaitGroup
	start := make(chan struct{})
	worker := func() {
		defer done.Done()
		ready.Done()
		<-start
		for i := uint64(0); i < per; i++ {
			runtime.Gosched()
		}
	}
	ready.Add(2)
	done.Add(2)
	go worker()
	go worker()
	ready.Wait() // both goroutines exist and are parked on start

	t0 := time.Now()
	close(start)
	done.Wait()
	elapsed := time.Since(t0)

	fmt.Printf("bench=yield impl=go value=%.2f unit=ns/switch n=%d procs=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), n, runtime.GOMAXPROCS(0))
}
