// SPDX-License-Identifier: MIT

// Peer benchmark "skynet" (github.com/atemerev/skynet): a tree in which every
// node starts 10 goroutines and every leaf sends its number; each node makes
// a channel of capacity 10, its children send their sums there, and it sends
// the total to its parent. The sum of 0..N-1 is checked. GOMAXPROCS is the
// default (the machine's cores), reported as procs=. The value is ns per
// leaf, which is also the time in ms for N = 1000000 (ms= says it for any N).
//
// usage: skynet_go [N]   (N = leaves, a power of 10, default 1000000)
// build: go build -o skynet_go skynet_go.go
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func skynet(c chan<- uint64, num, size uint64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan uint64, 10)
	for i := uint64(0); i < 10; i++ {
		go skynet(rc, num+i*(size/10), size/10)
	}
	var sum uint64
	for i := 0; i < 10; i++ {
		sum += <-rc
	}
	c <- sum
}

func main() {
	n := uint64(1000000)
	if len(os.Args) > 1 {
		v, err := strconv.ParseUint(os.Args[1], 10, 64)
		if err != nil || v == 0 {
			fmt.Fprintf(os.Stderr, "usage: %s [N, a power of 10]\n", os.Args[0])
			os.Exit(2)
		}
		n = v
	}
	for s := n; s > 1; s /= 10 {
		if s%10 != 0 {
			fmt.Fprintf(os.Stderr, "skynet_go: %d leaves is not a power of 10\n", n)
			os.Exit(2)
		}
	}

	c := make(chan uint64, 1)
	t0 := time.Now()
	go skynet(c, 0, n)
	sum := <-c
	elapsed := time.Since(t0)

	if want := n * (n - 1) / 2; sum != want {
		fmt.Fprintf(os.Stderr, "skynet_go: sum %d, want %d\n", sum, want)
		os.Exit(1)
	}
	fmt.Printf("bench=skynet impl=go value=%.2f unit=ns/leaf n=%d ms=%.2f sum=%d procs=%d\n",
		float64(elapsed.Nanoseconds())/float64(n), n,
		float64(elapsed.Nanoseconds())/1e6, sum, runtime.GOMAXPROCS(0))
}
