package kconfig_test

import (
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/rig-kernel/rig/rig/kconfig"
)

func TestParse(t *testing.T) {
	data := `# a comment
CONFIG_FUTEX=y

# CONFIG_MODULES is not set
  CONFIG_NR_CPUS=8  
CONFIG_CMDLINE="console=ttyS0 rig.seed=1"
CONFIG_LOCALVERSION=""
CONFIG_FOO=m
`
	got, err := kconfig.Parse([]byte(data), "frag.config")
	if err != nil {
		t.Fatal(err)
	}
	want := []kconfig.Option{
		{Name: "CONFIG_FUTEX", Value: "y", From: "frag.config"},
		{Name: "CONFIG_MODULES", Value: "n", From: "frag.config"},
		{Name: "CONFIG_NR_CPUS", Value: "8", From: "frag.config"},
		{Name: "CONFIG_CMDLINE", Value: `"console=ttyS0 rig.seed=1"`, From: "frag.config"},
		{Name: "CONFIG_LOCALVERSION", Value: `""`, From: "frag.config"},
		{Name: "CONFIG_FOO", Value: "m", From: "frag.config"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Parse =\n%+v\nwant\n%+v", got, want)
	}
}

func TestParseBadLine(t *testing.T) {
	for _, tc := range []struct {
		data string
		line string
	}{
		{"CONFIG_A=y\nFUTEX=y\n", "x.config:2:"},
		{"CONFIG_A=y\n\n# ok\nCONFIG_B y\n", "x.config:4:"},
		{"config_a=y\n", "x.config:1:"},
		{"CONFIG_A=y\nCONFIG_B is not set\n", "x.config:2:"},
	} {
		_, err := kconfig.Parse([]byte(tc.data), "x.config")
		if err == nil {
			t.Errorf("Parse(%q): no error", tc.data)
			continue
		}
		if !strings.HasPrefix(err.Error(), tc.line) {
			t.Errorf("Parse(%q) = %v, want it to start with %q", tc.data, err, tc.line)
		}
	}
}

func TestRequestedLaterWins(t *testing.T) {
	frags := []kconfig.Fragment{
		{Name: "base", Data: []byte("CONFIG_A=y\nCONFIG_B=y\n# CONFIG_C is not set\n")},
		{Name: "debug", Data: []byte("# CONFIG_B is not set\nCONFIG_D=y\nCONFIG_C=y\n")},
	}
	got := kconfig.Requested(frags)
	want := []kconfig.Option{
		{Name: "CONFIG_A", Value: "y", From: "base"},
		{Name: "CONFIG_B", Value: "n", From: "debug"},
		{Name: "CONFIG_C", Value: "y", From: "debug"},
		{Name: "CONFIG_D", Value: "y", From: "debug"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Requested =\n%+v\nwant\n%+v", got, want)
	}
}

func TestCheck(t *testing.T) {
	final := []byte(`CONFIG_A=y
CONFIG_M=m
# CONFIG_OFF is not set
CONFIG_NR_CPUS=8
CONFIG_CMDLINE="console=ttyS0"
CONFIG_EMPTY=""
`)
	for _, tc := range []struct {
		name, req string
		missing   bool
		got       string
	}{
		{"present", "CONFIG_A=y", false, ""},
		{"absent", "CONFIG_GONE=y", true, "n"},
		{"m not y", "CONFIG_M=y", true, "m"},
		{"y not m", "CONFIG_A=m", true, "y"},
		{"n by absence", "# CONFIG_GONE is not set", false, ""},
		{"n by not set", "# CONFIG_OFF is not set", false, ""},
		{"n requested but y", "# CONFIG_A is not set", true, "y"},
		{"number", "CONFIG_NR_CPUS=8", false, ""},
		{"other number", "CONFIG_NR_CPUS=4", true, "8"},
		{"string same", `CONFIG_CMDLINE="console=ttyS0"`, false, ""},
		{"string other", `CONFIG_CMDLINE="console=ttyAMA0"`, true, `"console=ttyS0"`},
		{"empty string", `CONFIG_EMPTY=""`, false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := kconfig.Parse([]byte(tc.req), "frag")
			if err != nil {
				t.Fatal(err)
			}
			miss := kconfig.Check(final, req)
			if !tc.missing {
				if len(miss) != 0 {
					t.Errorf("Check reports %v, want nothing missing", miss)
				}
				return
			}
			if len(miss) != 1 {
				t.Fatalf("Check = %v, want one missing", miss)
			}
			if miss[0].Name != req[0].Name || miss[0].Got != tc.got {
				t.Errorf("missing = %+v, want %s got %q", miss[0], req[0].Name, tc.got)
			}
			if s := miss[0].String(); !strings.Contains(s, req[0].Name) || !strings.Contains(s, "frag") {
				t.Errorf("String() = %q lacks the name or the fragment", s)
			}
		})
	}
}

func TestMissingError(t *testing.T) {
	err := error(&kconfig.MissingError{Missing: []kconfig.Missing{
		{Option: kconfig.Option{Name: "CONFIG_A", Value: "y"}, Got: "n"},
		{Option: kconfig.Option{Name: "CONFIG_B", Value: "y"}, Got: "m"},
	}})
	msg := err.Error()
	for _, s := range []string{"2 ", "CONFIG_A", "CONFIG_B", "--allow-missing-config"} {
		if !strings.Contains(msg, s) {
			t.Errorf("message %q lacks %q", msg, s)
		}
	}
	var me *kconfig.MissingError
	if !errors.As(err, &me) || len(me.Missing) != 2 {
		t.Error("errors.As failed")
	}
}

func TestResolve(t *testing.T) {
	dir := t.TempDir()
	write := func(p, s string) {
		if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(dir, "base.config"), "CONFIG_A=y\n")
	other := filepath.Join(t.TempDir(), "mine.config")
	write(other, "CONFIG_B=y\n")

	frags, err := kconfig.Resolve(dir, []string{"base", other})
	if err != nil {
		t.Fatal(err)
	}
	if len(frags) != 2 {
		t.Fatalf("got %d fragments", len(frags))
	}
	if frags[0].Name != "base" || frags[0].Path != filepath.Join(dir, "base.config") || string(frags[0].Data) != "CONFIG_A=y\n" {
		t.Errorf("by name: %+v", frags[0])
	}
	if frags[1].Name != "mine" || frags[1].Path != other || string(frags[1].Data) != "CONFIG_B=y\n" {
		t.Errorf("by path: %+v", frags[1])
	}

	_, err = kconfig.Resolve(dir, []string{"base", "nosuchfrag"})
	if err == nil || !strings.Contains(err.Error(), `"nosuchfrag"`) || !strings.Contains(err.Error(), dir) {
		t.Errorf("unknown fragment: err = %v, want it to name the fragment and %s", err, dir)
	}
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("unknown fragment: err = %v does not wrap ErrNotExist", err)
	}

	bad := filepath.Join(dir, "bad.config")
	write(bad, "CONFIG_A=y\nnonsense\n")
	_, err = kconfig.Resolve(dir, []string{"bad"})
	if err == nil || !strings.Contains(err.Error(), bad+":2:") {
		t.Errorf("bad fragment: err = %v, want %s:2:", err, bad)
	}
}

