// Package ui reports progress to the user: a live, rewritten status line on a
// terminal, and plain timestamped lines otherwise (CI logs). Everything that
// reaches the terminal passes through result.Clean first, because stage
// messages can quote the kernel under test.
package ui

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/rig/result"
)

// UI writes progress to one stream.
type UI struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	start time.Time
	live  bool // a live line is on screen
	last  time.Time
	quiet bool
}

// New returns a UI on w; it animates only when w is a terminal and TERM is
// not "dumb".
func New(w io.Writer) *UI {
	u := &UI{w: w, start: time.Now()}
	if f, ok := w.(*os.File); ok && os.Getenv("TERM") != "dumb" && os.Getenv("CI") == "" {
		if _, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS); err == nil {
			u.tty = true
		}
	}
	return u
}

// Discard is a UI that prints nothing (tests, in-process callers).
func Discard() *UI { return &UI{w: io.Discard, quiet: true, start: time.Now()} }

// TTY reports whether the UI animates.
func (u *UI) TTY() bool { return u.tty }

func (u *UI) clearLive() {
	if u.live {
		fmt.Fprint(u.w, "\r\033[K")
		u.live = false
	}
}

// Printf prints a permanent line.
func (u *UI) Printf(format string, a ...any) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLive()
	msg := result.Clean(fmt.Sprintf(format, a...), 2000)
	if u.tty {
		fmt.Fprintln(u.w, msg)
		return
	}
	fmt.Fprintf(u.w, "[%6.1fs] %s\n", time.Since(u.start).Seconds(), msg)
}

// Notice prints a line that must not be missed (fallbacks, warnings).
func (u *UI) Notice(format string, a ...any) { u.Printf("notice: "+format, a...) }

// Stage announces a stage of a cell.
func (u *UI) Stage(cell, stage, msg string) {
	if msg == "" {
		u.Printf("%s: %s", cell, stage)
		return
	}
	u.Printf("%s: %s: %s", cell, stage, msg)
}

// Live shows a transient status line (a build step, boot progress). On a
// terminal it rewrites one line at most 10 times a second; elsewhere it
// prints a plain line at most every 15 seconds, so CI logs stay short.
func (u *UI) Live(cell, stage, msg string) {
	u.mu.Lock()
	defer u.mu.Unlock()
	now := time.Now()
	if u.tty {
		if now.Sub(u.last) < 100*time.Millisecond {
			return
		}
		u.last = now
		line := result.Clean(fmt.Sprintf("%s: %s: %s", cell, stage, msg), 200)
		fmt.Fprintf(u.w, "\r\033[K%s", line)
		u.live = true
		return
	}
	if now.Sub(u.last) < 15*time.Second {
		return
	}
	u.last = now
	fmt.Fprintf(u.w, "[%6.1fs] %s\n", time.Since(u.start).Seconds(), result.Clean(fmt.Sprintf("%s: %s: %s", cell, stage, msg), 200))
}

// Done clears any live line.
func (u *UI) Done() {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.clearLive()
}

// Bar renders a percentage as a short text bar.
func Bar(frac float64) string {
	if frac < 0 {
		frac = 0
	}
	if frac > 1 {
		frac = 1
	}
	n := int(frac * 20)
	return "[" + strings.Repeat("#", n) + strings.Repeat(".", 20-n) + fmt.Sprintf("] %3d%%", int(frac*100))
}
