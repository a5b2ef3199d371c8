package timebox

import (
	"errors"
	"sync"
	"testing"
	"time"
)

// fakeTB records Fatalf instead of stopping the goroutine.
type fakeTB struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.msg = format
}

func TestCall(t *testing.T) {
	want := errors.New("x")
	if err := Call(t, time.Second, "quick", func() error { return want }); err != want {
		t.Errorf("Call = %v, want f's error", err)
	}
	ft := &fakeTB{}
	block := make(chan struct{})
	defer close(block)
	start := time.Now()
	Call(ft, 50*time.Millisecond, "blocked", func() error { <-block; return nil })
	if ft.msg == "" {
		t.Error("a blocked f did not fail the test")
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Call waited %v for a 50 ms bound", d)
	}
}

func TestBufferConcurrent(t *testing.T) {
	var b Buffer
	var wg sync.WaitGroup
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); b.Write([]byte("ab")); _ = b.String() }()
	}
	wg.Wait()
	if len(b.String()) != 20 {
		t.Errorf("%q", b.String())
	}
}
