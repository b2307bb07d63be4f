// SPDX-License-Identifier: MIT

// Peer benchmark "parked": resident memory cost of a parked goroutine.
// Reads RSS (from /proc/self/statm) after a GC + FreeOSMemory, starts n
// goroutines that each block on a channel receive, waits (WaitGroup, no
// sleeps) until all of them have started, reads RSS again, and reports
// (after - before) / n in bytes per task. Then releases them.
//
// usage: parked_go [n]   (n = goroutines, default 100000)
// build: go build -o parked_go parked_go.go
package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
)

func parseCount(def uint64) uint64 {
	if len(os.Args) < 2 {
		return def
	}
	v, err := strconv.ParseUint(os.Args[1], 10, 64)
	if err != nil || v == 0 {
		fmt.Fprintf(os.Stderr, "usage: %s [n>0]\n", os.Args[0])
		os.Exit(2)
	}
	return v
}

// rssBytes returns the resident set size from /proc/self/statm (field 2,
// in pages).
func rssBytes() int64 {
	data, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		fmt.Fprintf(os.Stderr, "read /proc/self/statm: %v\n", err)
		os.Exit(1)
	}
	fields := strings.Fields(string(data))
	if len(fields) < 2 {
		fmt.Fprintf(os.Stderr, "unexpected /proc/self/statm: %q\n", data)
		os.Exit(1)
	}
	pages, err := strconv.ParseInt(fields[1], 10, 64)
	if err != nil {
		fmt.Fprintf(os.Stderr, "parse /proc/self/statm: %v\n", err)
		os.Exit(1)
	}
	return pages * int64(os.Getpagesize())
}

func main() {
	n := parseCount(100000)

	release := make(chan struct{})
	var started, finished sync.WaitGroup
	started.Add(int(n))
	finished.Add(int(n))

	runtime.GC()
	debug.FreeOSMemory()
	before := rssBytes()

	for i := uint64(0); i < n; i++ {
		go func() {
			started.Done()
			<-release // parked until the channel is closed
			finished.Done()
		}()
	}
	started.Wait()
	after := rssBytes()

	close(release)
	finished.Wait()

	per := float64(after-before) / float64(n)
	fmt.Printf("# rss_before=%d rss_after=%d\n", before, after)
	fmt.Printf("bench=parked impl=go value=%.0f unit=bytes/task n=%d\n", per, n)
}
