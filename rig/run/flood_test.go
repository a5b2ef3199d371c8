package run

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/rig-kernel/rig/guest/event"
	"github.com/rig-kernel/rig/rig/machine"
	"github.com/rig-kernel/rig/rig/oops"
)

// heapPeak samples HeapInuse until stopped and returns the highest value.
func heapPeak() (stop func() uint64) {
	var peak atomic.Uint64
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	sample := func() {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		if ms.HeapInuse > peak.Load() {
			peak.Store(ms.HeapInuse)
		}
	}
	go func() {
		defer wg.Done()
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				sample()
			}
		}
	}()
	return func() uint64 {
		close(done)
		wg.Wait()
		sample()
		return peak.Load()
	}
}

func heapNow() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

func newTestBootState(t *testing.T, dir string) *bootState {
	t.Helper()
	st := &bootState{scanner: oops.NewScanner(), started: map[string]event.Event{}}
	var err error
	if st.console, err = openCapped(filepath.Join(dir, "console.log"), consoleCap); err != nil {
		t.Fatal(err)
	}
	if st.events, err = openCapped(filepath.Join(dir, "events.jsonl"), eventsCap); err != nil {
		t.Fatal(err)
	}
	if st.dmesg, err = openCapped(filepath.Join(dir, "dmesg.txt"), dmesgCap); err != nil {
		t.Fatal(err)
	}
	return st
}

// A kernel printing as fast as it can for the whole run must leave
// console.log at its cap plus the marker lines, and keep the run stage's
// memory bounded. 200 MB of console lines go straight into bootState.out,
// with one line of 50 MB among them. The QEMU backend cuts lines at 64 KiB
// (its readLines has FuzzReadLines), so "cut" delivers that line as the
// backend does; "raw" delivers all 50 MB in one Output, worse than any
// backend should, and checks the run stage keeps none of it.
func TestConsoleFloodBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("200 MB flood (-short)")
	}
	for _, raw := range []bool{false, true} {
		name := map[bool]string{false: "cut", true: "raw"}[raw]
		t.Run(name, func(t *testing.T) { consoleFlood(t, raw) })
	}
}

func consoleFlood(t *testing.T, raw bool) {
	const (
		total      = 200 << 20
		hugeLine   = 50 << 20
		bound      = 64 << 20
		backendMax = 64 << 10
	)
	dir := t.TempDir()
	st := newTestBootState(t, dir)

	start := heapNow()
	stop := heapPeak()
	began := time.Now()
	var sent int64
	lines := 0
	var huge string
	var retained uint64
	pad := strings.Repeat("x", 80)
	for sent < total {
		if huge == "" && sent > total/3 {
			// The cut form never exists whole in the rig, so it is not built.
			huge = strings.Repeat("H", backendMax) + fmt.Sprintf(" [rig: line cut at %d bytes]", backendMax)
			if raw {
				huge = strings.Repeat("H", hugeLine)
			}
			l := huge
			st.out(machine.Output{Kind: machine.Console, Line: l, Time: time.Since(began)})
			sent += hugeLine + 1
			lines++
			continue
		}
		if lines%100000 == 0 && huge != "" && retained == 0 {
			// Well past the huge line: the run stage must not hold it.
			huge = "done"
			retained = heapNow()
		}
		l := fmt.Sprintf("[%12.6f] flood %d %s \x1b[0m", time.Since(began).Seconds(), lines, pad)
		st.out(machine.Output{Kind: machine.Console, Line: l, Time: time.Since(began)})
		sent += int64(len(l)) + 1
		lines++
		if lines%100000 == 0 {
			// Events keep flowing alongside.
			raw := fmt.Sprintf(`{"ev":"progress","test":"flood","counters":{"lines":%d},"t":1}`, lines)
			ev, _ := event.Parse([]byte(raw))
			st.out(machine.Output{Kind: machine.Event, Line: raw, Event: ev})
		}
	}
	st.console.close()
	st.events.close()
	st.dmesg.close()
	peak := stop()
	elapsed := time.Since(began)
	above := int64(peak) - int64(start)
	t.Logf("flood (%s 50 MB line): %d MB in %d lines in %v (%.0f MB/s); heap in use at start %.1f MiB, peak %.1f MiB (%.1f MiB above start), after the huge line and a GC %.1f MiB",
		map[bool]string{false: "cut", true: "raw"}[raw], sent>>20, lines, elapsed.Round(time.Millisecond), float64(sent)/1e6/elapsed.Seconds(),
		mib(start), mib(peak), float64(above)/(1<<20), mib(retained))
	limit := int64(bound)
	if raw {
		// The line itself is on the heap, and the GC lets garbage grow to
		// about the live heap's size while it is live.
		limit += 2 * hugeLine
	}
	if above > limit {
		t.Errorf("heap grew %.1f MiB above start (bound %d MiB)", float64(above)/(1<<20), limit>>20)
	}
	if int64(retained)-int64(start) > 16<<20 {
		t.Errorf("%.1f MiB still in use well after the huge line: the run stage holds on to it", mib(retained-start))
	}

	fi, err := os.Stat(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	const markerRoom = 256 // the cut marker and the dropped-lines line
	if fi.Size() > consoleCap+markerRoom {
		t.Errorf("console.log is %d bytes, cap %d", fi.Size(), consoleCap)
	}
	tailBytes := readTail(t, filepath.Join(dir, "console.log"), 512)
	if !bytes.Contains(tailBytes, []byte("[rig: console.log cut at ")) || !bytes.Contains(tailBytes, []byte("more lines dropped]")) {
		t.Errorf("console.log does not end with the cut marker:\n%s", tailBytes)
	}
	if st.lines != lines {
		t.Errorf("counted %d console lines, sent %d", st.lines, lines)
	}
	t.Logf("console.log %d bytes (cap %d)", fi.Size(), consoleCap)
}

func mib(n uint64) float64 { return float64(n) / (1 << 20) }

// A single line larger than the cap is dropped with the marker, and the
// lines before it are kept whole.
func TestConsoleHugeLineAlone(t *testing.T) {
	dir := t.TempDir()
	st := newTestBootState(t, dir)
	st.out(machine.Output{Kind: machine.Console, Line: "before"})
	st.out(machine.Output{Kind: machine.Console, Line: strings.Repeat("H", consoleCap+1)})
	st.out(machine.Output{Kind: machine.Console, Line: "after"})
	st.console.close()
	b, err := os.ReadFile(filepath.Join(dir, "console.log"))
	if err != nil {
		t.Fatal(err)
	}
	want := "before\n[rig: console.log cut at 7 bytes: the rest was not kept]\n[rig: 2 more lines dropped]\n"
	if string(b) != want {
		t.Errorf("console.log:\n%q\nwant\n%q", b, want)
	}
}

func readTail(t *testing.T, path string, n int64) []byte {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	off := max(fi.Size()-n, 0)
	b := make([]byte, fi.Size()-off)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	return b
}
