package config

import (
	"strings"
	"testing"
)

func TestMinKills(t *testing.T) {
	c, err := Parse("quiet rig.min-kills=3000 rig.duration=60s")
	if err != nil || c.MinKills != 3000 {
		t.Fatalf("Parse: %+v, %v", c, err)
	}
	if c, _ := Parse("quiet"); c.MinKills != 0 {
		t.Errorf("default MinKills = %d, want 0", c.MinKills)
	}
	for _, bad := range []string{"rig.min-kills=-1", "rig.min-kills=many", "rig.min-kills="} {
		if _, err := Parse(bad); err == nil || !strings.Contains(err.Error(), "rig.min-kills") {
			t.Errorf("Parse(%q) = %v, want an error naming the key", bad, err)
		}
	}
}
