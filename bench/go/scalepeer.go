// scalepeer: the Go peer of Spindle's scalability benchmark (`make -C bench scale`, driven by
// bench/scale/scale.py; see Docs/benchmarks/scale.md). Standard library only; build with
// `GO111MODULE=off go build scalepeer.go`. Runs with GOMAXPROCS=1 (also forced below), like one
// Spindle worker. One mode per process, one output line, in the formats fiber-bench prints:
//
//	scalepeer parked N              N goroutines, each parked on one channel receive:
//	                                "parked <n> <ns> <rss-bytes> <pte-bytes>"
//	scalepeer round-robin N ROUNDS  N goroutines calling runtime.Gosched() in turn, ROUNDS timed
//	                                rounds: "round-robin <n> <rounds> <switches> <ns> <rss> <pte>"
//	scalepeer http PORT             net/http on 127.0.0.1:PORT; GET /sleep?ms=N sleeps N ms
//	                                (time.Sleep) and answers "slept N ms"
package main

import (
	"bufio"
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
)

// memory returns VmRSS and VmPTE of this process in bytes (/proc/self/status).
func memory() (rss, pte int64) {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	scanner := bufio.NewScanner(f)
	for scanner.Scan() {
		fields := strings.Fields(scanner.Text())
		if len(fields) < 2 {
			continue
		}
		kib, _ := strconv.ParseInt(fields[1], 10, 64)
		switch fields[0] {
		case "VmRSS:":
			rss = kib * 1024
		case "VmPTE:":
			pte = kib * 1024
		}
	}
	return rss, pte
}

// parked starts n goroutines that each check in and block on one channel; the time runs from
// the first `go` until the last has checked in (with GOMAXPROCS=1 it then parks before main
// runs again).
func parked(n int) {
	release := make(chan struct{})
	var started sync.WaitGroup
	started.Add(n)
	rss0, pte0 := memory()
	start := time.Now()
	for i := 0; i < n; i++ {
		go func() {
			started.Done()
			<-release
		}()
	}
	started.Wait()
	elapsed := time.Since(start)
	rss1, pte1 := memory()
	close(release)
	fmt.Printf("parked %d %d %d %d\n", n, elapsed.Nanoseconds(), rss1-rss0, pte1-pte0)
}

// roundRobin starts n goroutines that wait at a gate, then call runtime.Gosched() rounds+1
// times each; the first call is the unmeasured warm-up (the gate keeps goroutines that sysmon's
// preemption lets run early from starting before the rest exist). The clock starts once every
// goroutine has made its warm-up call and stops when all have made their last one and parked
// on a channel (so no goroutine exits while the clock runs; the park is a switch too). Go's run
// queues are not strictly FIFO (local queue, global queue, runnext), so some goroutines are
// further along than others when the clock starts: each counts its switches in its own slot,
// and only those made after the clock started are counted.
func roundRobin(n, rounds int) {
	gate, exit := make(chan struct{}), make(chan struct{})
	switches := make([]int32, n)
	var started, warmed, finished sync.WaitGroup
	started.Add(n)
	warmed.Add(n)
	finished.Add(n)
	rss0, pte0 := memory()
	for i := 0; i < n; i++ {
		slot := &switches[i]
		go func() {
			started.Done()
			<-gate
			*slot++
			runtime.Gosched()
			warmed.Done()
			for r := 0; r < rounds; r++ {
				*slot++
				runtime.Gosched()
			}
			*slot++
			finished.Done()
			<-exit
		}()
	}
	started.Wait()
	close(gate)
	warmed.Wait()
	before := 0
	for _, s := range switches {
		before += int(s)
	}
	start := time.Now()
	finished.Wait()
	elapsed := time.Since(start)
	rss1, pte1 := memory()
	close(exit)
	timed := n*(rounds+2) - before
	fmt.Printf("round-robin %d %d %d %d %d %d\n", n, rounds, timed, elapsed.Nanoseconds(), rss1-rss0, pte1-pte0)
}

// serveHTTP answers GET /sleep?ms=N after sleeping N ms, on 127.0.0.1:port.
func serveHTTP(port int) {
	http.HandleFunc("/sleep", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60000 {
			http.Error(w, "ms must be 0...60000", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(ms) * time.Millisecond)
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "slept %d ms\n", ms)
	})
	server := &http.Server{Addr: fmt.Sprintf("127.0.0.1:%d", port)}
	if err := server.ListenAndServe(); err != nil {
		fmt.Fprintln(os.Stderr, "scalepeer:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: scalepeer parked N | round-robin N ROUNDS | http PORT")
	os.Exit(2)
}

// argument returns os.Args[i] as a positive integer, or exits with the usage.
func argument(i int) int {
	if len(os.Args) <= i {
		usage()
	}
	v, err := strconv.Atoi(os.Args[i])
	if err != nil || v <= 0 {
		usage()
	}
	return v
}

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) < 2 {
		usage()
	}
	switch os.Args[1] {
	case "parked":
		parked(argument(2))
	case "round-robin":
		roundRobin(argument(2), argument(3))
	case "http":
		serveHTTP(argument(2))
	default:
		usage()
	}
}
