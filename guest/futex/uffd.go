package futex

import (
	"encoding/binary"
	"errors"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// userfaultfd constants (include/uapi/linux/userfaultfd.h).
const (
	UFFD_API                       = 0xAA
	UFFD_USER_MODE_ONLY            = 1
	UFFD_FEATURE_PAGEFAULT_FLAG_WP = 1 << 0
	UFFDIO_REGISTER_MODE_MISSING   = 1 << 0
	UFFDIO_REGISTER_MODE_WP        = 1 << 1
	UFFDIO_WRITEPROTECT_MODE_WP    = 1 << 0
	// UFFDIO_WRITEPROTECT_MODE_DONTWAKE: lifting the protection does not
	// wake the threads parked on it (include/uapi/linux/userfaultfd.h).
	UFFDIO_WRITEPROTECT_MODE_DONTWAKE = 1 << 1
	UFFD_EVENT_PAGEFAULT              = 0x12
	UFFD_PAGEFAULT_FLAG_WRITE         = 1 << 0
	UFFD_PAGEFAULT_FLAG_WP            = 1 << 1

	_UFFDIO_REGISTER     = 0x00
	_UFFDIO_UNREGISTER   = 0x01
	_UFFDIO_WRITEPROTECT = 0x06
	_UFFDIO_API          = 0x3F
	uffdioType           = 0xAA // the ioctl "type" byte, UFFDIO
)

// UffdioAPI is struct uffdio_api.
type UffdioAPI struct {
	API      uint64
	Features uint64
	Ioctls   uint64
}

// UffdioRange is struct uffdio_range.
type UffdioRange struct {
	Start uint64
	Len   uint64
}

// UffdioRegister is struct uffdio_register.
type UffdioRegister struct {
	Range  UffdioRange
	Mode   uint64
	Ioctls uint64
}

// UffdioWriteprotect is struct uffdio_writeprotect.
type UffdioWriteprotect struct {
	Range UffdioRange
	Mode  uint64
}

// The generic Linux ioctl encoding (include/uapi/asm-generic/ioctl.h),
// which amd64 and arm64 both use.
const (
	iocNone  = 0
	iocWrite = 1
	iocRead  = 2
)

func ioc(dir, typ, nr, size uintptr) uintptr {
	return dir<<30 | size<<16 | typ<<8 | nr
}

// IOWR is _IOWR(typ, nr, size); IOR is _IOR.
func IOWR(typ, nr, size uintptr) uintptr { return ioc(iocRead|iocWrite, typ, nr, size) }
func IOR(typ, nr, size uintptr) uintptr  { return ioc(iocRead, typ, nr, size) }

// The userfaultfd ioctl numbers (0xc018aa3f, 0xc020aa00, 0x8010aa01,
// 0xc018aa06 from the header; checked in the tests).
var (
	UFFDIO_API          = IOWR(uffdioType, _UFFDIO_API, unsafe.Sizeof(UffdioAPI{}))
	UFFDIO_REGISTER     = IOWR(uffdioType, _UFFDIO_REGISTER, unsafe.Sizeof(UffdioRegister{}))
	UFFDIO_UNREGISTER   = IOR(uffdioType, _UFFDIO_UNREGISTER, unsafe.Sizeof(UffdioRange{}))
	UFFDIO_WRITEPROTECT = IOWR(uffdioType, _UFFDIO_WRITEPROTECT, unsafe.Sizeof(UffdioWriteprotect{}))
)

// UffdMsgSize is sizeof(struct uffd_msg).
const UffdMsgSize = 32

// UffdMsg is the part of struct uffd_msg the guest reads.
type UffdMsg struct {
	Event   uint8
	Flags   uint64 // pagefault.flags
	Address uint64 // pagefault.address
}

// ParseUffdMsg decodes one struct uffd_msg (packed, native little endian
// on amd64 and arm64).
func ParseUffdMsg(b []byte) (UffdMsg, error) {
	if len(b) < UffdMsgSize {
		return UffdMsg{}, errors.New("short uffd_msg")
	}
	return UffdMsg{Event: b[0], Flags: binary.LittleEndian.Uint64(b[8:]), Address: binary.LittleEndian.Uint64(b[16:])}, nil
}

// Uffd is an open userfaultfd.
type Uffd struct {
	Fd       int
	Features uint64 // as answered by UFFDIO_API
}

// ErrNoWP means the kernel has userfaultfd but not write-protect mode.
var ErrNoWP = errors.New("userfaultfd write-protect mode not supported")

func ioctl(fd int, req uintptr, arg unsafe.Pointer) error {
	_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), req, uintptr(arg))
	if e != 0 {
		return e
	}
	return nil
}

