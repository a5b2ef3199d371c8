package cache_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
)

// lockHelperEnv makes the test binary a child process that takes a lock,
// says "locked" and then waits to be killed.
const lockHelperEnv = "RIG_CACHE_TEST_LOCK_HELPER"

func TestMain(m *testing.M) {
	if path := os.Getenv(lockHelperEnv); path != "" {
		l, err := cache.Acquire(context.Background(), path, nil)
		if err != nil {
			fmt.Println("error:", err)
			os.Exit(1)
		}
		_ = l
		fmt.Println("locked")
		time.Sleep(time.Hour)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func tryAcquire(t *testing.T, path string, within time.Duration) (*cache.Lock, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	return cache.Acquire(ctx, path, nil)
}

func TestAcquireExcludesAndRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "x.lock") // parent is created
	l1, err := tryAcquire(t, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	waited := 0
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	start := time.Now()
	l2, err := cache.Acquire(ctx, path, func() { waited++ })
	cancel()
	if err == nil {
		l2.Release()
		t.Fatal("second Acquire succeeded while the lock was held")
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), path) {
		t.Errorf("err = %v, want a deadline error naming %s", err, path)
	}
	if d := time.Since(start); d < 250*time.Millisecond {
		t.Errorf("second Acquire gave up after %s, before its context", d)
	}
	if waited != 1 {
		t.Errorf("wait callback called %d times, want 1", waited)
	}
	l1.Release()
	l1.Release() // idempotent
	l3, err := tryAcquire(t, path, time.Second)
	if err != nil {
		t.Fatalf("Acquire after Release: %v", err)
	}
	l3.Release()
}

func TestAcquireWaitsForRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	l1, err := tryAcquire(t, path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(200*time.Millisecond, l1.Release)
	l2, err := tryAcquire(t, path, 5*time.Second)
	if err != nil {
		t.Fatalf("Acquire did not get the lock once released: %v", err)
	}
	l2.Release()
}

func TestLockReleasedWhenHolderDies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.lock")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), lockHelperEnv+"="+path)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || strings.TrimSpace(line) != "locked" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	if l, err := tryAcquire(t, path, 300*time.Millisecond); err == nil {
		l.Release()
		t.Fatal("Acquire succeeded while another process held the lock")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup runs
		t.Fatal(err)
	}
	_ = cmd.Wait()
	l, err := tryAcquire(t, path, 3*time.Second)
	if err != nil {
		t.Fatalf("lock not released by the holder's death: %v", err)
	}
	l.Release()
}

func TestKey(t *testing.T) {
	k := cache.Key("a", "bc")
	if k != cache.Key("a", "bc") {
		t.Error("Key is not stable")
	}
	if len(k) != 24 {
		t.Errorf("len(Key) = %d, want 24", len(k))
	}
	distinct := [][]string{
		{"a", "bc"}, {"ab", "c"}, {"abc"}, {"a", "b", "c"}, {"", "abc"}, {"abc", ""}, {}, {""},
		{"a\n", "b"}, {"a", "\nb"}, {"1:a"}, {"1:a\n"},
	}
	seen := map[string][]string{}
	for _, parts := range distinct {
		k := cache.Key(parts...)
		if prev, ok := seen[k]; ok {
			t.Errorf("Key(%q) == Key(%q) = %s", parts, prev, k)
		}
		seen[k] = parts
	}
}

func TestHashFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("abc"), 0o644); err != nil {
		t.Fatal(err)
	}
	h, err := cache.HashFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"; h != want {
		t.Errorf("HashFile = %s, want sha256(abc) %s", h, want)
	}
	if _, err := cache.HashFile(p + ".missing"); err == nil {
		t.Error("HashFile of a missing file: no error")
	}
}

func TestDirHonoursRIGCACHE(t *testing.T) {
	d := filepath.Join(t.TempDir(), "c", "rig")
	t.Setenv("RIG_CACHE", d)
	got, err := cache.Dir()
	if err != nil || got != d {
		t.Fatalf("Dir() = %q, %v; want %q", got, err, d)
	}
	if st, err := os.Stat(d); err != nil || !st.IsDir() {
		t.Errorf("Dir did not create %s: %v", d, err)
	}
}

// Path names the same directory without creating it (rig cache, rig
// setup --check only look).
func TestPathCreatesNothing(t *testing.T) {
	d := filepath.Join(t.TempDir(), "c", "rig")
	t.Setenv("RIG_CACHE", d)
	if got, err := cache.Path(); err != nil || got != d {
		t.Fatalf("Path() = %q, %v; want %q", got, err, d)
	}
	if _, err := os.Stat(filepath.Dir(d)); err == nil {
		t.Errorf("Path created %s", filepath.Dir(d))
	}
}
