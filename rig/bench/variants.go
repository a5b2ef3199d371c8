package bench

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/internal/lines"
	"github.com/rig-kernel/rig/rig/run"
)

// NamedVariant is one boot variant of a comparison, named by its spec.
type NamedVariant struct {
	Name    string
	Variant Variant
	Kernel  string // "" for the image's own kernel
	Initrd  string // "" for the image's own initramfs
}

// ParseVariants parses a comparison spec: variants separated by ';', each
// "key=value|key=value..." with keys m (machine), cpu, accel, cmdline (the
// whole kernel command line), append (kernel arguments added), args (QEMU
// arguments, space-separated), kernel (another kernel image), initrd
// (another initramfs) and end=kill (kill QEMU once the guest's done event
// arrived, for a guest that cannot power off) and events=virtio (the
// events port on a virtio console, for machines with one UART). An empty variant is the raw
// command unchanged.
func ParseVariants(spec string) ([]NamedVariant, error) {
	var vs []NamedVariant
	for _, one := range strings.Split(spec, ";") {
		nv := NamedVariant{Name: one}
		if nv.Name == "" {
			nv.Name = "(unchanged)"
		}
		for _, kv := range strings.Split(one, "|") {
			if kv == "" {
				continue
			}
			k, val, ok := strings.Cut(kv, "=")
			if !ok {
				return nil, fmt.Errorf("variant %q: %q is not key=value", one, kv)
			}
			switch k {
			case "m":
				nv.Variant.Machine = val
			case "cpu":
				nv.Variant.CPU = val
			case "accel":
				nv.Variant.Accel = val
			case "cmdline":
				nv.Variant.Cmdline = val
			case "append":
				nv.Variant.Append = val
			case "args":
				nv.Variant.Args = strings.Fields(val)
			case "kernel":
				nv.Kernel = val
			case "initrd":
				nv.Initrd = val
			case "events":
				if val != "virtio" {
					return nil, fmt.Errorf("variant %q: events=%q: want events=virtio", one, val)
				}
				nv.Variant.VirtioEvents = true
			case "end":
				if val != "kill" {
					return nil, fmt.Errorf("variant %q: end=%q: want end=kill", one, val)
				}
				nv.Variant.KillAfterDone = true
			default:
				return nil, fmt.Errorf("variant %q: unknown key %q (want m, cpu, accel, cmdline, append, args, kernel, initrd, end or events)", one, k)
			}
		}
		vs = append(vs, nv)
	}
	return vs, nil
}

// VariantResult is one variant's boots.
type VariantResult struct {
	Name       string
	First, CPU Sample
	Errors     []string
	// Ratios are this variant's first-event times over the first
	// variant's, one per round in which both booted.
	Ratios []float64
}

// CompareVariants boots each variant of base n times, interleaved (so that
// the machine's load drifts over all alike), and measures the time to the
// first event and QEMU's CPU time by then (steadier than wall time on a
// loaded host). The first boot of variant j keeps its console in
// consoleDir/variant-j.log when consoleDir is set.
func CompareVariants(ctx context.Context, base Image, vs []NamedVariant, n int, consoleDir string, progress func(string)) []VariantResult {
	res := make([]VariantResult, len(vs))
	for j, v := range vs {
		res[j].Name = v.Name
	}
	for i := 0; i < n && ctx.Err() == nil; i++ {
		var first time.Duration // variant 0's in this round
		for j, v := range vs {
			img := base
			if v.Kernel != "" {
				img.Kernel = v.Kernel
			}
			if v.Initrd != "" {
				img.Initramfs = v.Initrd
			}
			con := ""
			if consoleDir != "" && i == 0 {
				con = consoleDir + "/variant-" + strconv.Itoa(j) + ".log"
			}
			t, err := RawBoot(ctx, img, v.Variant, con)
			if err != nil {
				res[j].Errors = append(res[j].Errors, err.Error())
				continue
			}
			if j == 0 {
				first = t.First
			} else if first > 0 {
				res[j].Ratios = append(res[j].Ratios, float64(t.First)/float64(first))
			}
			res[j].First.Runs = append(res[j].First.Runs, t.First)
			res[j].CPU.Runs = append(res[j].CPU.Runs, t.CPU)
			if progress != nil {
				progress(fmt.Sprintf("variant %d/%d, boot %d/%d: first event %s, cpu %s", j+1, len(vs), i+1, n, ms(t.First), ms(t.CPU)))
			}
		}
	}
	return res
}

// PrintVariants writes one line per variant: medians and minimum, with the
// median of its ratios to the first variant's in the same round and their
// spread.
func PrintVariants(w io.Writer, rs []VariantResult) {
	var base time.Duration
	for j, r := range rs {
		med := r.First.Median()
		if j == 0 {
			base = med
		}
		ratio := "-"
		switch {
		case j == 0:
			ratio = "1"
		case len(r.Ratios) > 0:
			m, s, kind := spreadOf(r.Ratios)
			ratio = fmt.Sprintf("%.2f, %s %.2f-%.2f", m, kind, s[0], s[1])
		case base > 0 && med > 0:
			ratio = fmt.Sprintf("%.2f", float64(med)/float64(base))
		}
		fmt.Fprintf(w, "%-50s first event median %s min %s (x%s of the first), cpu median %s, %d boots, %d failed\n",
			r.Name, ms(med), ms(r.First.Min()), ratio, ms(r.CPU.Median()), len(r.First.Runs), len(r.Errors))
		for _, e := range r.Errors {
			fmt.Fprintf(w, "    failed: %s\n", lines.First(e))
		}
	}
}

// Variants is `rig bench --variants`: spec's boot variants of the last
// kernel built for each arch, n boots each, interleaved, printed to w.
// A bad spec is a *run.UsageError.
func Variants(ctx context.Context, spec string, arches []string, n int, w io.Writer, progress func(string)) error {
	vs, err := ParseVariants(spec)
	if err != nil {
		return &run.UsageError{Err: fmt.Errorf("--variants: %w", err)}
	}
	dir, err := cache.Dir()
	if err != nil {
		return err
	}
	for _, a := range arches {
		k, i, err := run.Last(dir, a)
		if err != nil {
			return err
		}
		con, err := os.MkdirTemp("", "rig-bench-variants-"+a+"-")
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s (consoles in %s):\n", a, con)
		rs := CompareVariants(ctx, Image{Arch: a, Kernel: k, Initramfs: i}, vs, n, con,
			func(s string) { progress(a + ": " + s) })
		PrintVariants(w, rs)
	}
	return nil
}
