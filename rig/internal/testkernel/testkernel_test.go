package testkernel

import (
	"os"
	"path/filepath"
	"testing"
)

func TestVersionLess(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{"", "6.12.1", true},
		{"6.12.9", "6.12.10", true},
		{"6.12.10", "6.12.9", false},
		{"6.12.117", "6.12.117", false},
		{"6.12", "6.12.1", true},
	} {
		if got := versionLess(c.a, c.b); got != c.want {
			t.Errorf("versionLess(%q, %q) = %v, want %v", c.a, c.b, got, c.want)
		}
	}
}

func TestCachedPicksNewest(t *testing.T) {
	dir := t.TempDir()
	if _, ok := cached(dir); ok {
		t.Fatal("empty dir has a kernel")
	}
	for _, v := range []string{"6.12.41", "6.12.117", "6.12.57"} {
		p := filepath.Join(dir, v, "boot", "vmlinuz-"+v+"+deb12-amd64")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("k"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// An interrupted fetch leaves only a dot directory, never a kernel.
	if err := os.MkdirAll(filepath.Join(dir, ".fetch-1", "unpacked", "boot"), 0o755); err != nil {
		t.Fatal(err)
	}
	k, ok := cached(dir)
	if !ok || filepath.Base(k) != "vmlinuz-6.12.117+deb12-amd64" {
		t.Errorf("cached = %q, %v", k, ok)
	}
}
