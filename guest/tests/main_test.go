package tests

import (
	"os"
	"testing"

	"github.com/rig-kernel/rig/guest/catalog"
)

func TestMain(m *testing.M) {
	ChildMain() // this binary is also the child helper (/proc/self/exe)
	os.Exit(m.Run())
}

// Every catalog entry has its code here, and nothing is registered that
// the catalog does not name (the runner's own test entries live in
// guest/runner's tests).
func TestCatalogBound(t *testing.T) {
	for _, c := range catalog.All() {
		if tt, ok := Lookup(c.Name); !ok || tt.Run == nil || tt.Test != c {
			t.Errorf("catalog test %s: registered %v, entry %+v", c.Name, ok, tt.Test)
		}
	}
	for _, n := range Names() {
		if _, ok := catalog.Lookup(n); !ok {
			t.Errorf("test %s is registered but not in guest/catalog", n)
		}
	}
}
