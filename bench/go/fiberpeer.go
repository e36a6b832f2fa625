// fiberpeer: the Go peer of Spindle's fiber benchmarks (run by fiber-bench, see
// Docs/benchmarks/fibers.md). Standard library only; build with `GO111MODULE=off go build fiberpeer.go`.
//
// Prints one line per benchmark, "<name> <ns> <ns> …", one value (ns per operation) per timed
// repetition; fiber-bench pools them with its own samples and takes the median:
//
//	pingpong  two goroutines bouncing over a pair of unbuffered channels, ns per switch
//	spawn     `go f()` + the goroutine running and finishing (WaitGroup.Done), ns per goroutine
//
// Run with GOMAXPROCS=1 (also forced below) so it is a single-threaded scheduler like Spindle's.
package main

import (
	"flag"
	"fmt"
	"runtime"
	"sync"
	"time"
)

// pingPong bounces a value n times between two goroutines; every round trip is two switches.
func pingPong(n int) float64 {
	ping := make(chan int)
	pong := make(chan int)
	go func() {
		for v := range ping {
			pong <- v
		}
		close(pong)
	}()
	start := time.Now()
	for i := 0; i < n; i++ {
		ping <- i
		<-pong
	}
	elapsed := time.Since(start)
	close(ping)
	<-pong
	return float64(elapsed.Nanoseconds()) / float64(2*n)
}

// spawn starts batches of `batch` goroutines that only call wg.Done, waiting for each batch.
func spawn(batches, batch int) float64 {
	var wg sync.WaitGroup
	start := time.Now()
	for b := 0; b < batches; b++ {
		wg.Add(batch)
		for i := 0; i < batch; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
	}
	return float64(time.Since(start).Nanoseconds()) / float64(batches*batch)
}

// report runs f once to warm up, then reps times, and prints "<name> <ns> <ns> …".
func report(name string, reps int, f func() float64) {
	f()
	line := name
	for i := 0; i < reps; i++ {
		line += fmt.Sprintf(" %.2f", f())
	}
	fmt.Println(line)
}

func main() {
	reps := flag.Int("reps", 5, "repetitions (after one warm-up)")
	roundTrips := flag.Int("roundtrips", 500000, "ping-pong round trips per repetition")
	batches := flag.Int("batches", 1000, "spawn batches per repetition")
	batch := flag.Int("batch", 1000, "goroutines per spawn batch")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	report("pingpong", *reps, func() float64 { return pingPong(*roundTrips) })
	report("spawn", *reps, func() float64 { return spawn(*batches, *batch) })
}
