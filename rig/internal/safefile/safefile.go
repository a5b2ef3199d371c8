// Package safefile reads files that came from outside the rig (results
// directories, shards, plans, patches, cache entries): regular files only,
// never blocking on a FIFO or device, with a size bound, and, for names
// taken from untrusted fields, only inside their directory.
package safefile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"syscall"
)

// NotRegularError is a path that is a FIFO, device, socket or directory
// where a regular file was expected.
type NotRegularError struct {
	Path string
	Mode fs.FileMode
}

func (e *NotRegularError) Error() string {
	return fmt.Sprintf("%s is a %s, not a regular file: give a regular file", e.Path, Kind(e.Mode))
}

// TooLargeError is a file over the size bound of what it should hold.
type TooLargeError struct {
	Path      string
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("%s is larger than %d bytes, the most the rig reads of such a file: is it the right file?", e.Path, e.Max)
}

// BadNameError is a name from an untrusted field that is not one plain
// path element (empty, ".", "..", or holding a slash or a NUL).
type BadNameError struct {
	Name string
}

func (e *BadNameError) Error() string {
	return fmt.Sprintf("%q is not a plain file name (no \"/\", \"..\", or NUL allowed)", e.Name)
}

// Kind names a file mode's type for an error: "directory", "FIFO"...
func Kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "directory"
	case m&fs.ModeNamedPipe != 0:
		return "FIFO"
	case m&fs.ModeSocket != 0:
		return "socket"
	case m&fs.ModeCharDevice != 0:
		return "character device"
	case m&fs.ModeDevice != 0:
		return "device"
	case m&fs.ModeSymlink != 0:
		return "symlink"
	}
	return "special file"
}

// CheckName returns a *BadNameError unless name is one plain path element
// of at most 255 bytes.
func CheckName(name string) error {
	if name == "" || name == "." || name == ".." || len(name) > 255 ||
		strings.ContainsAny(name, "/\x00") {
		return &BadNameError{Name: name}
	}
	return nil
}

// flags opens without blocking: a FIFO with no writer opens at once (and
// is then refused by its mode), a device's open has no chance to wait.
const flags = os.O_RDONLY | syscall.O_NONBLOCK

// Open opens path for reading if it is a regular file (after following
// symlinks); anything else is a *NotRegularError, without blocking.
func Open(path string) (*os.File, error) {
	f, err := os.OpenFile(path, flags, 0)
	if err != nil {
		return nil, err
	}
	return regular(f, path)
}

// EscapeError is a name that leads out of its directory (through "..",
// an absolute path or a symlink).
type EscapeError struct {
	Dir, Name string
	Err       error
}

func (e *EscapeError) Error() string {
	return fmt.Sprintf("%s leads outside %s: refused (%v)", e.Name, e.Dir, e.Err)
}

func (e *EscapeError) Unwrap() error { return e.Err }

// Escapes says whether err is os.Root's refusal of a path leading out of
// it, or an *EscapeError.
func Escapes(err error) bool {
	var ee *EscapeError
	return errors.As(err, &ee) || escaped(err)
}

// escaped tells os.Root's refusal of a path leading out of it (the os
// package exports no value for it) from other errors.
func escaped(err error) bool {
	return err != nil && strings.Contains(err.Error(), "path escapes from parent")
}

// OpenIn opens name inside root (symlinks may not leave it) if it is a
// regular file; a name leading out is an *EscapeError.
func OpenIn(root *os.Root, name string) (*os.File, error) {
	f, err := root.OpenFile(name, flags, 0)
	if escaped(err) {
		return nil, &EscapeError{Dir: root.Name(), Name: name, Err: err}
	}
	if err != nil {
		return nil, err
	}
	return regular(f, name)
}

func regular(f *os.File, path string) (*os.File, error) {
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, &NotRegularError{Path: path, Mode: st.Mode()}
	}
	return f, nil
}

// ReadFile reads the regular file at path, at most max bytes (a larger
// file is a *TooLargeError).
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, path, max)
}

// ReadIn reads the regular file name inside dir (name may have several
// elements; no symlink or ".." may lead out of dir), at most max bytes.
func ReadIn(dir, name string, max int64) ([]byte, error) {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	f, err := OpenIn(root, name)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return readAll(f, name, max)
}

// OpenUnder opens the regular file name in the subdirectory sub of dir
// (a cell's log in a run directory): sub is one plain name that may not
// lead out of dir, and name may not lead out of dir/sub.
func OpenUnder(dir, sub, name string) (*os.File, error) {
	if err := CheckName(sub); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	sr, err := root.OpenRoot(sub)
	if escaped(err) {
		return nil, &EscapeError{Dir: dir, Name: sub, Err: err}
	}
	if err != nil {
		return nil, err
	}
	defer sr.Close()
	return OpenIn(sr, name)
}

// RegularUnder says whether OpenUnder(dir, sub, name) would succeed.
func RegularUnder(dir, sub, name string) bool {
	f, err := OpenUnder(dir, sub, name)
	if err != nil {
		return false
	}
	f.Close()
	return true
}

func readAll(f *os.File, path string, max int64) ([]byte, error) {
	if st, err := f.Stat(); err == nil && st.Size() > max {
		return nil, &TooLargeError{Path: path, Size: st.Size(), Max: max}
	}
	// The file may grow while it is read: never read past max.
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > max {
		return nil, &TooLargeError{Path: path, Size: int64(len(b)), Max: max}
	}
	return b, nil
}

// IsRefused says whether err is one of this package's refusals (as
// opposed to a missing file or an I/O error).
func IsRefused(err error) bool {
	var nr *NotRegularError
	var tl *TooLargeError
	var bn *BadNameError
	var ee *EscapeError
	return errors.As(err, &nr) || errors.As(err, &tl) || errors.As(err, &bn) || errors.As(err, &ee)
}
