package cache

import (
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// Kind is a kind of cache entry: a row of the table kinds, which says where
// its entries are, how they are named and how Prune judges them. Producers
// get an entry's path from its Kind (Kind.Path); List and Prune walk the
// same table, so the cache holds no kind of entry they do not know.
type Kind int

// The kinds of entries, in the order List walks them.
const (
	DebianSources Kind = iota
	ImportedSources
	OldPartialSources
	ObsoleteSources
	SourceTrash
	Slots
	SlotTrash
	Kernels
	Images
	Overlays
	RigSources
	Kselftests
	Launcher
	LastBuilt
	KVMProbe
	BenchResults
	BenchTrees
	TestKernel
	TestFixtures
	Baselines
	PristineCheckouts
	numKinds

	// Unknown is the kind of a name no row of the table matches.
	Unknown Kind = -1
)

// Judgement is how Prune decides about the entries of a kind.
type Judgement int

const (
	// Kept entries are never pruned: small files, or outputs keyed by
	// their content that `rig cache` shows for their size.
	Kept Judgement = iota
	// ByLastUsed entries (build slots) go when no rig used them for the
	// age given, or when they can never be used again (Slot.Obsolete);
	// whatever a rig holds the lock of stays.
	ByLastUsed
	// Orphaned entries (obsolete source trees) go once no slot that stays
	// borrows from them, unless a rig holds their lock.
	Orphaned
	// Trash is the leftover of an interrupted prune: it always goes.
	Trash
)

// part is a variable part of an entry's name.
type part struct {
	re      string // what it matches
	example string // a value, for tests and documentation
}

var (
	archPart  = part{`[a-z0-9_]+`, "x86_64"}
	keyPart   = part{`[0-9a-f]{24}`, "0123456789abcdef01234567"} // Key
	key16Part = part{`[0-9a-f]{16}`, "0123456789abcdef"}         // Key, shortened
	verPart   = part{`[A-Za-z0-9._-]+`, "6.12.118-1_deb12u1"}    // a Debian version with '~', '+' and ':' as '_'
	wordPart  = part{`[a-z0-9_]+`, "futex"}
	anyPart   = part{`.+`, "x"}
)

// row describes a Kind. An entry's name is prefix, its parts joined by
// '-', and suffix; a row without parts names a single entry.
type row struct {
	dir            string // directory under the cache; "" is the cache directory itself
	prefix, suffix string
	parts          []part
	isDir          bool // entries are directories (else files)
	holds          string
	judge          Judgement
	locked         bool // a rig holds <entry>.lock while it makes or uses the entry: Prune takes it too
	each           bool // `rig cache` lists each entry; else their directory's total
}

// kinds is the cache's layout. Keep the names: users' caches hold them.
var kinds = [numKinds]row{
	DebianSources:     {dir: "src", prefix: "debian-", suffix: ".git", parts: []part{verPart}, isDir: true, locked: true, each: true, holds: "Debian's kernel source as a bare repository (source.Default)"},
	ImportedSources:   {dir: "src", prefix: "import-", parts: []part{keyPart}, isDir: true, locked: true, each: true, holds: "an import of a user's plain kernel tree (source.Open)"},
	OldPartialSources: {dir: "src", prefix: "debian-", suffix: ".partial", parts: []part{verPart}, isDir: true, each: true, holds: "a half-prepared source tree of the layout before the bare repository"},
	ObsoleteSources:   {dir: "src", prefix: "debian-", parts: []part{verPart}, isDir: true, judge: Orphaned, locked: true, each: true, holds: "Debian's source with a work tree, the layout before the bare repository: nothing uses it"},
	SourceTrash:       {dir: "src", prefix: trashPrefix, parts: []part{anyPart}, isDir: true, judge: Trash, each: true, holds: "a source tree an interrupted prune was removing"},
	Slots:             {dir: "slots", parts: []part{archPart, key16Part}, isDir: true, judge: ByLastUsed, locked: true, each: true, holds: "a build slot (kbuild.SlotFor): src/ is a git work tree borrowing its objects through src/.git/objects/info/alternates, out/ the O= dir"},
	SlotTrash:         {dir: "slots", prefix: trashPrefix, parts: []part{anyPart}, isDir: true, judge: Trash, each: true, holds: "a slot an interrupted prune was removing"},
	Kernels:           {dir: "kernels", parts: []part{archPart, keyPart}, isDir: true, holds: "a verified kernel with its config and build log (kbuild.CachedKernel)"},
	Images:            {dir: "images", parts: []part{archPart, keyPart}, isDir: true, locked: true, holds: "the guest's initramfs (initramfs.Builder)"},
	Overlays:          {dir: "images", prefix: "overlay-", suffix: ".cpio", parts: []part{keyPart}, holds: "an initramfs with extra files appended (initramfs.WithOverlay)"},
	RigSources:        {dir: "rig", parts: []part{keyPart}, isDir: true, locked: true, holds: "the rig's own sources a binary carries (guest/, kconfigs/, go.mod), unpacked to build the guest from (initramfs.Sources)"},
	Kselftests:        {dir: "kselftest", parts: []part{wordPart, archPart, keyPart}, isDir: true, locked: true, holds: "compiled kernel selftests (kselftest.Build)"},
	Launcher:          {dir: "bin", prefix: "cc-launcher", holds: "the compiler launcher kbuild runs ccache through (kbuild.Launcher)"},
	LastBuilt:         {prefix: "last-", parts: []part{archPart}, each: true, holds: "the kernel and initramfs an arch's last run built, for `rig boot`"},
	KVMProbe:          {prefix: "kvm-probe.json", each: true, holds: "whether KVM works here, probed once"},
	BenchResults:      {dir: "bench", prefix: "results", isDir: true, holds: "the results of `rig bench`'s whole runs"},
	BenchTrees:        {dir: "bench", parts: []part{archPart}, isDir: true, holds: "the checkout `rig bench --cold` builds from"},
	TestKernel:        {prefix: "testkernel", isDir: true, locked: true, each: true, holds: "the kernel end-to-end tests boot (rig/internal/testkernel)"},
	TestFixtures:      {dir: "test", parts: []part{anyPart}, isDir: true, holds: "trees the tests make once and reuse"},
	PristineCheckouts: {dir: "src", prefix: "pristine-", parts: []part{verPart}, isDir: true, locked: true, each: true, holds: "a work tree of Debian's source at its commit that build slots are hard-linked from, so a cold run checks the tree out once, not once per slot (source.Tree.Checkout)"},
	Baselines:         {dir: "baselines", parts: []part{archPart, keyPart}, suffix: ".json", locked: true, holds: "what a base tree's kernel did under one test configuration, counts summed over its boots (run's base results)"},
}

// matchers holds each kind's name pattern.
var matchers = func() [numKinds]*regexp.Regexp {
	var m [numKinds]*regexp.Regexp
	for k, r := range kinds {
		res := make([]string, len(r.parts))
		for i, p := range r.parts {
			res[i] = p.re
		}
		m[k] = regexp.MustCompile("^" + regexp.QuoteMeta(r.prefix) + strings.Join(res, "-") + regexp.QuoteMeta(r.suffix) + "$")
	}
	return m
}()

// Path returns the path of the entry of kind k named by parts (as many as
// the kind's name has, e.g. arch and key for Kernels) in the cache at
// cacheDir, present or not. Wrong parts are a bug of the caller: Path
// panics, as List would not find the entry.
func (k Kind) Path(cacheDir string, parts ...string) string {
	r := kinds[k]
	if len(parts) != len(r.parts) {
		panic(fmt.Sprintf("cache: %s takes %d name parts, got %q", k, len(r.parts), parts))
	}
	name := r.prefix + strings.Join(parts, "-") + r.suffix
	if !matchers[k].MatchString(name) {
		panic(fmt.Sprintf("cache: %q is no name of %s", name, k))
	}
	return filepath.Join(cacheDir, r.dir, name)
}

// String names the kind by its entries' paths, e.g. "kernels/<arch>-<key>".
func (k Kind) String() string {
	if k < 0 || k >= numKinds {
		return "unknown"
	}
	r := kinds[k]
	names := make([]string, len(r.parts))
	for i, p := range r.parts {
		switch p {
		case archPart:
			names[i] = "<arch>"
		case keyPart, key16Part:
			names[i] = "<key>"
		case verPart:
			names[i] = "<ver>"
		default:
			names[i] = "<name>"
		}
	}
	return filepath.Join(r.dir, r.prefix+strings.Join(names, "-")+r.suffix)
}

// Judgement says how Prune decides about the kind's entries.
func (k Kind) Judgement() Judgement {
	if k < 0 || k >= numKinds {
		return Kept
	}
	return kinds[k].judge
}

// kindOf returns the kind of the entry name in the directory dir of the
// cache (relative, "" for the cache directory), the first row that
// matches.
func kindOf(dir, name string, isDir bool) Kind {
	for k := Kind(0); k < numKinds; k++ {
		if r := kinds[k]; r.dir == dir && r.isDir == isDir && matchers[k].MatchString(name) {
			return k
		}
	}
	return Unknown
}

// entryDirs returns the directories holding entries, in table order: those
// listed entry by entry first.
func entryDirs() (each, whole []string) {
	seen := map[string]bool{"": true}
	for _, r := range kinds {
		if !seen[r.dir] {
			seen[r.dir] = true
			if r.each {
				each = append(each, r.dir)
			} else {
				whole = append(whole, r.dir)
			}
		}
	}
	return each, whole
}