// The fragments the repository ships must parse and resolve by name.
func TestRealFragments(t *testing.T) {
	dir := filepath.Join("..", "..", "kconfigs")
	paths, err := filepath.Glob(filepath.Join(dir, "*.config"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fragments in %s: %v", dir, err)
	}
	var names []string
	for _, p := range paths {
		names = append(names, strings.TrimSuffix(filepath.Base(p), ".config"))
	}
	frags, err := kconfig.Resolve(dir, names)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range frags {
		opts, err := kconfig.Parse(f.Data, f.Path)
		if err != nil {
			t.Errorf("%s: %v", f.Path, err)
		}
		if len(opts) == 0 {
			t.Errorf("%s: no options", f.Path)
		}
	}
	req := kconfig.Requested(frags)
	have := map[string]string{}
	for _, o := range req {
		have[o.Name] = o.Value
	}
	for _, n := range []string{"CONFIG_FUTEX", "CONFIG_FUTEX_PI"} {
		if have[n] != "y" {
			t.Errorf("%s = %q in the shipped fragments, want y", n, have[n])
		}
	}
}

// A file that is not a config fragment is named, never quoted (it may be
// /proc/self/environ); a bad line of a real fragment is quoted short and
// sanitized.
func TestParseErrorsQuoteLittle(t *testing.T) {
	secret := "TOKEN=s3cr3t-" + strings.Repeat("x", 100)
	for _, tc := range []struct {
		name, data string
		want       string // in the error
		notWant    string // never in the error
	}{
		{"environ", "SHELL=/bin/bash\x00" + secret + "\x00", "environ:1: not a config fragment", "s3cr3t"},
		{"text", secret + "\nother\n", "text:1: not a config fragment", "s3cr3t"},
		{"long bad line", "CONFIG_A=y\n" + secret + "\n", `:2: not a config line: "TOKEN=s3cr3t-xxxxxxxxxxxxxxxxxxxxxxxxxxx..."`, strings.Repeat("x", 41)},
		{"escape", "CONFIG_A=y\nbad\x1b[2Jline\n", `"bad?[2Jline"`, "\x1b"},
		{"directive", "CONFIG_A=y\n# rig: memory=" + secret + "\n", "memory=", "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"},
	} {
		_, err := kconfig.Parse([]byte(tc.data), tc.name)
		if err == nil {
			_, err = kconfig.ParseNeeds([]byte(tc.data), tc.name)
		}
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), tc.notWant) {
			t.Errorf("%s: error %v: want %q in it and not %q", tc.name, err, tc.want, tc.notWant)
		}
	}
	if _, err := kconfig.Resolve(t.TempDir(), []string{"/dev/null"}); err == nil || !strings.Contains(err.Error(), "not a regular file") {
		t.Errorf("/dev/null as a fragment: %v", err)
	}
}
