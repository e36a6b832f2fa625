// soakdriver: the client of the soak test (`make soak`, see Docs/soak.md). Standard library only;
// build with `GO111MODULE=off go build soakdriver.go`.
//
// Against a running Examples/Hello (its main port and its admin listener), for -minutes:
//
//   - CLIENTS goroutines each run a weighted mix: GET /plaintext, /json and /users/:id on a
//     keep-alive connection, POST /echo with bodies of random sizes (Content-Length or chunked,
//     chunks of random sizes), GET /sleep?ms=0..50, 16 requests pipelined in one write, a
//     malformed request (400, then closed), a reset in the middle of a request body, a reset in
//     the middle of a response, and a slow reader of a 512 KiB echo. Every answer is checked
//     (status, body byte for byte); a wrong one is counted and printed.
//   - Every -interval the server process is sampled: RSS and descriptors from /proc, fibers,
//     stacks, pools, connections and the allocator's bytes in use from GET /metrics. One CSV row
//     per sample.
//
// At the end the load stops and, after -settle, a quiet sample is compared with the one taken
// before the load: descriptors, live fibers, stacks in use, pooled objects in use and open
// connections must be back where they were. RSS under load must not grow after the warm-up: the
// median of the last three samples against the median of the first three after -warmup, at most
// -rss-growth (1%). Exit status 0 when every check holds, 1 otherwise.
//
//	soakdriver -port P -admin A -pid PID [-minutes 30] [-warmup 5] [-interval 10s] [-clients 32] -csv out.csv
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

var (
	port       = flag.Int("port", 8080, "the server's port on 127.0.0.1")
	adminPort  = flag.Int("admin", 9180, "the server's admin port (GET /metrics)")
	pid        = flag.Int("pid", 0, "the server's process id (for /proc)")
	minutes    = flag.Float64("minutes", 30, "how long the load runs")
	warmup     = flag.Float64("warmup", 5, "minutes of warm-up before RSS is held flat")
	interval   = flag.Duration("interval", 10*time.Second, "time between samples")
	settle     = flag.Duration("settle", 5*time.Second, "quiet time after the load before the last sample")
	clients    = flag.Int("clients", 32, "concurrent clients")
	csvPath    = flag.String("csv", "soak.csv", "where the samples go")
	rssGrowth  = flag.Float64("rss-growth", 0.01, "largest RSS growth after the warm-up (fraction)")
	seed       = flag.Int64("seed", 1, "random seed (each client derives its own)")
	ioDeadline = 20 * time.Second
)

// counts per kind of action: done, and answers that were wrong
type tally struct {
	done  [actionCount]atomic.Int64
	wrong [actionCount]atomic.Int64
}

const (
	actPlain = iota
	actJSON
	actUser
	actEchoLength
	actEchoChunked
	actSleep
	actPipeline
	actMalformed
	actResetMidBody
	actResetMidResponse
	actSlowReader
	actionCount
)

var actionNames = [actionCount]string{"plaintext", "json", "user", "echo-length", "echo-chunked", "sleep",
	"pipeline16", "malformed", "reset-mid-body", "reset-mid-response", "slow-reader"}

// weights of the mix, in the order above
var weights = [actionCount]int{24, 14, 6, 14, 10, 5, 10, 2, 5, 5, 2}

var counts tally
var wrongPrinted atomic.Int64

func wrong(action int, format string, args ...any) {
	counts.wrong[action].Add(1)
	if wrongPrinted.Add(1) <= 20 {
		fmt.Fprintf(os.Stderr, "WRONG %s: %s\n", actionNames[action], fmt.Sprintf(format, args...))
	}
}

// ---------------------------------------------------------------------------------------------
// A client: one keep-alive connection (reopened when the server or an action closes it) and
// fresh connections for the actions that end theirs.

type client struct {
	rng    *rand.Rand
	conn   net.Conn
	reader *bufio.Reader
}

func dial() (net.Conn, error) {
	return net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", *port), 5*time.Second)
}

func (c *client) keepAlive() (net.Conn, *bufio.Reader, error) {
	if c.conn == nil {
		conn, err := dial()
		if err != nil {
			return nil, nil, err
		}
		c.conn, c.reader = conn, bufio.NewReaderSize(conn, 64<<10)
	}
	c.conn.SetDeadline(time.Now().Add(ioDeadline))
	return c.conn, c.reader, nil
}

