// SPDX-License-Identifier: MIT

// Peer benchmark: sequential spawn+join of an empty goroutine
// (go func(){ wg.Done() }(); wg.Wait()), N times, with the default
// GOMAXPROCS (the machine's cores), reported as procs=.
//
// usage: spawn_go [N]   (N = tasks, default 1000000)
// build: go build -o spawn_go spawn_go.go
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
	n := parseCount(1000000)
	var wg sync.WaitGroup

	t0 := time.Now()
	for i := uint64(0); i < n; i++ {
		wg.Add(1)
		go func() { wg.Done() }()
		wg.Wait()
	}
	elapsed := time.Since(t0)

	fmt.Printf("bench=spawn impl=go value=%.2f unit=ns/task n=%d procs=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), n, runtime.GOMAXPROCS(0))
}
