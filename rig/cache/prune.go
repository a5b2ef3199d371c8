package cache

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/rig-kernel/rig/rig/internal/safefile"
)

// LastUsedFile is the stamp in a slot directory whose mtime says when a rig
// last took the slot's lock to use it (kbuild.Slot.Acquire touches it).
const LastUsedFile = ".last-used"

// trashPrefix names what Prune is deleting. A removal is a rename to a trash
// name first, so an interrupted prune leaves trash (which the next prune
// clears), never a half-deleted slot under the name a rig would use.
const trashPrefix = ".trash-"

// Slot is a build slot in the cache.
type Slot struct {
	Name     string // <arch>-<key>
	Path     string
	Arch     string
	Size     int64     // bytes on disk
	LastUsed time.Time // LastUsedFile's mtime, or the newest of the slot's own mtimes without one
	InUse    bool      // another process holds the slot's lock
	// Obsolete says why the slot can never be used again, whatever its
	// age: the repository its work tree borrows objects from is an
	// obsolete source tree. "" for a usable slot.
	Obsolete string
	// Missing names the repository the slot borrows from when it is not
	// there now. Such a slot is only pruned by age: the repository may come
	// back at the same path (a test's scratch clone, a remounted disk), and
	// then the slot saves a cold build.
	Missing string
	// borrows is the Name of the obsolete source tree the slot borrows
	// objects from, if any.
	borrows string
}

// Entry is any other part of the cache.
type Entry struct {
	Name string // relative to the cache directory, e.g. "images", "src/debian-6.12.117-1.git"
	Path string
	Size int64 // bytes on disk
	// Kind is the entry's kind; Unknown for a name of no kind, and for a
	// directory whose entries are listed by their total (Listing.Other).
	Kind Kind
}

// Listing is what the cache holds.
type Listing struct {
	Dir      string
	Slots    []Slot  // most recently used first
	Obsolete []Entry // source trees of the old layout: src/debian-<ver>/
	Trash    []Entry // leftovers of an interrupted prune
	Other    []Entry // everything else: current sources, outputs (by directory), probes, names of no kind
	// Entries is every entry found, each with its kind, slots included
	// (lock files are not entries).
	Entries []Entry
}

// List reads what the cache at dir holds, with sizes. It changes nothing.
// It walks the directories of the table kinds, entry by entry, so what a
// producer makes at a Kind's Path is listed as that kind; names of no kind
// are listed as other.
func List(dir string) (*Listing, error) {
	l := &Listing{Dir: dir}
	each, whole := entryDirs()
	for _, d := range each {
		ents, _, err := listDir(dir, d)
		if err != nil {
			return nil, err
		}
		for _, e := range ents {
			switch e.Kind.Judgement() {
			case ByLastUsed:
				s, err := readSlot(e)
				if err != nil {
					return nil, err
				}
				l.Slots = append(l.Slots, s)
			case Orphaned:
				l.Obsolete = append(l.Obsolete, e)
			case Trash:
				l.Trash = append(l.Trash, e)
			default:
				l.Other = append(l.Other, e)
			}
		}
		l.Entries = append(l.Entries, ents...)
	}
	top, err := readDir(dir)
	if err != nil {
		return nil, err
	}
	for _, d := range top {
		name, path := d.Name(), filepath.Join(dir, d.Name())
		switch {
		case strings.HasSuffix(name, ".lock"), slices.Contains(each, name):
		case d.IsDir() && slices.Contains(whole, name):
			ents, total, err := listDir(dir, name)
			if err != nil {
				return nil, err
			}
			// Names of no kind (say, the temporary directory of a
			// build a killed rig left) are listed on their own.
			var unknown []Entry
			for _, e := range ents {
				if e.Kind == Unknown {
					unknown = append(unknown, e)
					total -= e.Size
				}
			}
			l.Entries = append(l.Entries, ents...)
			l.Other = append(append(l.Other, Entry{Name: name, Path: path, Size: total, Kind: Unknown}), unknown...)
		default:
			e := entry(dir, path)
			e.Kind = kindOf("", name, d.IsDir())
			l.Entries = append(l.Entries, e)
			l.Other = append(l.Other, e)
		}
	}
	for i := range l.Slots {
		judge(&l.Slots[i], l.Obsolete)
	}
	sort.SliceStable(l.Slots, func(i, j int) bool { return l.Slots[i].LastUsed.After(l.Slots[j].LastUsed) })
	return l, nil
}