func (c *client) drop() {
	if c.conn != nil {
		c.conn.Close()
		c.conn, c.reader = nil, nil
	}
}

func readResponse(r *bufio.Reader, method string) (*http.Response, []byte, error) {
	req := &http.Request{Method: method}
	resp, err := http.ReadResponse(r, req)
	if err != nil {
		return nil, nil, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body, err
}

// expect sends one request on the keep-alive connection and checks the answer.
func (c *client) expect(action int, request string, status int, body []byte) {
	conn, r, err := c.keepAlive()
	if err != nil {
		wrong(action, "connect: %v", err)
		return
	}
	if _, err := conn.Write([]byte(request)); err != nil {
		c.drop()
		wrong(action, "write: %v", err)
		return
	}
	resp, got, err := readResponse(r, strings.SplitN(request, " ", 2)[0])
	if err != nil {
		c.drop()
		wrong(action, "read: %v", err)
		return
	}
	if resp.StatusCode != status || !bytes.Equal(got, body) {
		wrong(action, "%q: status %d, %d body bytes (%.40q), want %d, %d bytes", firstLine(request), resp.StatusCode, len(got), got, status, len(body))
	}
	if resp.Close {
		c.drop()
	}
	counts.done[action].Add(1)
}

func smaller[T int | time.Duration](a, b T) T {
	if a < b {
		return a
	}
	return b
}

func firstLine(s string) string { return strings.SplitN(s, "\r\n", 2)[0] }

func (c *client) randomBody() []byte {
	// log-spread sizes from 0 to 256 KiB: most small, some large
	var n int
	switch c.rng.Intn(4) {
	case 0:
		n = 0
	case 1:
		n = c.rng.Intn(512)
	case 2:
		n = c.rng.Intn(16 << 10)
	default:
		n = c.rng.Intn(256 << 10)
	}
	body := make([]byte, n)
	c.rng.Read(body)
	return body
}

func (c *client) echoLength() {
	body := c.randomBody()
	head := fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(body))
	c.expect(actEchoLength, head+string(body), 200, body)
}

func (c *client) echoChunked() {
	body := c.randomBody()
	var b strings.Builder
	b.WriteString("POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n\r\n")
	for rest := body; len(rest) > 0; {
		n := 1 + c.rng.Intn(smaller(len(rest), 40<<10))
		fmt.Fprintf(&b, "%x\r\n", n)
		b.Write(rest[:n])
		b.WriteString("\r\n")
		rest = rest[n:]
	}
	b.WriteString("0\r\n\r\n")
	c.expect(actEchoChunked, b.String(), 200, body)
}

func (c *client) pipeline() {
	conn, r, err := c.keepAlive()
	if err != nil {
		wrong(actPipeline, "connect: %v", err)
		return
	}
	type want struct {
		path string
		body string
	}
	var wants []want
	var batch strings.Builder
	for i := 0; i < 16; i++ {
		var w want
		switch c.rng.Intn(3) {
		case 0:
			w = want{"/plaintext", "Hello, World!"}
		case 1:
			w = want{"/json", `{"message":"Hello, World!"}`}
		default:
			id := c.rng.Intn(1_000_000)
			w = want{fmt.Sprintf("/users/%d", id), fmt.Sprintf(`{"id":%d}`, id)}
		}
		wants = append(wants, w)
		fmt.Fprintf(&batch, "GET %s HTTP/1.1\r\nHost: soak\r\n\r\n", w.path)
	}
	if _, err := conn.Write([]byte(batch.String())); err != nil {
		c.drop()
		wrong(actPipeline, "write: %v", err)
		return
	}
	for i, w := range wants {
		resp, got, err := readResponse(r, "GET")
		if err != nil {
			c.drop()
			wrong(actPipeline, "response %d: %v", i, err)
			return
		}
		if resp.StatusCode != 200 || string(got) != w.body {
			wrong(actPipeline, "response %d to %s: %d %.60q", i, w.path, resp.StatusCode, got)
		}
	}
	counts.done[actPipeline].Add(1)
}

