package cli

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/peterbourgon/ff/v3/ffcli"

	"github.com/rig-kernel/rig/rig/cache"
	"github.com/rig-kernel/rig/rig/result"
)

const cacheUsage = `usage: rig cache [prune [--older-than 336h] [--dry-run]]

commands:
  (none)   list the cache: each build slot with its size, when a rig last used it and whether one
           uses it now; obsolete source trees; everything else; totals
  prune    remove build slots unused for --older-than, slots that can never be used again (they
           borrow from an obsolete source tree) and obsolete source trees; whatever a rig holds
           is skipped (see 'rig cache prune -h')

Exit codes: 0 done, 2 usage, 3 the cache could not be read or an entry could not be removed,
130 interrupted.
`

// cacheCommand is `rig cache`: what the cache holds, and pruning it.
func cacheCommand(e *env) *ffcli.Command {
	return group{
		name:  "cache",
		short: "[prune [--older-than 336h] [--dry-run]]: the cache's build slots and sizes; prune removes unused ones",
		usage: func([]*ffcli.Command) string { return cacheUsage },
		subs:  []*ffcli.Command{cachePruneCommand(e)},
		bare:  func(context.Context) int { return cacheList(e.stdout, e.stderr) },
	}.command(e)
}

func cacheList(stdout, stderr io.Writer) int {
	dir, err := cache.Path() // listing creates nothing
	if err != nil {
		fmt.Fprintf(stderr, "rig cache: %v\n", err)
		return ExitInfra
	}
	l, err := cache.List(dir)
	if err != nil {
		fmt.Fprintf(stderr, "rig cache: %v\n", err)
		return ExitInfra
	}
	printListing(stdout, l, time.Now())
	return ExitPass
}

// printListing prints one line per slot and per other entry, grouped by
// kind with each kind's total, and how to prune.
func printListing(w io.Writer, l *cache.Listing, now time.Time) {
	var slots int64
	for _, s := range l.Slots {
		slots += s.Size
	}
	total := slots + sum(l.Obsolete) + sum(l.Trash) + sum(l.Other)
	fmt.Fprintf(w, "cache %s: %s\n", l.Dir, humanBytes(total))

	tw := newTable(w)
	fmt.Fprintf(tw, "\nbuild slots: %d, %s\n", len(l.Slots), humanBytes(slots))
	for _, s := range l.Slots {
		note := ""
		if s.InUse {
			note = "in use"
		}
		if s.Missing != "" {
			note = join(note, "source repository gone: "+s.Missing)
		}
		if s.Obsolete != "" {
			note = join(note, "obsolete: "+s.Obsolete)
		}
		fmt.Fprintf(tw, "  %s\t%s\tused %s\t%s\n", result.Clean(s.Name, 200), humanBytes(s.Size), age(now.Sub(s.LastUsed)), note)
	}
	printEntries(tw, "obsolete source trees", l.Obsolete)
	printEntries(tw, "trash of an interrupted prune", l.Trash)
	printEntries(tw, "other", l.Other)
	tw.Flush()
	fmt.Fprintf(w, "\n`rig cache prune` removes slots unused for %d days, slots that can never be used again and\n"+
		"obsolete source trees (--dry-run shows what it would remove; --older-than changes the age).\n", int(cache.DefaultPruneAge.Hours()/24))
}

// printEntries prints a kind of entry with its total; nothing if there is
// none.
func printEntries(w io.Writer, kind string, es []cache.Entry) {
	if len(es) == 0 {
		return
	}
	fmt.Fprintf(w, "%s: %d, %s\n", kind, len(es), humanBytes(sum(es)))
	for _, e := range es {
		fmt.Fprintf(w, "  %s\t%s\n", result.Clean(e.Name, 200), humanBytes(e.Size))
	}
}

func sum(es []cache.Entry) int64 {
	var n int64
	for _, e := range es {
		n += e.Size
	}
	return n
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + ", " + b
}

// printPrune prints one line per entry removed or skipped, and the bytes
// freed.
func printPrune(w io.Writer, r *cache.Report) {
	removed, freed := "removed", "freed"
	if r.DryRun {
		removed, freed = "would remove", "would free"
	}
	tw := newTable(w)
	for _, x := range r.Removed {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", removed, result.Clean(x.Name, 200), humanBytes(x.Size), result.Clean(x.Reason, 300))
	}
	for _, x := range r.Skipped {
		fmt.Fprintf(tw, "skipped\t%s\t%s\t%s\n", result.Clean(x.Name, 200), humanBytes(x.Size), result.Clean(x.Reason, 300))
	}
	tw.Flush()
	if len(r.Removed) == 0 {
		fmt.Fprintln(w, "nothing to remove")
		return
	}
	fmt.Fprintf(w, "%s %s\n", freed, humanBytes(r.Freed))
}

// humanBytes prints n in binary units, e.g. "1.4 GiB".
func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// age prints how long ago something was, coarsely: the unit that matters
// when deciding what to prune.
func age(d time.Duration) string {
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%dm ago", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh ago", int(d.Hours()))
	}
	return fmt.Sprintf("%dd ago", int(d.Hours()/24))
}

// table aligns tab-separated columns like tabwriter and drops the padding
// an empty last column leaves at the end of a line.
type table struct {
	w   io.Writer
	buf bytes.Buffer
	tw  *tabwriter.Writer
}

func newTable(w io.Writer) *table {
	t := &table{w: w}
	t.tw = tabwriter.NewWriter(&t.buf, 0, 0, 2, ' ', 0)
	return t
}

func (t *table) Write(p []byte) (int, error) { return t.tw.Write(p) }

// Flush writes the table out.
func (t *table) Flush() error {
	if err := t.tw.Flush(); err != nil {
		return err
	}
	if t.buf.Len() == 0 {
		return nil
	}
	lines := strings.Split(strings.TrimSuffix(t.buf.String(), "\n"), "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " ")
	}
	_, err := io.WriteString(t.w, strings.Join(lines, "\n")+"\n")
	return err
}
