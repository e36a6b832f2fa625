// httpclient: Go's net/http client in a loop against one URL, the peer of bench/client's
// Spindle client (bench/client/run.py).
//
//	httpclient URL SECONDS CONCURRENCY
//
// Run with GOMAXPROCS=1 and pinned with taskset (one thread of Go code, like one Spindle
// worker). CONCURRENCY goroutines share one http.Client whose transport keeps CONCURRENCY
// idle connections to the host; each sends GET URL and reads the whole body again and again
// for SECONDS. Prints `requests=N cpu_seconds=S errors=E` (S: user + system CPU, getrusage).
package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

func cpuSeconds() float64 {
	var u syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &u)
	return float64(u.Utime.Sec+u.Stime.Sec) + float64(u.Utime.Usec+u.Stime.Usec)/1e6
}

func main() {
	if len(os.Args) != 4 {
		fmt.Println("usage: httpclient URL SECONDS CONCURRENCY")
		os.Exit(2)
	}
	url := os.Args[1]
	seconds, err1 := strconv.ParseFloat(os.Args[2], 64)
	concurrency, err2 := strconv.Atoi(os.Args[3])
	if err1 != nil || err2 != nil || concurrency < 1 {
		fmt.Println("usage: httpclient URL SECONDS CONCURRENCY")
		os.Exit(2)
	}
	transport := &http.Transport{MaxIdleConns: concurrency, MaxIdleConnsPerHost: concurrency, MaxConnsPerHost: concurrency, DisableCompression: true}
	client := &http.Client{Transport: transport}
	get := func() bool {
		response, err := client.Get(url)
		if err != nil {
			return false
		}
		_, err = io.Copy(io.Discard, response.Body)
		response.Body.Close()
		return err == nil && response.StatusCode == 200
	}
	get() // warm
	var requests, errors int64
	start := cpuSeconds()
	end := time.Now().Add(time.Duration(seconds * float64(time.Second)))
	var group sync.WaitGroup
	for i := 0; i < concurrency; i++ {
		group.Add(1)
		go func() {
			defer group.Done()
			for time.Now().Before(end) {
				if get() {
					atomic.AddInt64(&requests, 1)
				} else {
					atomic.AddInt64(&errors, 1)
				}
			}
		}()
	}
	group.Wait()
	fmt.Printf("requests=%d cpu_seconds=%f errors=%d\n", requests, cpuSeconds()-start, errors)
}
