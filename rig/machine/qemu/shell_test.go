package qemu

import (
	"bytes"
	"os"
	"sync"
	"testing"
	"time"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestForwardInput(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	var got syncBuf
	done, quit := make(chan struct{}), make(chan struct{}, 1)
	ended := make(chan struct{})
	go func() { forwardInput(int(r.Fd()), &got, done, quit); close(ended) }()
	w.Write([]byte("ls /\r"))
	time.Sleep(300 * time.Millisecond)
	w.Write([]byte("echo\x1dignored"))
	select {
	case <-quit:
	case <-time.After(5 * time.Second):
		t.Fatal("Ctrl-] did not quit")
	}
	<-ended
	if got.String() != "ls /\recho" {
		t.Errorf("forwarded %q", got.String())
	}

	// done ends it too, without input.
	done2 := make(chan struct{})
	ended2 := make(chan struct{})
	go func() { forwardInput(int(r.Fd()), &got, done2, quit); close(ended2) }()
	close(done2)
	select {
	case <-ended2:
	case <-time.After(5 * time.Second):
		t.Fatal("done did not end forwarding")
	}
	close(done)
}
