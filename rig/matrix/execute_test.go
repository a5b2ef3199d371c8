package matrix

import "testing"

func TestMakeJobs(t *testing.T) {
	for _, tc := range []struct{ cpus, jobs, groups, want int }{
		{8, 4, 10, 2}, // four builds at once share eight CPUs
		{8, 3, 10, 3}, // rounded up
		{8, 4, 1, 8},  // one kernel group: one build at a time gets them all
		{8, 4, 0, 8},  // no cells
		{2, 8, 8, 1},
	} {
		if got := MakeJobs(tc.cpus, tc.jobs, tc.groups); got != tc.want {
			t.Errorf("MakeJobs(%d, %d, %d) = %d, want %d", tc.cpus, tc.jobs, tc.groups, got, tc.want)
		}
	}
}

func TestDescribe(t *testing.T) {
	trees, series := describe([]Spec{
		{Tree: "", Series: "a"},
		{Tree: "/src/linux", Series: ""},
		{Tree: "", Series: "a"},
		{Tree: "/src/linux", Series: "b"},
	})
	if want := "debian:linux-source-6.12, /src/linux"; trees != want {
		t.Errorf("trees %q, want %q", trees, want)
	}
	if want := "a, b"; series != want {
		t.Errorf("series %q, want %q", series, want)
	}
}
