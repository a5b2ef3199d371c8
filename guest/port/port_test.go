package port

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRaw(t *testing.T) {
	tm := unix.Termios{Oflag: unix.OPOST | unix.ONLCR, Lflag: unix.ECHO | unix.ICANON, Cflag: unix.B9600}
	raw(&tm)
	if tm.Oflag&(unix.OPOST|unix.ONLCR) != 0 || tm.Lflag&(unix.ECHO|unix.ICANON) != 0 {
		t.Errorf("not raw: %+v", tm)
	}
	if tm.Cflag&unix.CBAUD != unix.B115200 || tm.Ospeed != unix.B115200 {
		t.Errorf("baud: %+v", tm)
	}
}

func TestPty(t *testing.T) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skip(err)
	}
	defer m.Close()
	if err := unix.IoctlSetPointerInt(int(m.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Skip(err)
	}
	n, err := unix.IoctlGetInt(int(m.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Skip(err)
	}
	w, err := Open(filepath.Join("/dev/pts", strconv.Itoa(n)))
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Write([]byte("{\"ev\":\"done\"}\n")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 64)
	k, err := m.Read(buf)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(buf[:k]); got != "{\"ev\":\"done\"}\n" {
		t.Errorf("pty carried %q (want no CR added)", got)
	}
}

func TestFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "ev")
	os.WriteFile(p, []byte("old contents\n"), 0o644)
	w, err := Open(p)
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("x\n"))
	w.Close()
	if b, _ := os.ReadFile(p); string(b) != "x\n" {
		t.Errorf("file holds %q", b)
	}
}
