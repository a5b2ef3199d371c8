package kmsg

import (
	"os"
	"testing"
)

func TestParse(t *testing.T) {
	r, err := Parse([]byte("6,339,5140900,-;NET: Registered protocol family 10\n SUBSYSTEM=net\n"))
	if err != nil {
		t.Fatal(err)
	}
	if r.Prio != 6 || r.Seq != 339 || r.Usec != 5140900 || r.Msg != "NET: Registered protocol family 10" {
		t.Fatalf("%+v", r)
	}
	if got, want := r.String(), "[    5.140900] NET: Registered protocol family 10"; got != want {
		t.Errorf("String = %q, want %q", got, want)
	}
	if _, err := Parse([]byte("6,339,5140900,c,extra;x;y")); err != nil {
		t.Error(err)
	}
	for _, bad := range []string{"", "garbage", "a,b,c;x", "1,2;x", "1,x,3;m"} {
		if _, err := Parse([]byte(bad)); err == nil {
			t.Errorf("Parse(%q) succeeded", bad)
		}
	}
}

func TestDumpHost(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("reading /dev/kmsg needs root here")
	}
	n, err := Dump("/dev/kmsg", 3, func(r Record) {})
	if err != nil && n != 3 {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no records")
	}
}
