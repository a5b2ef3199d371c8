package bench

import (
	"context"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestVariants is a tool, not a check: it boots variants of the raw QEMU
// command, interleaved, and logs the median and minimum time to the first
// event and QEMU's CPU time by then (steadier than wall time on a loaded
// host). It runs only when RIG_BENCH_VARIANTS is set, e.g.
//
//	RIG_BENCH_VARIANTS='m=pc;append=no_timer_check' RIG_ARCH=x86_64 RIG_N=6 \
//	  go test ./rig/bench -run TestVariants -v
//
// Variants are separated by ';', each "key=value|key=value..." with keys m
// (machine), cpu, accel, cmdline (the whole kernel command line), append
// (kernel arguments added), args (QEMU arguments), kernel. The first run of variant j keeps its console in
// /tmp/bench-variant-j.log.
func TestVariants(t *testing.T) {
	spec := os.Getenv("RIG_BENCH_VARIANTS")
	if spec == "" {
		t.Skip()
	}
	base := lastImage(t, os.Getenv("RIG_ARCH"))
	type vv struct {
		name string
		img  Image
		v    Variant
		s    Sample
		cpu  Sample
	}
	var vs []*vv
	for _, one := range strings.Split(spec, ";") {
		x := &vv{name: one, img: base}
		for _, kv := range strings.Split(one, "|") {
			k, val, _ := strings.Cut(kv, "=")
			switch k {
			case "m":
				x.v.Machine = val
			case "cpu":
				x.v.CPU = val
			case "accel":
				x.v.Accel = val
			case "cmdline":
				x.v.Cmdline = val
			case "append":
				x.v.Append = val
			case "args":
				x.v.Args = strings.Fields(val)
			case "kernel":
				x.img.Kernel = val
			}
		}
		vs = append(vs, x)
	}
	n, _ := strconv.Atoi(os.Getenv("RIG_N"))
	if n == 0 {
		n = 3
	}
	for i := 0; i < n; i++ {
		for j, x := range vs {
			con := "/tmp/bench-variant-" + strconv.Itoa(j) + ".log"
			if i > 0 {
				con = "/tmp/bench-variant-cur.log"
			}
			first, wall, err := RawBoot(context.Background(), x.img, x.v, con)
			if err != nil {
				b, _ := os.ReadFile(con)
				t.Logf("%s: %v\n%s", x.name, err, lastLines(string(b), 8))
				os.WriteFile("/tmp/bench-variant-fail-"+strconv.Itoa(i)+strconv.Itoa(j)+".log", b, 0o644)
				continue
			}
			x.s.Runs = append(x.s.Runs, first)
			x.cpu.Runs = append(x.cpu.Runs, lastCPU)
			_ = wall
		}
	}
	for _, x := range vs {
		t.Logf("%-60s median %v min %v cpu %v n=%d", x.name, x.s.Median().Round(time.Millisecond), x.s.Min().Round(time.Millisecond), x.cpu.Median(), len(x.s.Runs))
	}
}
