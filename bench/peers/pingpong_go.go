// SPDX-License-Identifier: MIT

// Peer benchmark "pingpong": two goroutines bounce a counter through two
// unbuffered channels of int; every send/receive pair is one hand-off and the
// value is elapsed time / hand-offs. The main goroutine is the pinger; the
// first tenth of the hand-offs (at least two) warms up and is not timed.
//
//	mode=local  GOMAXPROCS=1: both goroutines on one P
//	mode=cross  GOMAXPROCS=2: where the goroutines run is up to Go
//
// usage: pingpong_go [N [local|cross]]   (N = hand-offs, default 4000000)
// Without a mode it runs both, one line each.
// build: go build -o pingpong_go pingpong_go.go
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

func usage() {
	fmt.Fprintf(os.Stderr, "usage: %s [N>0 [local|cross]]\n", os.Args[0])
	os.Exit(2)
}

// pingpong runs warm+n hand-offs on procs Ps and returns the time the last
// n took; it exits if a hand-off carries the wrong count.
func pingpong(procs int, warm, n uint64) time.Duration {
	runtime.GOMAXPROCS(procs)
	ping, pong := make(chan int), make(chan int)
	rounds := (warm + n) / 2
	go func() {
		for i := uint64(0); i < rounds; i++ {
			v := <-ping
			pong <- v + 1
		}
	}()

	var t0 time.Time
	for v := 0; uint64(v) < 2*rounds; v += 2 {
		if uint64(v) == warm {
			t0 = time.Now()
		}
		ping <- v
		if w := <-pong; w != v+1 {
			fmt.Fprintf(os.Stderr, "pingpong: got %d, want %d\n", w, v+1)
			os.Exit(1)
		}
	}
	return time.Since(t0)
}

func main() {
	n := uint64(4000000)
	modes := []string{"local", "cross"}
	if len(os.Args) > 1 {
		v, err := strconv.ParseUint(os.Args[1], 10, 64)
		if err != nil || v == 0 {
			usage()
		}
		n = v
	}
	if len(os.Args) > 2 {
		if os.Args[2] != "local" && os.Args[2] != "cross" {
			usage()
		}
		modes = []string{os.Args[2]}
	}
	if len(os.Args) > 3 {
		usage()
	}
	n = (n + 1) &^ 1 // whole round trips
	warm := (n/10 + 1) &^ 1
	if warm < 2 {
		warm = 2
	}

	for _, mode := range modes {
		procs := 1
		if mode == "cross" {
			procs = 2
		}
		elapsed := pingpong(procs, warm, n)
		fmt.Printf("bench=pingpong mode=%s impl=go value=%.2f unit=ns/handoff n=%d procs=%d\n",
			mode, float64(elapsed.Nanoseconds())/float64(n), n, procs)
	}
}