// listDir reads the directory sub of the cache at dir and returns its
// entries with their kinds, lock files left out, and the bytes the
// directory takes with everything in it.
func listDir(dir, sub string) ([]Entry, int64, error) {
	path := filepath.Join(dir, sub)
	ents, err := readDir(path)
	if err != nil {
		return nil, 0, err
	}
	total := ownUsage(path)
	var r []Entry
	for _, d := range ents {
		e := entry(dir, filepath.Join(path, d.Name()))
		total += e.Size
		if strings.HasSuffix(d.Name(), ".lock") {
			continue
		}
		e.Kind = kindOf(sub, d.Name(), d.IsDir())
		r = append(r, e)
	}
	return r, total, nil
}

// readDir is os.ReadDir where a missing directory is an empty one (a fresh
// cache has no slots yet).
func readDir(dir string) ([]os.DirEntry, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the cache: %w", err)
	}
	return ents, nil
}

func entry(dir, path string) Entry {
	name, _ := filepath.Rel(dir, path)
	return Entry{Name: name, Path: path, Size: diskUsage(path)}
}

func readSlot(e Entry) (Slot, error) {
	var inUse bool
	if kinds[e.Kind].locked {
		var err error
		if inUse, err = held(e.Path + ".lock"); err != nil {
			return Slot{}, err
		}
	}
	name := filepath.Base(e.Path)
	arch, _, _ := strings.Cut(name, "-")
	return Slot{Name: name, Path: e.Path, Arch: arch, Size: e.Size, LastUsed: lastUsed(e.Path), InUse: inUse}, nil
}

// lastUsed returns when a rig last took the slot: its stamp, or for a slot
// from before the stamps, the newest mtime among the slot directory, its
// work tree's index (written by every checkout) and its .config (written by
// every configure).
func lastUsed(slot string) time.Time {
	if st, err := os.Stat(filepath.Join(slot, LastUsedFile)); err == nil {
		return st.ModTime()
	}
	var t time.Time
	for _, p := range []string{slot, filepath.Join(slot, "src", ".git", "index"), filepath.Join(slot, "out", ".config")} {
		if st, err := os.Stat(p); err == nil && st.ModTime().After(t) {
			t = st.ModTime()
		}
	}
	return t
}

// held reports whether another process holds the lock at path, without
// creating it. The probe takes the lock for an instant: a rig asking at
// that very moment retries 100 ms later (see Acquire).
func held(path string) (bool, error) {
	f, err := openLock(path, os.O_RDONLY)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	defer f.Close()
	err = unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if err == unix.EWOULDBLOCK {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false, nil
}

// diskUsage returns the bytes allocated to path and everything under it, as
// du counts them. Files that vanish during the walk (a rig working in the
// slot) are not counted; unreadable ones neither: the size is a report,
// never a decision.
func diskUsage(path string) int64 {
	var n int64
	_ = filepath.WalkDir(path, func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		if info, err := d.Info(); err == nil {
			n += blocks(info)
		}
		return nil
	})
	return n
}

// ownUsage returns the bytes allocated to the directory at path itself,
// without what it holds.
func ownUsage(path string) int64 {
	st, err := os.Lstat(path)
	if err != nil {
		return 0
	}
	return blocks(st)
}

func blocks(info fs.FileInfo) int64 {
	if st, ok := info.Sys().(*syscall.Stat_t); ok {
		return st.Blocks * 512
	}
	return 0
}

// judge sets s.Obsolete if s borrows its objects from an obsolete source
// tree: such a slot can never be checked out again (a slot's key includes
// its repository's path, so no run picks it for another repository). A
// repository that is gone is only noted (Missing).
func judge(s *Slot, obsolete []Entry) {
	objs, err := alternates(s.Path)
	if err != nil {
		return // unreadable: judged by age alone
	}
	for _, o := range objs {
		for _, e := range obsolete {
			if within(o, e.Path) {
				s.Obsolete, s.borrows = "borrows from the obsolete "+e.Name, e.Name
				return
			}
		}
		if _, err := os.Stat(o); errors.Is(err, fs.ErrNotExist) {
			s.Missing = o
		}
	}
}

