// httppeer: the Go net/http peer of `make -C bench peers` (bench/peers/run.py, see
// Docs/benchmarks/peers.md). Standard library only; build with
// `GO111MODULE=off go build -o http-peer httppeer.go` and run with `http-peer -port 8080`.
//
//	GET /plaintext   "Hello, World!" (text/plain)
//	GET /json        {"message":"Hello, World!"} (application/json, encoded per request)
//
// One OS thread runs Go code (GOMAXPROCS=1, also forced below), like one Spindle worker.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"net/http"
	"runtime"
)

type message struct {
	Message string `json:"message"`
}

var helloWorld = []byte("Hello, World!")

func plaintext(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/plain")
	w.Write(helloWorld)
}

func jsonMessage(w http.ResponseWriter, _ *http.Request) {
	body, err := json.Marshal(message{Message: "Hello, World!"})
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

func main() {
	host := flag.String("host", "127.0.0.1", "numeric address to listen on")
	port := flag.Int("port", 8080, "port to listen on")
	flag.Parse()
	runtime.GOMAXPROCS(1)

	mux := http.NewServeMux()
	mux.HandleFunc("/plaintext", plaintext)
	mux.HandleFunc("/json", jsonMessage)
	address := fmt.Sprintf("%s:%d", *host, *port)
	fmt.Printf("http-peer: serving on http://%s (GOMAXPROCS=%d)\n", address, runtime.GOMAXPROCS(0))
	log.Fatal(http.ListenAndServe(address, mux))
}
