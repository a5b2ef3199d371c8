package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/history"
	"github.com/rig-kernel/rig/rig/internal/atomicfile"
	"github.com/rig-kernel/rig/rig/report"
	"github.com/rig-kernel/rig/rig/result"
)

// reportHistoryCommand is `rig report history [-o OUT] [--flaky N/M]
// RUN...`: the nights' history as OUT/history.json and OUT/history.html.
func reportHistoryCommand(e *env) *ffcli.Command {
	var (
		fs    *flag.FlagSet
		out   string
		flaky string
	)
	return leaf{
		name:     "history",
		synopsis: "[-o OUT] [--flaky N/M] RUN...",
		short:    "per (cell, test) across nights: first failing, last passing, streak, flips, flaky; OUT/history.json and OUT/history.html",
		flags: func(f *flag.FlagSet) {
			fs = f
			fs.StringVar(&out, "o", ".", "output directory for history.json and history.html (created if missing); the page links each night's report.html relative to it")
			fs.StringVar(&flaky, "flaky", history.DefaultRule.String(), "N/M: a (cell, test) that flipped between pass and fail at least N times in its last M runs is flaky")
		},
		run: func(_ context.Context, args []string) int {
			pos, err := parseInterspersed(fs, args)
			if err != nil {
				return ExitUsage
			}
			rule, err := history.ParseRule(flaky)
			if err != nil {
				return reportBadArgs(e, fs, "history", fmt.Errorf("--flaky: %w", err))
			}
			if len(pos) == 0 {
				return reportBadArgs(e, fs, "history", errors.New("want at least one RUN: a run directory or a directory of them"))
			}
			runs, err := history.Load(pos)
			if err != nil {
				fmt.Fprintf(e.stderr, "rig report history: %v\n", result.Clean(err.Error(), 2000))
				return ExitUsage
			}
			if err := os.MkdirAll(out, 0o755); err != nil {
				fmt.Fprintf(e.stderr, "rig report history: %v\n", err)
				return ExitInfra
			}
			for i := range runs {
				runs[i].Dir = relTo(out, runs[i].Dir)
			}
			h := history.Build(runs, rule)
			if err := history.Write(out, h); err != nil {
				fmt.Fprintf(e.stderr, "rig report history: %v\n", err)
				return ExitInfra
			}
			if err := report.WriteHistoryHTML(out, h); err != nil {
				fmt.Fprintf(e.stderr, "rig report history: %v\n", err)
				return ExitInfra
			}
			flakyRows := 0
			for _, r := range h.Rows {
				if r.Flaky {
					flakyRows++
				}
			}
			fmt.Fprintf(e.stdout, "%d nights, %d rows, %d flaky (%s)\n%s\n%s\n", len(h.Nights), len(h.Rows), flakyRows, rule,
				filepath.Join(out, history.File), filepath.Join(out, report.HistoryFile))
			return ExitPass
		},
	}.command(e, "report")
}

// relTo is dir relative to out (as the page links it), else dir absolute.
func relTo(out, dir string) string {
	ao, err1 := filepath.Abs(out)
	ad, err2 := filepath.Abs(dir)
	if err1 != nil || err2 != nil {
		return dir
	}
	if r, err := filepath.Rel(ao, ad); err == nil {
		return r
	}
	return ad
}

// registerHistory is `--history FILE` of rig matrix and rig report merge.
func registerHistory(fs *flag.FlagSet, file *string) {
	fs.StringVar(file, "history", "", "a history.json from an earlier night (rig report history): the (cell, test)s it labels flaky are labelled so in summary.md, with their flips")
}

// loadHistory reads --history FILE before the work starts, so that a bad
// file is a usage error and not a lost night; nil when none was given.
func loadHistory(e *env, cmd, file string) (*history.History, bool) {
	if file == "" {
		return nil, true
	}
	h, err := history.Read(file)
	if err != nil {
		fmt.Fprintf(e.stderr, "rig %s: --history: %v\n", cmd, result.Clean(err.Error(), 2000))
		return nil, false
	}
	return h, true
}

// labelFlaky appends the flaky section to dir/summary.md.
func labelFlaky(dir, file string, h *history.History, r *result.Run) error {
	if h == nil || r == nil {
		return nil
	}
	sec := report.FlakyMarkdown(file, history.FlakyNotes(h, r))
	if sec == "" {
		return nil
	}
	name := filepath.Join(dir, "summary.md")
	b, err := os.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return atomicfile.WriteFile(name, append(b, sec...), 0o644)
}