// alternates returns the object directories the slot's work tree borrows
// (none for a slot whose first checkout did not get that far).
func alternates(slot string) ([]string, error) {
	objects := filepath.Join(slot, "src", ".git", "objects")
	b, err := safefile.ReadFile(filepath.Join(objects, "info", "alternates"), 1<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if !filepath.IsAbs(line) { // git: relative to the objects directory
			line = filepath.Join(objects, line)
		}
		r = append(r, filepath.Clean(line))
	}
	return r, sc.Err()
}

// within reports whether path is dir or under it, after resolving symlinks
// (the cache may be reached through one, e.g. RIG_CACHE).
func within(path, dir string) bool {
	rel, err := filepath.Rel(realPath(dir), realPath(path))
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../")
}

func realPath(p string) string {
	if r, err := filepath.EvalSymlinks(p); err == nil {
		return r
	}
	return filepath.Clean(p)
}

// Removal is one entry Prune removed, would remove (dry run) or skipped.
type Removal struct {
	Name   string // relative to the cache directory
	Size   int64  // bytes on disk
	Reason string // why it goes, or why it stays
}

// Report is what Prune did.
type Report struct {
	DryRun  bool
	Removed []Removal // in a dry run: what would be removed
	Skipped []Removal // candidates left in place, e.g. in use
	Freed   int64     // bytes, the sum of Removed
	Errors  []error   // removals that failed
}

// pruneLock keeps two prunes from clearing the same trash.
const pruneLock = "prune.lock"

// DefaultPruneAge is how long a build slot may go unused before Prune
// removes it, unless told otherwise: two weeks keeps the slots of the
// series someone works on and drops those of finished ones.
const DefaultPruneAge = 14 * 24 * time.Hour

// Prune removes from the cache at dir what List found and its kind's
// Judgement lets go: slots not used for olderThan, slots that can never be
// used again (Slot.Obsolete), the obsolete source trees once no remaining
// slot borrows from them, and the trash of an interrupted prune. Whatever another rig holds the lock of is skipped. A dry run
// removes nothing and reports what a real prune would remove now (what is
// in use can differ by the time of the real one). The error is for a cache
// that cannot be read, another prune running, or ctx done; failed removals
// are in the report.
func Prune(ctx context.Context, dir string, olderThan time.Duration, dryRun bool) (*Report, error) {
	lock, err := tryLock(filepath.Join(dir, pruneLock))
	if errors.Is(err, errBusy) {
		return nil, fmt.Errorf("another rig cache prune is running on %s", dir)
	}
	if err != nil {
		return nil, err
	}
	defer lock.Release()
	l, err := List(dir)
	if err != nil {
		return nil, err
	}
	p := &pruner{rep: &Report{DryRun: dryRun}, cutoff: time.Now().Add(-olderThan), gone: map[string]bool{}}
	for _, e := range l.Trash {
		p.trash(e)
	}
	for _, s := range l.Slots {
		if err := ctx.Err(); err != nil {
			return p.rep, err
		}
		p.slot(s)
	}
	for _, e := range l.Obsolete {
		if err := ctx.Err(); err != nil {
			return p.rep, err
		}
		p.source(e, l.Slots)
	}
	return p.rep, nil
}

// pruner carries one Prune's decisions.
type pruner struct {
	rep    *Report
	cutoff time.Time       // slots last used before it go
	gone   map[string]bool // names of the slots removed
}

func (p *pruner) removed(name string, size int64, reason string) {
	p.rep.Removed = append(p.rep.Removed, Removal{Name: name, Size: size, Reason: reason})
	p.rep.Freed += size
}

func (p *pruner) skipped(name string, size int64, reason string) {
	p.rep.Skipped = append(p.rep.Skipped, Removal{Name: name, Size: size, Reason: reason})
}

