package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestSoakAlternatingSeries runs RIG_SOAK (e.g. 50) single-file series one
// after the other on one build slot, cycling through kernel/futex/pi.c,
// core.c, waitwake.c and requeue.c. Every series adds a boot-time marker
// with its own number to its file, and every other core.c series also
// carries the robust-kill-in-unlock break, so each kernel has a behaviour
// the host sees: the marker of this series (and of no other) in dmesg, and
// the verdict the break implies. A stale object or a wrong image shows as a
// missing or foreign marker or a wrong verdict. It is not part of CI (about
// 15 s a series); RIG_SOAK_LOG names a file for the per-run table.
func TestSoakAlternatingSeries(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("RIG_SOAK"))
	if n <= 0 {
		t.Skip("set RIG_SOAK=N to run N alternating series")
	}
	_, results := e2e(t)
	tree := defaultTree(t)
	series := t.TempDir()
	files := []string{"kernel/futex/pi.c", "kernel/futex/core.c", "kernel/futex/waitwake.c", "kernel/futex/requeue.c"}
	base := map[string]string{}
	for _, f := range files {
		base[f] = baseFile(t, tree, f)
	}
	markRe := regexp.MustCompile(`rig-soak: mark (\d+) in (\S+)`)
	var table strings.Builder
	fmt.Fprintf(&table, "| # | file | break | exit | cause | build | checked | stale | marker | ok |\n|---|---|---|---|---|---|---|---|---|---|\n")
	bad := 0
	for i := 0; i < n; i++ {
		f := files[i%len(files)]
		content := base[f]
		broken := f == "kernel/futex/core.c" && (i/len(files))%2 == 0
		if broken {
			content = breakKillInUnlock(t, content)
		}
		content += fmt.Sprintf("\nstatic int __init rig_soak_mark(void)\n{\n\tpr_info(\"rig-soak: mark %d in %s\\n\");\n\treturn 0;\n}\nlate_initcall(rig_soak_mark);\n", i, f)
		s := writeSeries(t, tree, series, fmt.Sprintf("futex: soak %d %s", i, filepath.Base(f)), map[string]string{f: content})
		start := time.Now()
		code, r, dir, _ := rig(t, "run", "--arch", "x86_64", "--tests", "robust-kill-in-unlock", "--results", results, "--series", s)
		c := cellOf(t, r)
		dmesg, _ := os.ReadFile(filepath.Join(dir, c.ID, "dmesg.txt"))
		var marks []string
		for _, m := range markRe.FindAllStringSubmatch(string(dmesg), -1) {
			marks = append(marks, m[1])
		}
		wantCode := ExitPass
		if broken {
			wantCode = ExitFail
		}
		ok := code == wantCode && len(marks) == 1 && marks[0] == strconv.Itoa(i)
		if broken && !strings.Contains(c.Cause, "robust-kill-in-unlock") {
			ok = false
		}
		build, checked, stale := "", 0, 0
		for _, st := range c.Stages {
			if st.Name == "build" {
				build = fmt.Sprintf("%.1fs", st.Elapsed.Seconds())
				if st.Cached {
					build += " cached"
				}
			}
		}
		if c.ObjectCheck != nil {
			checked, stale = len(c.ObjectCheck.Checked), len(c.ObjectCheck.Stale)
		}
		if !ok {
			bad++
			t.Errorf("series %d (%s, break %v): exit %d (want %d), cause %q, markers %v", i, f, broken, code, wantCode, c.Cause, marks)
		}
		fmt.Fprintf(&table, "| %d | %s | %v | %d | %s | %s | %d | %d | %s | %v |\n", i, filepath.Base(f), broken, code, c.Cause, build, checked, stale, strings.Join(marks, ","), ok)
		t.Logf("series %d done in %s", i, time.Since(start).Round(100*time.Millisecond))
	}
	fmt.Fprintf(&table, "\n%d of %d runs as expected\n", n-bad, n)
	t.Log("\n" + table.String())
	if p := os.Getenv("RIG_SOAK_LOG"); p != "" {
		os.WriteFile(p, []byte(table.String()), 0o644)
	}
}
