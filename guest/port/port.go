// Package port opens the guest's event port: a serial line (or any path,
// or "-" for stdout) that carries event JSON lines unmodified. A tty is put
// in raw mode at 115200 baud so no byte is translated (no ONLCR, no echo).
package port

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

type nopCloser struct{ io.Writer }

func (nopCloser) Close() error { return nil }

// Open opens path for events. "-" is stdout. A path that does not exist is
// created (a plain file, for runs on a host).
func Open(path string) (io.WriteCloser, error) {
	if path == "-" {
		return nopCloser{os.Stdout}, nil
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|unix.O_NOCTTY, 0o644)
	if err != nil {
		return nil, err
	}
	if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
		if err := MakeRaw(int(f.Fd())); err != nil && err != unix.ENOTTY {
			f.Close()
			return nil, err
		}
	} else if st != nil && st.Mode().IsRegular() {
		f.Truncate(0)
	}
	return f, nil
}

// MakeRaw puts the tty fd in raw mode at 115200 baud (ENOTTY if it is not
// a tty).
func MakeRaw(fd int) error {
	t, err := unix.IoctlGetTermios(fd, unix.TCGETS)
	if err != nil {
		return err
	}
	raw(t)
	return unix.IoctlSetTermios(fd, unix.TCSETS, t)
}

// raw edits t as cfmakeraw(3) does, plus 115200 baud.
func raw(t *unix.Termios) {
	t.Iflag &^= unix.IGNBRK | unix.BRKINT | unix.PARMRK | unix.ISTRIP | unix.INLCR | unix.IGNCR | unix.ICRNL | unix.IXON
	t.Oflag &^= unix.OPOST | unix.ONLCR
	t.Lflag &^= unix.ECHO | unix.ECHONL | unix.ICANON | unix.ISIG | unix.IEXTEN
	t.Cflag &^= unix.CSIZE | unix.PARENB | unix.CBAUD
	t.Cflag |= unix.CS8 | unix.CREAD | unix.CLOCAL | unix.B115200
	t.Ispeed = unix.B115200
	t.Ospeed = unix.B115200
	t.Cc[unix.VMIN] = 1
	t.Cc[unix.VTIME] = 0
}
