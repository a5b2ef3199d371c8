package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
)

// fakeSlot makes a build slot in the cache at dir, borrowing from the
// cache's Debian repository and last used at used.
func fakeSlot(t *testing.T, dir, name string, used time.Time) {
	t.Helper()
	slot := filepath.Join(dir, "slots", name)
	write(t, filepath.Join(slot, "src/.git/objects/info/alternates"), filepath.Join(dir, "src/debian-1.0.git/objects")+"\n")
	write(t, filepath.Join(slot, "out/vmlinux"), strings.Repeat("x", 300000))
	write(t, filepath.Join(dir, "slots", name+".lock"), "")
	stamp := write(t, filepath.Join(slot, cache.LastUsedFile), "")
	if err := os.Chtimes(stamp, used, used); err != nil {
		t.Fatal(err)
	}
}

func runCache(args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	code := Execute(context.Background(), append([]string{"cache"}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func TestCacheListAndPrune(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("RIG_CACHE", dir)
	write(t, filepath.Join(dir, "src/debian-1.0.git/objects/pack/p.pack"), "pack")
	write(t, filepath.Join(cache.Kernels.Path(dir, "x86_64", cache.Key("k")), "bzImage"), "image")
	const old, recent, busy = "x86_64-0000000000000001", "arm64-0000000000000002", "x86_64-0000000000000003"
	fakeSlot(t, dir, old, time.Now().Add(-20*24*time.Hour))
	fakeSlot(t, dir, recent, time.Now().Add(-3*time.Hour))
	fakeSlot(t, dir, busy, time.Now().Add(-40*24*time.Hour))
	lock, err := cache.Acquire(context.Background(), filepath.Join(dir, "slots", busy+".lock"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()

	code, out, errOut := runCache()
	if code != ExitPass {
		t.Fatalf("rig cache: exit %d\n%s", code, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^build slots: 3, \d+\.\d KiB$`),
		regexp.MustCompile(`(?m)^  ` + recent + ` +\d+\.\d KiB +used 3h ago$`),
		regexp.MustCompile(`(?m)^  ` + old + ` +\d+\.\d KiB +used 20d ago$`),
		regexp.MustCompile(`(?m)^  ` + busy + ` +\d+\.\d KiB +used 40d ago +in use$`),
		regexp.MustCompile(`(?m)^other: 2, .*\n  src/debian-1.0.git .*\n  kernels `),
		regexp.MustCompile("`rig cache prune`"),
	} {
		if !want.MatchString(out) {
			t.Errorf("rig cache output does not match %s:\n%s", want, out)
		}
	}
	if strings.Index(out, recent) > strings.Index(out, old) {
		t.Errorf("slots not listed most recently used first:\n%s", out)
	}

	code, out, errOut = runCache("prune", "--dry-run")
	if code != ExitPass || !regexp.MustCompile(`(?m)^would remove +slots/`+old+` .* not used since `).MatchString(out) ||
		!regexp.MustCompile(`(?m)^skipped +slots/`+busy+` .* in use$`).MatchString(out) || !strings.Contains(out, "would free ") {
		t.Errorf("rig cache prune --dry-run: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "slots", old)); err != nil {
		t.Errorf("dry run removed %s: %v", old, err)
	}

	code, out, errOut = runCache("prune", "--older-than", "24h")
	if code != ExitPass || !regexp.MustCompile(`(?m)^removed +slots/`+old+` `).MatchString(out) || strings.Contains(out, recent) {
		t.Errorf("rig cache prune: exit %d\n%s%s", code, out, errOut)
	}
	for name, want := range map[string]bool{old: false, recent: true, busy: true} {
		if _, err := os.Stat(filepath.Join(dir, "slots", name)); (err == nil) != want {
			t.Errorf("after prune, slot %s exists: %v, want %v", name, err == nil, want)
		}
	}

	code, out, _ = runCache("prune", "--older-than", "24h")
	if code != ExitPass || !strings.Contains(out, "nothing to remove") {
		t.Errorf("second prune: exit %d\n%s", code, out)
	}
}

func TestCacheUsageErrors(t *testing.T) {
	t.Setenv("RIG_CACHE", t.TempDir())
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"prune", "--older-than", "soon"}, `invalid value "soon" for flag -older-than`},
		{[]string{"prune", "--older-than", "-1h"}, "--older-than -1h0m0s: must not be negative"},
		{[]string{"prune", "--frobnicate"}, "flag provided but not defined: -frobnicate"},
		{[]string{"prune", "stray"}, `unexpected argument "stray"`},
	} {
		code, _, errOut := runCache(tc.args...)
		if code != ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("rig cache %q: exit %d, want %d; stderr %q should contain %q", tc.args, code, ExitUsage, errOut, tc.want)
		}
	}
	if code, out, _ := runCache("help"); code != ExitPass || !strings.Contains(out, "usage: rig cache") {
		t.Errorf("rig cache help: exit %d\n%s", code, out)
	}
}

func TestHumanBytesAndAge(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 1536: "1.5 KiB",
		1 << 20: "1.0 MiB", 1395864371: "1.3 GiB", 3 << 40: "3.0 TiB"} {
		if got := humanBytes(n); got != want {
			t.Errorf("humanBytes(%d) = %q, want %q", n, got, want)
		}
	}
	for d, want := range map[time.Duration]string{-time.Second: "just now", 30 * time.Second: "just now",
		5 * time.Minute: "5m ago", 3 * time.Hour: "3h ago", 47 * time.Hour: "47h ago", 15 * 24 * time.Hour: "15d ago"} {
		if got := age(d); got != want {
			t.Errorf("age(%s) = %q, want %q", d, got, want)
		}
	}
}
