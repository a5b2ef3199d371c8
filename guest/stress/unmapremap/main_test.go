package unmapremap

import (
	"os"
	"testing"

	"github.com/rig-kernel/rig/guest/stress/child"
)

func TestMain(m *testing.M) {
	child.Main(Test.Helpers) // this binary is also the child helper (/proc/self/exe)
	os.Exit(m.Run())
}
