package tests

import (
	"os"
	"testing"
)

func TestMain(m *testing.M) {
	ChildMain() // this binary is also the child helper (/proc/self/exe)
	os.Exit(m.Run())
}