// malformed: a request line the parser rejects; 400 and the connection closed.
func (c *client) malformed() {
	conn, err := dial()
	if err != nil {
		wrong(actMalformed, "connect: %v", err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioDeadline))
	garbage := []string{"GET /plaintext HTTP/1.1\r\nHost: soak\r\nBad Header\r\n\r\n",
		"G\x00T / HTTP/1.1\r\n\r\n", "GET / HTTP/9.9\r\nHost: soak\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"}
	request := garbage[c.rng.Intn(len(garbage))]
	conn.Write([]byte(request))
	r := bufio.NewReader(conn)
	resp, _, err := readResponse(r, "GET")
	if err != nil {
		wrong(actMalformed, "%.40q: %v", request, err)
		return
	}
	if resp.StatusCode < 400 || resp.StatusCode > 599 {
		wrong(actMalformed, "%.40q: status %d", request, resp.StatusCode)
	}
	if _, err := r.ReadByte(); err != io.EOF {
		wrong(actMalformed, "%.40q: connection not closed after the error (%v)", request, err)
	}
	counts.done[actMalformed].Add(1)
}

func reset(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetLinger(0) // close sends RST
	}
	conn.Close()
}

// resetMidBody: a body announced, part of it sent, then a reset.
func (c *client) resetMidBody() {
	conn, err := dial()
	if err != nil {
		wrong(actResetMidBody, "connect: %v", err)
		return
	}
	conn.SetDeadline(time.Now().Add(ioDeadline))
	size := 1 + c.rng.Intn(200<<10)
	fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n", size)
	part := make([]byte, c.rng.Intn(size))
	conn.Write(part)
	time.Sleep(time.Duration(c.rng.Intn(3)) * time.Millisecond)
	reset(conn)
	counts.done[actResetMidBody].Add(1)
}

// resetMidResponse: a large echo asked for, a few bytes of the answer read, then a reset.
func (c *client) resetMidResponse() {
	conn, err := dial()
	if err != nil {
		wrong(actResetMidResponse, "connect: %v", err)
		return
	}
	conn.SetDeadline(time.Now().Add(ioDeadline))
	body := make([]byte, 256<<10+c.rng.Intn(768<<10))
	fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\n\r\n", len(body))
	go func() { conn.Write(body) }() // the server answers while the body is still arriving
	buffer := make([]byte, 1+c.rng.Intn(64<<10))
	io.ReadFull(conn, buffer)
	reset(conn)
	counts.done[actResetMidResponse].Add(1)
}

// slowReader: a 512 KiB echo read 4 KiB at a time with pauses (about 0.6 s), checked whole.
func (c *client) slowReader() {
	conn, err := dial()
	if err != nil {
		wrong(actSlowReader, "connect: %v", err)
		return
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioDeadline))
	body := make([]byte, 512<<10)
	c.rng.Read(body)
	written := make(chan error, 1)
	go func() {
		_, err := fmt.Fprintf(conn, "POST /echo HTTP/1.1\r\nHost: soak\r\nContent-Length: %d\r\nConnection: close\r\n\r\n", len(body))
		if err == nil {
			_, err = conn.Write(body)
		}
		written <- err
	}()
	slow := &slowReaderOf{conn: conn}
	resp, got, err := readResponse(bufio.NewReaderSize(slow, 4096), "POST")
	if werr := <-written; werr != nil {
		wrong(actSlowReader, "write: %v", werr)
		return
	}
	if err != nil {
		wrong(actSlowReader, "read: %v", err)
		return
	}
	if resp.StatusCode != 200 || !bytes.Equal(got, body) {
		wrong(actSlowReader, "status %d, %d bytes back of %d", resp.StatusCode, len(got), len(body))
	}
	counts.done[actSlowReader].Add(1)
}

type slowReaderOf struct{ conn net.Conn }

func (s *slowReaderOf) Read(p []byte) (int, error) {
	time.Sleep(5 * time.Millisecond)
	if len(p) > 4096 {
		p = p[:4096]
	}
	return s.conn.Read(p)
}

func (c *client) step() {
	total := 0
	for _, w := range weights {
		total += w
	}
	pick := c.rng.Intn(total)
	action := 0
	for ; pick >= weights[action]; action++ {
		pick -= weights[action]
	}
	switch action {
	case actPlain:
		c.expect(actPlain, "GET /plaintext HTTP/1.1\r\nHost: soak\r\n\r\n", 200, []byte("Hello, World!"))
	case actJSON:
		c.expect(actJSON, "GET /json HTTP/1.1\r\nHost: soak\r\n\r\n", 200, []byte(`{"message":"Hello, World!"}`))
	case actUser:
		id := c.rng.Intn(1 << 30)
		c.expect(actUser, fmt.Sprintf("GET /users/%d HTTP/1.1\r\nHost: soak\r\n\r\n", id), 200, []byte(fmt.Sprintf(`{"id":%d}`, id)))
	case actEchoLength:
		c.echoLength()
	case actEchoChunked:
		c.echoChunked()
	case actSleep:
		ms := c.rng.Intn(51)
		c.expect(actSleep, fmt.Sprintf("GET /sleep?ms=%d HTTP/1.1\r\nHost: soak\r\n\r\n", ms), 200, []byte(fmt.Sprintf("slept %d ms\n", ms)))
	case actPipeline:
		c.pipeline()
	case actMalformed:
		c.malformed()
	case actResetMidBody:
		c.resetMidBody()
	case actResetMidResponse:
		c.resetMidResponse()
	case actSlowReader:
		c.slowReader()
	}
}

