package futex

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"
)

// The values of the real header, hard-coded (Linux uapi, identical on
// amd64 and arm64).
func TestIoctlNumbersKnown(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want uintptr
	}{
		{"UFFDIO_API", UFFDIO_API, 0xc018aa3f},
		{"UFFDIO_REGISTER", UFFDIO_REGISTER, 0xc020aa00},
		{"UFFDIO_UNREGISTER", UFFDIO_UNREGISTER, 0x8010aa01},
		{"UFFDIO_WRITEPROTECT", UFFDIO_WRITEPROTECT, 0xc018aa06},
	} {
		if c.got != c.want {
			t.Errorf("%s = %#x, want %#x", c.name, c.got, c.want)
		}
	}
}

// TestAgainstHeaders compiles a tiny C program against the installed uapi
// headers (linux-libc-dev) and compares every constant.
func TestAgainstHeaders(t *testing.T) {
	cc, err := exec.LookPath("cc")
	if err != nil {
		t.Skip("no C compiler")
	}
	if _, err := os.Stat("/usr/include/linux/userfaultfd.h"); err != nil {
		t.Skip("no uapi headers (apt-get install linux-libc-dev)")
	}
	dir := t.TempDir()
	src := `#include <stdio.h>
#include <sys/ioctl.h>
#include <linux/userfaultfd.h>
#include <linux/futex.h>
int main(void){
printf("UFFDIO_API %lu\nUFFDIO_REGISTER %lu\nUFFDIO_UNREGISTER %lu\nUFFDIO_WRITEPROTECT %lu\n",
 (unsigned long)UFFDIO_API,(unsigned long)UFFDIO_REGISTER,(unsigned long)UFFDIO_UNREGISTER,(unsigned long)UFFDIO_WRITEPROTECT);
printf("UFFD_API %lu\nUFFD_USER_MODE_ONLY %lu\nUFFD_FEATURE_PAGEFAULT_FLAG_WP %lu\nUFFDIO_REGISTER_MODE_WP %lu\n",
 (unsigned long)UFFD_API,(unsigned long)UFFD_USER_MODE_ONLY,(unsigned long)UFFD_FEATURE_PAGEFAULT_FLAG_WP,(unsigned long)UFFDIO_REGISTER_MODE_WP);
printf("UFFDIO_WRITEPROTECT_MODE_WP %lu\nUFFD_EVENT_PAGEFAULT %lu\nUFFD_PAGEFAULT_FLAG_WP %lu\nsizeof_uffd_msg %lu\n",
 (unsigned long)UFFDIO_WRITEPROTECT_MODE_WP,(unsigned long)UFFD_EVENT_PAGEFAULT,(unsigned long)UFFD_PAGEFAULT_FLAG_WP,(unsigned long)sizeof(struct uffd_msg));
printf("FUTEX_WAIT %lu\nFUTEX_WAKE %lu\nFUTEX_LOCK_PI %lu\nFUTEX_UNLOCK_PI %lu\nFUTEX_TRYLOCK_PI %lu\nFUTEX_WAIT_BITSET %lu\n",
 (unsigned long)FUTEX_WAIT,(unsigned long)FUTEX_WAKE,(unsigned long)FUTEX_LOCK_PI,(unsigned long)FUTEX_UNLOCK_PI,(unsigned long)FUTEX_TRYLOCK_PI,(unsigned long)FUTEX_WAIT_BITSET);
printf("FUTEX_PRIVATE_FLAG %lu\nFUTEX_CLOCK_REALTIME %lu\nFUTEX_WAITERS %lu\nFUTEX_OWNER_DIED %lu\nFUTEX_TID_MASK %lu\nsizeof_robust_list_head %lu\n",
 (unsigned long)FUTEX_PRIVATE_FLAG,(unsigned long)FUTEX_CLOCK_REALTIME,(unsigned long)FUTEX_WAITERS,(unsigned long)FUTEX_OWNER_DIED,(unsigned long)FUTEX_TID_MASK,(unsigned long)sizeof(struct robust_list_head));
return 0;}
`
	if err := os.WriteFile(filepath.Join(dir, "c.c"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "c")
	if out, err := exec.Command(cc, "-o", bin, filepath.Join(dir, "c.c")).CombinedOutput(); err != nil {
		t.Skipf("cannot compile against headers: %v\n%s", err, out)
	}
	out, err := exec.Command(bin).Output()
	if err != nil {
		t.Fatal(err)
	}
	ours := map[string]uint64{
		"UFFDIO_API": uint64(UFFDIO_API), "UFFDIO_REGISTER": uint64(UFFDIO_REGISTER),
		"UFFDIO_UNREGISTER": uint64(UFFDIO_UNREGISTER), "UFFDIO_WRITEPROTECT": uint64(UFFDIO_WRITEPROTECT),
		"UFFD_API": UFFD_API, "UFFD_USER_MODE_ONLY": UFFD_USER_MODE_ONLY,
		"UFFD_FEATURE_PAGEFAULT_FLAG_WP": UFFD_FEATURE_PAGEFAULT_FLAG_WP, "UFFDIO_REGISTER_MODE_WP": UFFDIO_REGISTER_MODE_WP,
		"UFFDIO_WRITEPROTECT_MODE_WP": UFFDIO_WRITEPROTECT_MODE_WP, "UFFD_EVENT_PAGEFAULT": UFFD_EVENT_PAGEFAULT,
		"UFFD_PAGEFAULT_FLAG_WP": UFFD_PAGEFAULT_FLAG_WP, "sizeof_uffd_msg": UffdMsgSize,
		"FUTEX_WAIT": FUTEX_WAIT, "FUTEX_WAKE": FUTEX_WAKE, "FUTEX_LOCK_PI": FUTEX_LOCK_PI,
		"FUTEX_UNLOCK_PI": FUTEX_UNLOCK_PI, "FUTEX_TRYLOCK_PI": FUTEX_TRYLOCK_PI, "FUTEX_WAIT_BITSET": FUTEX_WAIT_BITSET,
		"FUTEX_PRIVATE_FLAG": FUTEX_PRIVATE_FLAG, "FUTEX_CLOCK_REALTIME": FUTEX_CLOCK_REALTIME,
		"FUTEX_WAITERS": FUTEX_WAITERS, "FUTEX_OWNER_DIED": FUTEX_OWNER_DIED, "FUTEX_TID_MASK": FUTEX_TID_MASK,
		"sizeof_robust_list_head": uint64(RobustListHeadSize),
	}
	seen := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		v, err := strconv.ParseUint(f[1], 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		seen++
		if ours[f[0]] != v {
			t.Errorf("%s: ours %#x, header %#x", f[0], ours[f[0]], v)
		}
	}
	if seen != len(ours) {
		t.Errorf("compared %d constants, want %d", seen, len(ours))
	}
}

func TestHeadLayout(t *testing.T) {
	if RobustListHeadSize != 24 || HeadListOff != 0 || HeadOffsetOff != 8 || HeadPendingOff != 16 {
		t.Fatalf("robust_list_head layout: size %d offsets %d %d %d", RobustListHeadSize, HeadListOff, HeadOffsetOff, HeadPendingOff)
	}
}

func TestRobustListRoundTrip(t *testing.T) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	if _, _, err := GetRobustList(0); err != nil {
		t.Fatal(err)
	}
	head := new(RobustListHead)
	head.List.Next = uintptr(unsafe.Pointer(&head.List))
	if err := SetRobustList(unsafe.Pointer(head), RobustListHeadSize); err != nil {
		t.Fatal(err)
	}
	got, n, err := GetRobustList(0)
	if err != nil || got != uintptr(unsafe.Pointer(head)) || n != RobustListHeadSize {
		t.Errorf("GetRobustList = %#x, %d, %v", got, n, err)
	}
	// Go threads start without a robust list: leave this one without.
	if err := SetRobustList(nil, RobustListHeadSize); err != nil {
		t.Error(err)
	}
	runtime.KeepAlive(head)
	if err := SetRobustList(nil, 1); err != unix.EINVAL {
		t.Errorf("bad length: %v, want EINVAL", err)
	}
}

func TestFutexWakeNobody(t *testing.T) {
	var w uint32
	n, err := Futex(&w, FUTEX_WAKE|FUTEX_PRIVATE_FLAG, 1, nil, nil, 0)
	if err != nil || n != 0 {
		t.Fatalf("wake = %d, %v", n, err)
	}
	ts := unix.NsecToTimespec(1e6)
	if _, err := Futex(&w, FUTEX_WAIT|FUTEX_PRIVATE_FLAG, 0, &ts, nil, 0); err != unix.ETIMEDOUT {
		t.Fatalf("wait = %v, want ETIMEDOUT", err)
	}
	if _, err := Futex(&w, FUTEX_WAIT|FUTEX_PRIVATE_FLAG, 1, &ts, nil, 0); err != unix.EAGAIN {
		t.Fatalf("wait on changed value = %v, want EAGAIN", err)
	}
}
