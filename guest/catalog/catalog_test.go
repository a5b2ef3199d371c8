package catalog

import (
	"slices"
	"testing"
	"time"
)

func TestCatalogSortedAndUnique(t *testing.T) {
	n := Names()
	if !slices.IsSorted(n) || len(slices.Compact(slices.Clone(n))) != len(n) {
		t.Errorf("names not sorted and unique: %v", n)
	}
	for _, x := range All() {
		if x.Doc == "" {
			t.Errorf("%s has no doc", x.Name)
		}
	}
}

func TestTimeout(t *testing.T) {
	for _, tc := range []struct {
		t    Test
		want time.Duration
	}{
		{Test{MaxTime: 5 * time.Minute, Natural: true}, 5 * time.Minute},
		{Test{Natural: true}, 70 * time.Second},
		{Test{}, 60 * time.Second},
	} {
		if got := tc.t.Timeout(10 * time.Second); got != tc.want {
			t.Errorf("%+v.Timeout(10s) = %v, want %v", tc.t, got, tc.want)
		}
	}
	if _, ok := Lookup("pi-giveup"); !ok {
		t.Error("Lookup(pi-giveup) found nothing")
	}
	if _, ok := Lookup("nope"); ok {
		t.Error("Lookup(nope) found something")
	}
}