// ---------------------------------------------------------------------------------------------
// Samples of the server process.

type sample struct {
	seconds     float64
	rss         int64 // bytes
	fds         int64
	threads     int64
	metrics     map[string]float64 // sums over labels
	requestsNow int64
	wrongNow    int64
}

var metricNames = []string{"spindle_fibers_live", "spindle_fibers_recycled", "spindle_fiber_stacks_in_use", "spindle_fiber_stacks_mapped",
	"spindle_pool_in_use", "spindle_pool_available", "spindle_connections_open", "spindle_allocator_bytes_in_use", "spindle_allocator_committed_bytes",
	"spindle_requests_active", "http_requests_total"}

func procStatus(field string) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", *pid))
	if err != nil {
		return -1
	}
	for _, line := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(line, field+":") {
			f := strings.Fields(line[len(field)+1:])
			if len(f) > 0 {
				v, _ := strconv.ParseInt(f[0], 10, 64)
				if len(f) > 1 && f[1] == "kB" {
					v *= 1024
				}
				return v
			}
		}
	}
	return -1
}

func scrape() (map[string]float64, error) {
	client := http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", *adminPort))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	sums := map[string]float64{}
	scanner := bufio.NewScanner(resp.Body)
	scanner.Buffer(make([]byte, 1<<20), 1<<20)
	for scanner.Scan() {
		line := scanner.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		name := line
		if i := strings.IndexAny(line, "{ "); i >= 0 {
			name = line[:i]
		}
		fields := strings.Fields(line)
		if len(fields) < 2 {
			continue
		}
		v, err := strconv.ParseFloat(fields[len(fields)-1], 64)
		if err != nil {
			continue
		}
		sums[name] += v
	}
	return sums, scanner.Err()
}

func takeSample(start time.Time) sample {
	// Scraped first: the scrape's keep-alive connection is then open in every sample alike.
	m, err := scrape()
	if err != nil {
		fmt.Fprintf(os.Stderr, "scrape: %v\n", err)
		m = map[string]float64{}
	}
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", *pid))
	var requests, wrongs int64
	for i := 0; i < actionCount; i++ {
		requests += counts.done[i].Load()
		wrongs += counts.wrong[i].Load()
	}
	return sample{seconds: time.Since(start).Seconds(), rss: procStatus("VmRSS"), fds: int64(len(entries)),
		threads: procStatus("Threads"), metrics: m, requestsNow: requests, wrongNow: wrongs}
}

func median(values []float64) float64 {
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	if len(s) == 0 {
		return 0
	}
	return s[len(s)/2]
}

