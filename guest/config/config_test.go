package config

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	c, err := Parse("console=ttyS0 quiet rig.tests=robust-owner-death,robust-unmap-remap rig.seed=42 rig.duration=3s rig.events=/dev/hvc1 rig.watchdog=90 rig.probe=0 rig.shell\n")
	if err != nil {
		t.Fatal(err)
	}
	want := Config{
		Tests: []string{"robust-owner-death", "robust-unmap-remap"}, TestsSet: true,
		Seed: 42, SeedSet: true, Duration: 3 * time.Second, Events: "/dev/hvc1",
		Watchdog: 90 * time.Second, Shell: true,
	}
	if !reflect.DeepEqual(c, want) {
		t.Fatalf("got %+v\nwant %+v", c, want)
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("console=ttyS0 root=/dev/ram0")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(c, Default()) || c.Events != "/dev/ttyS1" || c.Duration != 10*time.Second {
		t.Fatalf("defaults: %+v", c)
	}
	if got := c.WatchdogFor(2); got != 80*time.Second {
		t.Errorf("WatchdogFor(2) = %v", got)
	}
	c.Watchdog = 5 * time.Second
	if got := c.WatchdogFor(2); got != 5*time.Second {
		t.Errorf("explicit watchdog = %v", got)
	}
}

func TestBadValues(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"rig.seed=abc", "rig.seed"},
		{"rig.seed=", "rig.seed"},
		{"rig.duration=forever", "rig.duration"},
		{"rig.duration=-1s", "must be positive"},
		{"rig.duration=0", "must be positive"},
		{"rig.watchdog=", "rig.watchdog"},
		{"rig.events=", "empty path"},
		{"rig.probe=maybe", "rig.probe"},
		{"rig.bogus=1", "unknown option rig.bogus"},
	} {
		_, err := Parse("console=ttyS0 " + c.in)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Parse(%q) = %v, want error containing %q", c.in, err, c.want)
		}
	}
}

func TestEmptyTests(t *testing.T) {
	c, err := Parse("rig.tests= rig.seed=0x10")
	if err != nil {
		t.Fatal(err)
	}
	if !c.TestsSet || len(c.Tests) != 0 || c.Seed != 16 {
		t.Fatalf("%+v", c)
	}
}

func FuzzParse(f *testing.F) {
	f.Add("rig.tests=a,b rig.seed=1 rig.duration=1s")
	f.Fuzz(func(t *testing.T, s string) { Parse(s) })
}
