package source

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"strings"
	"time"
)

// importTarball commits the contents of a tar archive (any compression tar
// understands) into the bare repository gitDir as branch, dropping the
// first path component of every member, as `tar --strip-components=1`.
//
// It streams: xz decompresses on one core while git fast-import hashes
// and packs on the other, and nothing is unpacked to disk: no `tar -x`
// and `git add` of a tree whose files only serve as git's input.
func importTarball(ctx context.Context, tarball, gitDir, branch, msg string) error {
	if _, err := git(ctx, "", "init", "-q", "--bare", gitDir); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	unz, err := decompressor(tarball)
	if err != nil {
		return err
	}
	zr := exec.CommandContext(ctx, unz[0], append(unz[1:], tarball)...)
	zr.WaitDelay = 5 * time.Second
	zout, err := zr.StdoutPipe()
	if err != nil {
		return err
	}
	var zerr strings.Builder
	zr.Stderr = &zerr

	// Fast zlib and no delta search: deltas between unrelated files of a
	// source tree save next to no space and cost much time.
	fi := exec.CommandContext(ctx, "git", "--git-dir", gitDir, "-c", "pack.compression=1",
		"fast-import", "--quiet", "--done", "--depth=0")
	fi.Env = append(os.Environ(), gitEnv...)
	fi.WaitDelay = 5 * time.Second
	fin, err := fi.StdinPipe()
	if err != nil {
		return err
	}
	var ferr strings.Builder
	fi.Stdout, fi.Stderr = &ferr, &ferr

	if err := zr.Start(); err != nil {
		return fmt.Errorf("unpacking %s: %w", tarball, err)
	}
	if err := fi.Start(); err != nil {
		cancel()
		_ = zr.Wait()
		return fmt.Errorf("git fast-import: %w", err)
	}
	ra := readAhead(zout, 256<<10, 16)
	streamErr := writeFastImport(bufio.NewWriterSize(fin, 1<<20), tar.NewReader(ra), branch, msg)
	ra.Close() // the rest (tar's zero padding) is read and dropped
	fin.Close()
	if streamErr != nil {
		cancel() // stop both; their own errors are consequences
	}
	zErr := zr.Wait()
	fErr := fi.Wait()
	switch {
	case streamErr != nil:
		return fmt.Errorf("importing %s: %w", tarball, streamErr)
	case zErr != nil:
		return fmt.Errorf("unpacking %s: %w: %s", tarball, zErr, strings.TrimSpace(zerr.String()))
	case fErr != nil:
		return fmt.Errorf("git fast-import of %s: %w: %s", tarball, fErr, strings.TrimSpace(ferr.String()))
	}
	return nil
}

// readAhead reads r in its own goroutine, up to n chunks of size bytes
// ahead of the consumer. Without it the decompressor stalls whenever a
// write to fast-import blocks (a pipe holds only 64 KiB), and the two
// processes take turns instead of running on two cores. Closing the
// result drops whatever r still
// has, reading it to its end, so its writer never blocks.
func readAhead(r io.Reader, size, n int) io.ReadCloser {
	pr, pw := io.Pipe()
	chunks := make(chan []byte, n)
	go func() {
		defer close(chunks)
		for {
			b := make([]byte, size)
			k, err := io.ReadFull(r, b)
			if k > 0 {
				chunks <- b[:k]
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
		}
	}()
	go func() {
		for b := range chunks {
			if _, err := pw.Write(b); err != nil {
				for range chunks { // drain so the reader goroutine ends
				}
				return
			}
		}
		pw.Close()
	}()
	return pr
}

// decompressor is the command that writes the uncompressed tar of file to
// stdout.
func decompressor(file string) ([]string, error) {
	switch {
	case strings.HasSuffix(file, ".tar.xz"), strings.HasSuffix(file, ".txz"):
		return []string{"xz", "-dc"}, nil
	case strings.HasSuffix(file, ".tar.gz"), strings.HasSuffix(file, ".tgz"):
		return []string{"gzip", "-dc"}, nil
	case strings.HasSuffix(file, ".tar.bz2"):
		return []string{"bzip2", "-dc"}, nil
	case strings.HasSuffix(file, ".tar.zst"):
		return []string{"zstd", "-dc"}, nil
	case strings.HasSuffix(file, ".tar"):
		return []string{"cat"}, nil
	}
	return nil, fmt.Errorf("%s: unknown archive type (want .tar, .tar.xz, .tar.gz, .tar.bz2 or .tar.zst)", file)
}

// writeFastImport turns a tar stream into one fast-import commit on branch.
// Regular files keep their executable bit, symlinks their target; a hard
// link becomes a copy of the file it links to (fast-import's C command).
func writeFastImport(w *bufio.Writer, tr *tar.Reader, branch, msg string) error {
	msg += "\n" // as `git commit -m` stores it
	fmt.Fprintf(w, "commit refs/heads/%s\ncommitter rig <rig@localhost> 946684800 +0000\ndata %d\n%s", branch, len(msg), msg)
	n := 0
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		name, ok := stripFirst(h.Name)
		if !ok {
			continue // the top directory itself
		}
		switch h.Typeflag {
		case tar.TypeDir:
			continue
		case tar.TypeReg:
			mode := "100644"
			if h.Mode&0o111 != 0 {
				mode = "100755"
			}
			fmt.Fprintf(w, "M %s inline %s\ndata %d\n", mode, quotePath(name), h.Size)
			if _, err := io.Copy(w, tr); err != nil {
				return fmt.Errorf("%s: %w", h.Name, err)
			}
			w.WriteByte('\n')
		case tar.TypeSymlink:
			fmt.Fprintf(w, "M 120000 inline %s\ndata %d\n%s\n", quotePath(name), len(h.Linkname), h.Linkname)
		case tar.TypeLink:
			target, ok := stripFirst(h.Linkname)
			if !ok {
				return fmt.Errorf("%s: hard link to %q outside the tree", h.Name, h.Linkname)
			}
			fmt.Fprintf(w, "C %s %s\n", quotePath(target), quotePath(name))
		case tar.TypeXGlobalHeader:
			continue
		default:
			return fmt.Errorf("%s: unsupported tar member type %q", h.Name, h.Typeflag)
		}
		n++
	}
	if n == 0 {
		return errors.New("the archive holds no files")
	}
	fmt.Fprintf(w, "\ndone\n")
	return w.Flush()
}

// stripFirst drops the first path component ("linux-source-6.12/").
func stripFirst(name string) (string, bool) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	_, rest, ok := strings.Cut(name, "/")
	return rest, ok && rest != ""
}

// quotePath writes a path for fast-import: as is, or C-quoted when it holds
// a space, quote, backslash, control or non-ASCII byte.
func quotePath(p string) string {
	plain := true
	for i := 0; i < len(p); i++ {
		if c := p[i]; c <= ' ' || c >= 0x7f || c == '"' || c == '\\' {
			plain = false
			break
		}
	}
	if plain {
		return p
	}
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(p); i++ {
		switch c := p[i]; {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c >= 0x7f:
			fmt.Fprintf(&b, "\\%03o", c)
		default:
			b.WriteByte(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}
