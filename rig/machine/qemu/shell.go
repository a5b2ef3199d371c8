package qemu

import (
	"bytes"
	"io"
	"net"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

// escapeByte (Ctrl-]) typed in a shell session stops the machine.
const escapeByte = 0x1d

// shell wires the console to the user's terminal: stdin (in raw mode when
// it is a terminal) goes to the guest, console output to stdout.
type shell struct {
	quit    chan struct{} // receives once when the user typed escapeByte
	done    chan struct{}
	wg      sync.WaitGroup
	restore func()
	stdin   int
	stdout  io.Writer
}

func newShell() *shell {
	s := &shell{
		quit:    make(chan struct{}, 1),
		done:    make(chan struct{}),
		restore: func() {},
		stdin:   int(os.Stdin.Fd()),
		stdout:  os.Stdout,
	}
	if old, err := unix.IoctlGetTermios(s.stdin, unix.TCGETS); err == nil {
		raw := *old
		raw.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
		raw.Oflag &^= unix.OPOST
		raw.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
		raw.Cflag &^= unix.CSIZE | unix.PARENB
		raw.Cflag |= unix.CS8
		raw.Cc[unix.VMIN], raw.Cc[unix.VTIME] = 1, 0
		if unix.IoctlSetTermios(s.stdin, unix.TCSETS, &raw) == nil {
			s.restore = func() { _ = unix.IoctlSetTermios(s.stdin, unix.TCSETS, old) }
			io.WriteString(s.stdout, "rig: console attached; Ctrl-] stops the machine\r\n")
		}
	}
	return s
}

// attach starts forwarding stdin to c and returns c's output, copied to
// stdout as it is read.
func (s *shell) attach(c net.Conn) io.Reader {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		forwardInput(s.stdin, c, s.done, s.quit)
	}()
	return io.TeeReader(c, s.stdout)
}

// stop ends forwarding and restores the terminal.
func (s *shell) stop() {
	close(s.done)
	s.wg.Wait()
	s.restore()
}

// forwardInput copies fd to w until done is closed, fd ends, or
// escapeByte is read (then quit receives).
func forwardInput(fd int, w io.Writer, done <-chan struct{}, quit chan<- struct{}) {
	buf := make([]byte, 1024)
	for {
		select {
		case <-done:
			return
		default:
		}
		n, err := unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLIN}}, 100)
		if err == unix.EINTR || n == 0 {
			continue
		}
		if err != nil {
			return
		}
		m, err := unix.Read(fd, buf)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if m <= 0 || err != nil {
			return
		}
		data := buf[:m]
		if i := bytes.IndexByte(data, escapeByte); i >= 0 {
			w.Write(data[:i])
			select {
			case quit <- struct{}{}:
			default:
			}
			return
		}
		if _, err := w.Write(data); err != nil {
			return
		}
	}
}