func main() {
	flag.Parse()
	if *pid <= 0 {
		fmt.Fprintln(os.Stderr, "soakdriver: -pid is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(filepath.Dir(*csvPath), 0o755); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	csv, err := os.Create(*csvPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	defer csv.Close()
	fmt.Fprintf(csv, "seconds,phase,rss_bytes,fds,threads,%s,driver_actions,driver_wrong\n", strings.Join(metricNames, ","))
	writeRow := func(s sample, phase string) {
		var values []string
		for _, name := range metricNames {
			values = append(values, strconv.FormatFloat(s.metrics[name], 'f', -1, 64))
		}
		fmt.Fprintf(csv, "%.1f,%s,%d,%d,%d,%s,%d,%d\n", s.seconds, phase, s.rss, s.fds, s.threads, strings.Join(values, ","), s.requestsNow, s.wrongNow)
	}

	start := time.Now()
	quietBefore := takeSample(start)
	writeRow(quietBefore, "before")
	fmt.Printf("before the load: rss %.1f MiB, fds %d, threads %d, fibers %.0f, stacks in use %.0f, pooled in use %.0f\n",
		float64(quietBefore.rss)/(1<<20), quietBefore.fds, quietBefore.threads, quietBefore.metrics["spindle_fibers_live"],
		quietBefore.metrics["spindle_fiber_stacks_in_use"], quietBefore.metrics["spindle_pool_in_use"])

	var stop atomic.Bool
	var wg sync.WaitGroup
	for i := 0; i < *clients; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := &client{rng: rand.New(rand.NewSource(*seed*1000 + int64(i)))}
			defer c.drop()
			for !stop.Load() {
				c.step()
			}
		}(i)
	}

	end := start.Add(time.Duration(*minutes * float64(time.Minute)))
	warmEnd := start.Add(time.Duration(*warmup * float64(time.Minute)))
	var afterWarmup []sample
	var last sample = quietBefore
	for time.Now().Before(end) {
		time.Sleep(smaller(*interval, time.Until(end)))
		s := takeSample(start)
		phase := "warmup"
		if time.Now().After(warmEnd) {
			phase = "load"
			afterWarmup = append(afterWarmup, s)
		}
		writeRow(s, phase)
		rate := float64(s.requestsNow-last.requestsNow) / (s.seconds - last.seconds)
		fmt.Printf("%6.0f s %-6s rss %7.1f MiB  fds %5d  fibers %6.0f  stacks %5.0f/%5.0f  pooled %6.0f  conns %5.0f  %7.0f actions/s  wrong %d\n",
			s.seconds, phase, float64(s.rss)/(1<<20), s.fds, s.metrics["spindle_fibers_live"], s.metrics["spindle_fiber_stacks_in_use"],
			s.metrics["spindle_fiber_stacks_mapped"], s.metrics["spindle_pool_in_use"], s.metrics["spindle_connections_open"], rate, s.wrongNow)
		last = s
	}
	stop.Store(true)
	wg.Wait()
	time.Sleep(*settle)
	quietAfter := takeSample(start)
	writeRow(quietAfter, "after")

	failed := false
	check := func(ok bool, format string, args ...any) {
		verdict := "ok  "
		if !ok {
			verdict = "FAIL"
			failed = true
		}
		fmt.Printf("%s %s\n", verdict, fmt.Sprintf(format, args...))
	}
	fmt.Println()
	var total, totalWrong int64
	for i := 0; i < actionCount; i++ {
		d, w := counts.done[i].Load(), counts.wrong[i].Load()
		total += d
		totalWrong += w
		fmt.Printf("  %-20s %10d done %6d wrong\n", actionNames[i], d, w)
	}
	check(totalWrong == 0, "every answer right: %d actions, %d wrong", total, totalWrong)
	check(quietAfter.fds == quietBefore.fds, "descriptors back: %d before the load, %d after", quietBefore.fds, quietAfter.fds)
	// Stacks of live fibers: the stacks in use less those kept with finished fibers for reuse.
	for _, s := range []*sample{&quietBefore, &quietAfter} {
		s.metrics["stacks_of_live_fibers"] = s.metrics["spindle_fiber_stacks_in_use"] - s.metrics["spindle_fibers_recycled"]
	}
	for _, name := range []string{"spindle_fibers_live", "stacks_of_live_fibers", "spindle_pool_in_use", "spindle_connections_open", "spindle_requests_active"} {
		before, after := quietBefore.metrics[name], quietAfter.metrics[name]
		_, present := quietAfter.metrics[name]
		check(present && after <= before, "%s back: %.0f before the load, %.0f after", name, before, after)
	}
	if len(afterWarmup) >= 6 {
		var rss []float64
		for _, s := range afterWarmup {
			rss = append(rss, float64(s.rss))
		}
		first, lastThree := median(rss[:3]), median(rss[len(rss)-3:])
		growth := (lastThree - first) / first
		sort.Float64s(rss)
		check(growth <= *rssGrowth, "RSS flat after the warm-up: %.2f MiB at its start, %.2f MiB at the end (%+.2f%%, limit %+.1f%%); range %.2f–%.2f MiB over %d samples",
			first/(1<<20), lastThree/(1<<20), growth*100, *rssGrowth*100, rss[0]/(1<<20), rss[len(rss)-1]/(1<<20), len(rss))
	} else {
		check(false, "too few samples after the warm-up (%d) to judge RSS: run longer or sample more often", len(afterWarmup))
	}
	if failed {
		os.Exit(1)
	}
}