// OpenUffdWP opens a non-blocking userfaultfd with the write-protect
// feature. userModeOnly adds UFFD_USER_MODE_ONLY (needed when not root and
// vm.unprivileged_userfaultfd=0). Errors: ENOSYS (no userfaultfd), EPERM,
// ErrNoWP.
func OpenUffdWP(userModeOnly bool) (*Uffd, error) {
	flags := uintptr(unix.O_CLOEXEC | unix.O_NONBLOCK)
	if userModeOnly {
		flags |= UFFD_USER_MODE_ONLY
	}
	r, _, e := unix.Syscall(unix.SYS_USERFAULTFD, flags, 0, 0)
	if e != 0 {
		return nil, e
	}
	fd := int(r)
	api := UffdioAPI{API: UFFD_API, Features: UFFD_FEATURE_PAGEFAULT_FLAG_WP}
	if err := ioctl(fd, UFFDIO_API, unsafe.Pointer(&api)); err != nil {
		unix.Close(fd)
		if err == unix.EINVAL {
			return nil, ErrNoWP
		}
		return nil, err
	}
	if api.Features&UFFD_FEATURE_PAGEFAULT_FLAG_WP == 0 {
		unix.Close(fd)
		return nil, ErrNoWP
	}
	return &Uffd{Fd: fd, Features: api.Features}, nil
}

// RegisterWP registers [addr, addr+length) in write-protect mode.
func (u *Uffd) RegisterWP(addr unsafe.Pointer, length uintptr) error {
	reg := UffdioRegister{Range: UffdioRange{Start: uint64(uintptr(addr)), Len: uint64(length)}, Mode: UFFDIO_REGISTER_MODE_WP}
	if err := ioctl(u.Fd, UFFDIO_REGISTER, unsafe.Pointer(&reg)); err != nil {
		if err == unix.EINVAL {
			return ErrNoWP
		}
		return err
	}
	return nil
}

// WriteProtect sets (on) or clears write protection on a registered range;
// clearing it wakes the threads parked on it.
func (u *Uffd) WriteProtect(addr unsafe.Pointer, length uintptr, on bool) error {
	wp := UffdioWriteprotect{Range: UffdioRange{Start: uint64(uintptr(addr)), Len: uint64(length)}}
	if on {
		wp.Mode = UFFDIO_WRITEPROTECT_MODE_WP
	}
	return ioctl(u.Fd, UFFDIO_WRITEPROTECT, unsafe.Pointer(&wp))
}

// Unprotect lifts write protection from [addr, addr+length) without waking
// the threads parked on a write fault there: they stay parked until a
// signal or UFFDIO_WAKE, but the kernel's own stores to the range no
// longer fault.
func (u *Uffd) Unprotect(addr unsafe.Pointer, length uintptr) error {
	wp := UffdioWriteprotect{Range: UffdioRange{Start: uint64(uintptr(addr)), Len: uint64(length)}, Mode: UFFDIO_WRITEPROTECT_MODE_DONTWAKE}
	return ioctl(u.Fd, UFFDIO_WRITEPROTECT, unsafe.Pointer(&wp))
}

// ReadMsg waits up to timeout for one message (retrying EAGAIN/EINTR).
func (u *Uffd) ReadMsg(timeout time.Duration) (UffdMsg, error) {
	deadline := time.Now().Add(timeout)
	buf := make([]byte, UffdMsgSize)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return UffdMsg{}, unix.ETIMEDOUT
		}
		fds := []unix.PollFd{{Fd: int32(u.Fd), Events: unix.POLLIN}}
		_, err := unix.Poll(fds, int(left/time.Millisecond)+1)
		if err != nil && err != unix.EINTR {
			return UffdMsg{}, err
		}
		n, err := unix.Read(u.Fd, buf)
		if err == unix.EAGAIN || err == unix.EINTR {
			continue
		}
		if err != nil {
			return UffdMsg{}, err
		}
		return ParseUffdMsg(buf[:n])
	}
}

// Close closes the userfaultfd.
func (u *Uffd) Close() error { return unix.Close(u.Fd) }
