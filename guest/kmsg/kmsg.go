// Package kmsg reads the kernel log from /dev/kmsg (every record since
// boot, whatever the console loglevel) for the guest's final dump.
package kmsg

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Record is one /dev/kmsg record.
type Record struct {
	Prio int
	Seq  uint64
	Usec uint64
	Msg  string
}

// String formats r as dmesg does: "[%5d.%06d] message".
func (r Record) String() string {
	return fmt.Sprintf("[%5d.%06d] %s", r.Usec/1e6, r.Usec%1e6, r.Msg)
}

// Parse decodes "<prio>,<seq>,<usec>,<flags>[,...];message\n[ KEY=val\n...]".
func Parse(b []byte) (Record, error) {
	s := string(b)
	hdr, rest, ok := strings.Cut(s, ";")
	if !ok {
		return Record{}, fmt.Errorf("kmsg record without ';': %q", s)
	}
	f := strings.Split(hdr, ",")
	if len(f) < 3 {
		return Record{}, fmt.Errorf("kmsg header %q: too few fields", hdr)
	}
	var r Record
	var err error
	if r.Prio, err = strconv.Atoi(f[0]); err != nil {
		return Record{}, fmt.Errorf("kmsg prio %q", f[0])
	}
	if r.Seq, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return Record{}, fmt.Errorf("kmsg seq %q", f[1])
	}
	if r.Usec, err = strconv.ParseUint(f[2], 10, 64); err != nil {
		return Record{}, fmt.Errorf("kmsg usec %q", f[2])
	}
	r.Msg, _, _ = strings.Cut(rest, "\n")
	return r, nil
}

// Dump reads /dev/kmsg from the start until it is drained, calling emit for
// each record, at most max records; it returns how many it emitted.
func Dump(path string, max int, emit func(Record)) (int, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 8192)
	n := 0
	for n < max {
		k, err := unix.Read(fd, buf)
		switch {
		case err == unix.EAGAIN:
			return n, nil
		case err == unix.EPIPE || err == unix.EINTR:
			continue // records overwritten while reading: go on from the next
		case err != nil:
			return n, err
		case k == 0:
			return n, nil
		}
		r, perr := Parse(buf[:k])
		if perr != nil {
			r = Record{Msg: "unparsed: " + strings.TrimSpace(string(buf[:k]))}
		}
		emit(r)
		n++
	}
	return n, errors.New("kmsg: record cap reached")
}