// trash deletes the leftover of an interrupted prune.
func (p *pruner) trash(e Entry) {
	if !p.rep.DryRun {
		if err := os.RemoveAll(e.Path); err != nil {
			p.rep.Errors = append(p.rep.Errors, fmt.Errorf("removing %s: %w", e.Name, err))
			return
		}
	}
	p.removed(e.Name, e.Size, "left over by an interrupted prune")
}

// slotReason says why s should go, or "" if it stays.
func (p *pruner) slotReason(s Slot) string {
	switch {
	case s.Obsolete != "":
		return s.Obsolete
	case s.LastUsed.Before(p.cutoff):
		return "not used since " + s.LastUsed.Format("2006-01-02 15:04")
	}
	return ""
}

// slot removes s if it should go and no rig holds it.
func (p *pruner) slot(s Slot) {
	reason := p.slotReason(s)
	if reason == "" {
		return
	}
	name := filepath.Join("slots", s.Name)
	if p.rep.DryRun {
		if s.InUse {
			p.skipped(name, s.Size, "in use")
			return
		}
		p.gone[s.Name] = true
		p.removed(name, s.Size, reason)
		return
	}
	lock, err := tryLock(s.Path + ".lock")
	if errors.Is(err, errBusy) || errors.Is(err, errStale) {
		p.skipped(name, s.Size, "in use")
		return
	}
	if err != nil {
		p.rep.Errors = append(p.rep.Errors, err)
		return
	}
	// Judge again under the lock: a rig may have used the slot since List.
	if s.Obsolete == "" && lastUsed(s.Path).After(p.cutoff) {
		lock.Release()
		return
	}
	if err := discard(s.Path, s.Path+".lock", lock); err != nil {
		p.rep.Errors = append(p.rep.Errors, err)
		return
	}
	p.gone[s.Name] = true
	p.removed(name, s.Size, reason)
}

// source removes an obsolete source tree, unless a slot that stays borrows
// from it (it would break that slot) or its lock is held.
func (p *pruner) source(e Entry, slots []Slot) {
	for _, s := range slots {
		if s.borrows == e.Name && !p.gone[s.Name] {
			p.skipped(e.Name, e.Size, "slots/"+s.Name+" still borrows from it")
			return
		}
	}
	const reason = "obsolete layout: the rig uses the bare src/debian-<ver>.git"
	lockPath := e.Path + ".lock"
	if p.rep.DryRun {
		inUse, err := held(lockPath)
		switch {
		case err != nil:
			p.rep.Errors = append(p.rep.Errors, err)
		case inUse:
			p.skipped(e.Name, e.Size, "in use")
		default:
			p.removed(e.Name, e.Size, reason)
		}
		return
	}
	lock, err := tryLock(lockPath)
	if errors.Is(err, errBusy) || errors.Is(err, errStale) {
		p.skipped(e.Name, e.Size, "in use")
		return
	}
	if err != nil {
		p.rep.Errors = append(p.rep.Errors, err)
		return
	}
	if err := discard(e.Path, lockPath, lock); err != nil {
		p.rep.Errors = append(p.rep.Errors, err)
		return
	}
	p.removed(e.Name, e.Size, reason)
}

// discard deletes path, whose lock the caller holds. The entry is first
// renamed into a trash directory next to it (atomic: an interrupted prune
// leaves it whole under its name or in the trash), then its lock file is
// removed while still held (a rig waiting on the old file retries on a new
// one: see lockOpened), and the trash is deleted after the release: no rig
// can reach it any more, so none needs to wait for the deletion.
func discard(path, lockPath string, lock *Lock) error {
	defer lock.Release()
	trash, err := os.MkdirTemp(filepath.Dir(path), trashPrefix)
	if err != nil {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	if err := os.Rename(path, filepath.Join(trash, filepath.Base(path))); err != nil {
		_ = os.Remove(trash)
		return fmt.Errorf("removing %s: %w", path, err)
	}
	if err := os.Remove(lockPath); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("removing %s: %w", lockPath, err)
	}
	lock.Release()
	if err := os.RemoveAll(trash); err != nil {
		return fmt.Errorf("removing %s: %w", path, err)
	}
	return nil
}
