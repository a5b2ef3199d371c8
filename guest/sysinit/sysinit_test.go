package sysinit

import "testing"

func TestMountTable(t *testing.T) {
	idx := map[string]int{}
	for i, m := range mounts {
		idx[m.dst] = i
	}
	for _, d := range []string{"/proc", "/sys", "/dev", "/tmp", "/dev/shm"} {
		if _, ok := idx[d]; !ok {
			t.Errorf("%s not mounted", d)
		}
	}
	if idx["/dev/shm"] < idx["/dev"] {
		t.Errorf("/dev/shm mounted before /dev")
	}
}
