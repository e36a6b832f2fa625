// chatpeer: the Go peer of the chat benchmark (`make -C bench chat`, driven by bench/chat/chat.py;
// see Docs/benchmarks/chat.md). Standard library only; build with
// `GO111MODULE=off go build chatpeer.go`. Runs with GOMAXPROCS=1 (also forced below), like one
// Spindle worker. The same routes and the same event-stream format as Spindle's Examples/Chat,
// a goroutine per stream:
//
//	GET  /rooms/NAME/events     an event stream member: "event: joined", then one "message"
//	                            event per message; a member whose queue (256) is full is dropped
//	POST /rooms/NAME/messages   the body is the text (sender in ?from=); 202 {"members","room","seq"}
//	GET  /rooms/NAME            {"members":N,"room":"NAME"}
//
//	chatpeer PORT
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
)

const queueCapacity = 256

type message struct {
	Room string `json:"room"`
	Seq  uint64 `json:"seq"`
	From string `json:"from"`
	Text string `json:"text"`
	Type string `json:"type"`
}

type member struct {
	queue   chan message
	evicted chan struct{}
}

type room struct {
	lastSeq uint64
	members map[*member]struct{}
}

type hub struct {
	mu    sync.Mutex
	rooms map[string]*room
}

func (h *hub) join(name string) (*member, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil {
		r = &room{members: map[*member]struct{}{}}
		h.rooms[name] = r
	}
	m := &member{queue: make(chan message, queueCapacity), evicted: make(chan struct{})}
	r.members[m] = struct{}{}
	return m, len(r.members)
}

func (h *hub) leave(name string, m *member) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[name]; r != nil {
		delete(r.members, m)
		if len(r.members) == 0 {
			delete(h.rooms, name)
		}
	}
}

func (h *hub) publish(name, from, text string) (uint64, int) {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := h.rooms[name]
	if r == nil {
		return 0, 0
	}
	r.lastSeq++
	msg := message{Room: name, Seq: r.lastSeq, From: from, Text: text, Type: "message"}
	for m := range r.members {
		select {
		case m.queue <- msg:
		default: // full: drop the member
			delete(r.members, m)
			close(m.evicted)
		}
	}
	return r.lastSeq, len(r.members)
}

func (h *hub) count(name string) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	if r := h.rooms[name]; r != nil {
		return len(r.members)
	}
	return 0
}

func (h *hub) serveEvents(w http.ResponseWriter, r *http.Request, name string) {
	flusher, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "no streaming", http.StatusInternalServerError)
		return
	}
	m, members := h.join(name)
	defer h.leave(name, m)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	fmt.Fprintf(w, "event: joined\ndata: {\"members\":%d,\"room\":%q,\"type\":\"joined\"}\n\n", members, name)
	flusher.Flush()
	for {
		select {
		case msg := <-m.queue:
			data, _ := json.Marshal(msg)
			if _, err := fmt.Fprintf(w, "id: %d\nevent: message\ndata: %s\n\n", msg.Seq, data); err != nil {
				return
			}
			flusher.Flush()
		case <-m.evicted:
			return
		case <-r.Context().Done():
			return
		}
	}
}

func main() {
	runtime.GOMAXPROCS(1)
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: chatpeer PORT")
		os.Exit(2)
	}
	h := &hub{rooms: map[string]*room{}}
	http.HandleFunc("/rooms/", func(w http.ResponseWriter, r *http.Request) {
		parts := strings.Split(strings.TrimPrefix(r.URL.Path, "/rooms/"), "/")
		name := parts[0]
		switch {
		case len(parts) == 2 && parts[1] == "events" && r.Method == http.MethodGet:
			h.serveEvents(w, r, name)
		case len(parts) == 2 && parts[1] == "messages" && r.Method == http.MethodPost:
			body, err := io.ReadAll(io.LimitReader(r.Body, 16<<10+1))
			if err != nil || len(body) == 0 || len(body) > 16<<10 {
				http.Error(w, "bad message", http.StatusBadRequest)
				return
			}
			from := r.URL.Query().Get("from")
			if from == "" {
				from = "anonymous"
			}
			seq, members := h.publish(name, from, string(body))
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusAccepted)
			fmt.Fprintf(w, "{\"members\":%d,\"room\":%q,\"seq\":%d}", members, name, seq)
		case len(parts) == 1 && r.Method == http.MethodGet:
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, "{\"members\":%d,\"room\":%q}", h.count(name), name)
		default:
			http.NotFound(w, r)
		}
	})
	if err := http.ListenAndServe(fmt.Sprintf("127.0.0.1:%s", os.Args[1]), nil); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
