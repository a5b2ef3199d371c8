package bench

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rig-kernel/rig/rig/run"
	"github.com/rig-kernel/rig/rig/source"
)

// NewPatch writes a one-patch series that no cache has seen: a comment with
// a time stamp added to the top of TouchFile, so the whole run does what a
// new patch costs (apply, config, incremental build), not a cached kernel.
func NewPatch(ctx context.Context, cacheDir, dir string) (string, error) {
	tree, err := source.Default(ctx, cacheDir, nil)
	if err != nil {
		return "", err
	}
	text, err := tree.ReadFile(ctx, TouchFile)
	if err != nil {
		return "", err
	}
	var head []string
	sc := bufio.NewScanner(bytes.NewReader(text))
	for len(head) < 3 && sc.Scan() {
		head = append(head, sc.Text())
	}
	if len(head) < 3 {
		return "", fmt.Errorf("%s: too short", TouchFile)
	}
	stamp := time.Now().UTC().Format("20060102T150405.000000000")
	var b strings.Builder
	fmt.Fprintf(&b, "From 0000000000000000000000000000000000000000 Mon Sep 17 00:00:00 2001\n")
	fmt.Fprintf(&b, "From: rig bench <bench@rig.invalid>\nDate: %s\n", time.Now().UTC().Format(time.RFC1123Z))
	fmt.Fprintf(&b, "Subject: [PATCH] futex: rig bench marker %s\n\n---\n", stamp)
	fmt.Fprintf(&b, "diff --git a/%s b/%s\n--- a/%s\n+++ b/%s\n@@ -1,3 +1,4 @@\n", TouchFile, TouchFile, TouchFile, TouchFile)
	fmt.Fprintf(&b, " %s\n+/* rig bench %s */\n %s\n %s\n-- \n2.39.5\n", head[0], stamp, head[1], head[2])
	p := filepath.Join(dir, "0001-rig-bench-marker.patch")
	return p, os.WriteFile(p, []byte(b.String()), 0o644)
}

// WholeRun times one `rig run` in-process (run.Run) and splits its wall
// time into the cell's stages.
func WholeRun(ctx context.Context, o run.Options) Whole {
	w := Whole{Arch: strings.Join(o.Arches, ","), Series: o.Series, Tests: o.Tests}
	w.Command = fmt.Sprintf("rig run --arch %s --accel %s --series %s --tests %s --duration %s",
		w.Arch, strings.Join(o.Accels, ","), filepath.Base(o.Series), strings.Join(o.Tests, ","), o.Duration)
	t0 := time.Now()
	r, _, err := run.Run(ctx, o)
	w.Wall = time.Since(t0)
	if err != nil {
		w.Error = err.Error()
	}
	if r == nil {
		return w
	}
	w.Status = string(r.Status)
	for _, c := range r.Cells {
		if len(r.Cells) > 1 {
			w.Stages = append(w.Stages, StageShare{Name: "[" + c.ID + "]"})
		}
		for _, s := range c.Stages {
			w.Stages = append(w.Stages, StageShare{Name: s.Name, Elapsed: s.Elapsed, Cached: s.Cached,
				Share: float64(s.Elapsed) / float64(w.Wall)})
		}
		if c.Cause != "" {
			w.Error = strings.TrimSpace(w.Error + " " + c.ID + ": " + c.Cause)
		}
	}
	var sum time.Duration
	for _, s := range w.Stages {
		sum += s.Elapsed
	}
	if rest := w.Wall - sum; rest > 0 {
		w.Stages = append(w.Stages, StageShare{Name: "(outside stages)", Elapsed: rest, Share: float64(rest) / float64(w.Wall)})
	}
	return w
}
