// SPDX-License-Identifier: MIT

// Peer server for benchmark "echo": a goroutine per connection, written as
// blocking code (Read, then Write it all back, until the peer closes); Go's
// netpoller parks the goroutine and its epoll wakes it. GOMAXPROCS is Go's
// default (the CPUs available). Go sets TCP_NODELAY on its own.
//
// usage: echo_go PORT [PIDFILE]
// Listens on 127.0.0.1:PORT (0: any free port), prints
// "listening port=P pid=N" on stdout, writes its pid to PIDFILE if given,
// and serves until killed. bench/echo.sh runs it with bench/echo_client.
// build: go build -o echo_go echo_go.go
package main

import (
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"
)

func serve(c net.Conn) {
	defer c.Close()
	buf := make([]byte, 16*1024)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// raiseNofile lifts RLIMIT_NOFILE to its hard limit (Go 1.19 does not).
func raiseNofile() {
	var r syscall.Rlimit
	if syscall.Getrlimit(syscall.RLIMIT_NOFILE, &r) == nil && r.Cur < r.Max {
		r.Cur = r.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &r)
	}
}

func main() {
	if len(os.Args) < 2 || len(os.Args) > 3 {
		fmt.Fprintf(os.Stderr, "usage: %s PORT [PIDFILE]\n", os.Args[0])
		os.Exit(2)
	}
	if _, err := strconv.Atoi(os.Args[1]); err != nil {
		fmt.Fprintf(os.Stderr, "echo_go: bad port %q\n", os.Args[1])
		os.Exit(2)
	}
	raiseNofile()
	ln, err := net.Listen("tcp4", "127.0.0.1:"+os.Args[1])
	if err != nil {
		fmt.Fprintf(os.Stderr, "echo_go: %v\n", err)
		os.Exit(1)
	}
	if len(os.Args) > 2 {
		pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
		if err := os.WriteFile(os.Args[2], pid, 0o644); err != nil {
			fmt.Fprintf(os.Stderr, "echo_go: %v\n", err)
			os.Exit(1)
		}
	}
	fmt.Printf("listening port=%d pid=%d\n",
		ln.Addr().(*net.TCPAddr).Port, os.Getpid())
	for {
		c, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "echo_go: accept: %v\n", err)
			time.Sleep(time.Millisecond) // EMFILE: let connections close
			continue
		}
		go serve(c)
	}
}
