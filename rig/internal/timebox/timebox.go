// Package timebox is for tests of code that must not block: Call runs a
// function and fails the test if it has not returned in time (a read of a
// FIFO, a loop on hostile numbers), and Buffer collects output written
// from another goroutine.
package timebox

import (
	"bytes"
	"sync"
	"testing"
	"time"
)

// Call runs f and returns its error, or fails t (naming what) if f has not
// returned within d. f keeps running in its goroutine after a failure.
func Call(t testing.TB, d time.Duration, what string, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("%s: still running after %v", what, d)
		return nil
	}
}

// Buffer is a bytes.Buffer safe for concurrent writers and readers.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
