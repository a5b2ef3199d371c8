package run

import (
	"path/filepath"
	"testing"
)

// Results go to results/ of the rig checkout the command runs in, else to
// the state directory: never into the working directory elsewhere (a
// kernel tree, say).
func TestDefaultResults(t *testing.T) {
	checkout, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	home, state := t.TempDir(), t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("RIG_ROOT", "")
	for _, tc := range []struct {
		name, wd, xdg, rigRoot, want string
	}{
		{"in the checkout", filepath.Join(checkout, "rig", "run"), state, "", filepath.Join(checkout, "results")},
		{"elsewhere", fakeKernelTree(t), state, "", filepath.Join(state, "rig", "results")},
		{"no XDG_STATE_HOME", t.TempDir(), "", "", filepath.Join(home, ".local", "state", "rig", "results")},
		{"relative XDG_STATE_HOME", t.TempDir(), "state", "", filepath.Join(home, ".local", "state", "rig", "results")},
		{"RIG_ROOT", t.TempDir(), state, checkout, filepath.Join(checkout, "results")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Chdir(tc.wd)
			t.Setenv("XDG_STATE_HOME", tc.xdg)
			t.Setenv("RIG_ROOT", tc.rigRoot)
			if got, err := DefaultResults(); err != nil || got != tc.want {
				t.Errorf("DefaultResults() from %s = %q, %v; want %s", tc.wd, got, err, tc.want)
			}
		})
	}
}
