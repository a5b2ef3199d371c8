package qemu

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeQMP serves one QMP connection on a unix socket: it greets, accepts
// capabilities, and answers every command with handle's lines.
func fakeQMP(t *testing.T, handle func(cmd string, id json.RawMessage) []string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "q.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		fmt.Fprintln(c, `{"QMP": {"version": {"qemu": {"micro": 22, "minor": 2, "major": 7}, "package": ""}, "capabilities": ["oob"]}}`)
		r := bufio.NewReader(c)
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			var cmd struct {
				Execute string          `json:"execute"`
				ID      json.RawMessage `json:"id"`
			}
			json.Unmarshal([]byte(l), &cmd)
			if len(cmd.ID) == 0 {
				cmd.ID = json.RawMessage("null") // go-qemu sends no id
			}
			if cmd.Execute == "qmp_capabilities" {
				fmt.Fprintf(c, `{"return": {}, "id": %s}`+"\n", cmd.ID)
				continue
			}
			for _, out := range handle(cmd.Execute, cmd.ID) {
				if out == "CLOSE" {
					return
				}
				fmt.Fprintln(c, out)
			}
		}
	}()
	return path
}

func TestQMPClient(t *testing.T) {
	path := fakeQMP(t, func(cmd string, id json.RawMessage) []string {
		switch cmd {
		case "cont":
			// Many events before the reply: they must not block it.
			var out []string
			for i := 0; i < 1000; i++ {
				out = append(out, `{"event": "RESUME", "timestamp": {"seconds": 1, "microseconds": 2}}`)
			}
			return append(out, fmt.Sprintf(`{"return": {}, "id": %s}`, id))
		case "slow":
			return nil // never answered
		case "query-status":
			return []string{fmt.Sprintf(`{"return": {"status": "running"}, "id": %s}`, id)}
		case "bad":
			return []string{fmt.Sprintf(`{"error": {"class": "CommandNotFound", "desc": "The command bad has not been found"}, "id": %s}`, id)}
		case "quit":
			return []string{
				`{"event": "SHUTDOWN", "data": {"guest": false, "reason": "host-qmp-quit"}}`,
				fmt.Sprintf(`{"return": {}, "id": %s}`, id),
				"CLOSE",
			}
		}
		return nil
	})
	var mu sync.Mutex
	var events []string
	q, err := dialQMP(path, 2*time.Second, func(e qmpEvent) {
		mu.Lock()
		defer mu.Unlock()
		var d struct{ Reason string }
		json.Unmarshal(e.Data, &d)
		events = append(events, strings.TrimSpace(e.Name+" "+d.Reason))
	})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.execute("cont", 2*time.Second); err != nil {
		t.Fatal(err)
	}
	r, err := q.execute("query-status", 2*time.Second)
	if err != nil || !strings.Contains(string(r), "running") {
		t.Errorf("query-status: %s, %v", r, err)
	}
	if _, err := q.execute("bad", 2*time.Second); err == nil || !strings.Contains(err.Error(), "has not been found") {
		t.Errorf("bad: %v", err)
	}
	if _, err := q.execute("quit", 2*time.Second); err != nil {
		t.Errorf("quit: %v", err)
	}
	// The connection is gone now: commands fail at once.
	start := time.Now()
	if _, err := q.execute("cont", 5*time.Second); err == nil || time.Since(start) > 2*time.Second {
		t.Errorf("after close: %v after %v", err, time.Since(start))
	}
	q.Close() // every event is delivered once Close returns
	mu.Lock()
	defer mu.Unlock()
	if len(events) != 1001 || events[1000] != "SHUTDOWN host-qmp-quit" {
		t.Errorf("%d events, last %q", len(events), events[len(events)-1])
	}
}

func TestQMPNoGreeting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "q.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err == nil {
			time.Sleep(2 * time.Second)
			c.Close()
		}
	}()
	start := time.Now()
	if _, err := dialQMP(path, 200*time.Millisecond, nil); err == nil {
		t.Error("no error without a greeting")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("handshake not bounded: %v", d)
	}
}

// TestQMPTimedOutCommand: go-qemu matches replies by order, so after a
// command that got no reply the monitor refuses further commands at once
// (the caller then stops QEMU by signal) instead of mistaking a late reply.
func TestQMPTimedOutCommand(t *testing.T) {
	path := fakeQMP(t, func(cmd string, id json.RawMessage) []string {
		if cmd == "query-status" {
			return []string{fmt.Sprintf(`{"return": {"status": "running"}, "id": %s}`, id)}
		}
		return nil // "slow": never answered
	})
	q, err := dialQMP(path, 2*time.Second, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if _, err := q.execute("slow", 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "no reply") {
		t.Fatalf("slow: %v", err)
	}
	start := time.Now()
	if _, err := q.execute("query-status", 2*time.Second); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Errorf("command after a timeout: %v", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("refusal took %v", d)
	}
}
