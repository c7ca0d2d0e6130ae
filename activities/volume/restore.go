package volume

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/pathglob"
)

// RestoreOptions say how to restore.
type RestoreOptions struct {
	// From is a position a previous attempt reported through OnPosition: every entry before
	// it is in place and is not written again.
	From int
	// Workers write files in parallel (default GOMAXPROCS).
	Workers int
	// OnPosition is called every ProgressEvery (default a second) with the number of leading
	// entries that are in place (for a heartbeat).
	OnPosition    func(pos int, p Progress)
	ProgressEvery time.Duration
	// KeepExisting leaves whatever the target has at a file's, symlink's or hard link's path
	// (overwrite Never); directories get their metadata either way.
	KeepExisting bool
	// Include restricts the restore to these subtrees (path globs from "/", as a backup's
	// includes; arkive export); the directories on the way are created.
	Include []string
}

// RestoreResult counts what a restore did.
type RestoreResult struct {
	Progress
	// Skipped counts files found already in place (same size, mtime and mode) after From.
	Skipped int `json:"skipped"`
	// Kept counts entries KeepExisting left as the target had them.
	Kept     int      `json:"kept,omitempty"`
	Warnings []string `json:"warnings,omitempty"`
}

type restore struct {
	r     *Repo
	ctx   context.Context
	root  string
	cache *packCache
	owner bool // we may set owners (running as root)
	keep  bool // KeepExisting

	noTmpfile atomic.Bool // the target's file system makes no O_TMPFILE files (or /proc is missing)

	mu       sync.Mutex
	idle     *sync.Cond // signalled when an entry finishes
	pending  map[int]bool
	next     int
	res      RestoreResult
	warnOnce map[string]bool
	err      error
	cancel   context.CancelFunc
}

// Restore writes snapshot ref into the directory root, which must exist. Files are written
// unnamed (or under a temporary name) and put in place once complete, with owner, mode and
// mtime set (create, place); directories get theirs at the end, deepest first.
func (r *Repo) Restore(ctx context.Context, ref *archive.VolumeSnapshotRef, root string, o RestoreOptions) (*RestoreResult, error) {
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	sel, err := pathglob.New("include", o.Include, nil)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	rs := &restore{r: r, ctx: ctx, root: root, cache: newPackCache(r, 8), owner: os.Geteuid() == 0, keep: o.KeepExisting,
		pending: map[int]bool{}, warnOnce: map[string]bool{}, cancel: cancel}
	rs.idle = sync.NewCond(&rs.mu)
	if _, err := os.Stat("/proc/self/fd"); err != nil || namedTemporaries {
		rs.noTmpfile.Store(true) // place links unnamed files through it
	}
	type job struct {
		seq int
		e   archive.VEntry
	}
	jobs := make(chan job, 2*o.Workers)
	var wg sync.WaitGroup
	for range o.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []byte
			for j := range jobs {
				if ctx.Err() == nil {
					var err error
					buf, err = rs.file(j.seq, &j.e, buf)
					rs.fail(err)
				}
				rs.finish(j.seq)
			}
		}()
	}
	if o.OnPosition != nil {
		defer every(o.ProgressEvery, func() { o.OnPosition(rs.position()) })()
	}
	var dirs []archive.VEntry
	seq := 0
	walkErr := r.Walk(ctx, ref, func(e *archive.VEntry) error {
		if len(o.Include) > 0 {
			glob := "/" + string(e.Path)
			if e.Path == "." {
				glob = "/"
			}
			if !sel.Takes(glob) && !(e.Type == archive.VDir && sel.Descends(glob)) {
				seq++
				return nil
			}
		}
		if e.Type == archive.VDir {
			dirs = append(dirs, *e)
		}
		s := seq
		seq++
		if s < o.From {
			rs.count(e)
			return nil
		}
		rs.start(s)
		switch e.Type {
		case archive.VFile:
			select {
			case jobs <- job{seq: s, e: *e}:
			case <-ctx.Done():
				return ctx.Err()
			}
			return nil
		case archive.VHardlink:
			// Its first name may still be in a worker's hands: wait for them all.
			rs.drain()
			rs.fail(rs.link(e))
		default:
			rs.fail(rs.other(e))
		}
		rs.finish(s)
		return ctx.Err()
	})
	close(jobs)
	wg.Wait()
	rs.fail(walkErr)
	if rs.err != nil {
		return nil, rs.err
	}
	for i := len(dirs) - 1; i >= 0; i-- {
		if err := rs.meta(&dirs[i], rs.path(dirs[i].Path)); err != nil {
			return nil, err
		}
	}
	return &rs.res, nil
}

func (rs *restore) fail(err error) {
	if err == nil {
		return
	}
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if rs.err == nil {
		rs.err = err
		rs.cancel()
	}
}

func (rs *restore) start(seq int) {
	rs.mu.Lock()
	rs.pending[seq] = true
	rs.next = seq + 1
	rs.mu.Unlock()
}

func (rs *restore) finish(seq int) {
	rs.mu.Lock()
	delete(rs.pending, seq)
	rs.mu.Unlock()
	rs.idle.Broadcast()
}

// drain waits until no file is being written (workers finish every job, cancelled or not).
func (rs *restore) drain() {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	for len(rs.pending) > 1 { // the caller's own entry is pending
		rs.idle.Wait()
	}
}

// position is the number of leading entries in place.
func (rs *restore) position() (int, Progress) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	pos := rs.next
	for s := range rs.pending {
		pos = min(pos, s)
	}
	return pos, rs.res.Progress
}

func (rs *restore) count(e *archive.VEntry) {
	rs.mu.Lock()
	rs.res.Entries++
	if e.Type == archive.VFile {
		rs.res.Files++
		for _, c := range e.Chunks {
			rs.res.Bytes += int64(c.Len)
		}
	}
	rs.mu.Unlock()
}

func (rs *restore) warn(msg string) {
	rs.mu.Lock()
	defer rs.mu.Unlock()
	if !rs.warnOnce[msg] && len(rs.res.Warnings) < maxWarnings {
		rs.warnOnce[msg] = true
		rs.res.Warnings = append(rs.res.Warnings, msg)
	}
}

func (rs *restore) path(p archive.RawPath) string { return filepath.Join(rs.root, string(p)) }

// tmpName is where entry seq is written before it is renamed into place: in the same
// directory (so the rename is atomic) and short whatever the final name's length.
func (rs *restore) tmpName(dest string, seq int) string {
	return filepath.Join(filepath.Dir(dest), fmt.Sprintf(".arkive-restore-%d", seq))
}

// file writes one regular file.
func (rs *restore) file(seq int, e *archive.VEntry, buf []byte) ([]byte, error) {
	dest := rs.path(e.Path)
	var st unix.Stat_t
	if unix.Lstat(dest, &st) == nil && st.Mode&unix.S_IFMT == unix.S_IFREG && st.Size == e.Size &&
		st.Mtim.Nano() == e.Mtime && st.Mode&07777 == e.Mode {
		// In place already: written by an attempt that stopped before it reported this far.
		rs.count(e)
		rs.mu.Lock()
		rs.res.Skipped++
		rs.mu.Unlock()
		return buf, nil
	}
	if rs.kept(dest, e) {
		return buf, nil
	}
	f, tmp, err := rs.create(dest, seq)
	if err != nil {
		return buf, fmt.Errorf("%s: %w", e.Path, err)
	}
	defer func() {
		if f != nil {
			_ = f.Close()
			if tmp != "" {
				_ = os.Remove(tmp)
			}
		}
	}()
	ext := e.Extents
	if ext == nil {
		ext = [][2]int64{{0, e.Size}}
	}
	xi, off := 0, int64(0) // the extent being filled and the offset in it
	for _, c := range e.Chunks {
		data, err := rs.cache.chunk(rs.ctx, c.ID, buf)
		if err != nil {
			return buf, fmt.Errorf("%s: %w", e.Path, err)
		}
		buf = data
		for len(data) > 0 {
			if xi >= len(ext) {
				return buf, fmt.Errorf("%s: the snapshot holds more data than the file's extents", e.Path)
			}
			n := min(int64(len(data)), ext[xi][1]-off)
			if _, err := f.WriteAt(data[:n], ext[xi][0]+off); err != nil {
				return buf, fmt.Errorf("%s: %w", e.Path, err)
			}
			data, off = data[n:], off+n
			if off == ext[xi][1] {
				xi, off = xi+1, 0
			}
		}
	}
	if len(ext) == 0 || ext[len(ext)-1][0]+ext[len(ext)-1][1] < e.Size { // holes at the end
		if err := f.Truncate(e.Size); err != nil {
			return buf, fmt.Errorf("%s: %w", e.Path, err)
		}
	}
	if err := rs.fileMeta(e, f); err != nil {
		return buf, err
	}
	if err := rs.place(f, tmp, dest, seq); err != nil {
		return buf, fmt.Errorf("%s: %w", e.Path, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		_ = os.Remove(dest) // in place but perhaps not all written: the retry writes it again
		return buf, fmt.Errorf("%s: %w", e.Path, err)
	}
	rs.count(e)
	return buf, nil
}

// namedTemporaries makes every restore use temporary names, as on a file system without
// O_TMPFILE (tests of that path).
var namedTemporaries = false

// create opens the file entry seq is written into: an unnamed file in dest's directory
// (O_TMPFILE) that place links under its name once complete, or, where the file system
// cannot make one, a file under a temporary name (returned) that place renames. Either way
// no half-written file is ever visible under its name; the unnamed one also leaves nothing
// behind when the mover is killed, and costs one directory operation where create and
// rename cost two (a restore of many small files is bound by them).
func (rs *restore) create(dest string, seq int) (*os.File, string, error) {
	if !rs.noTmpfile.Load() {
		fd, err := unix.Open(filepath.Dir(dest), unix.O_TMPFILE|unix.O_WRONLY|unix.O_CLOEXEC, 0o600)
		if err == nil {
			return os.NewFile(uintptr(fd), dest), "", nil
		}
		if !errors.Is(err, unix.EOPNOTSUPP) && !errors.Is(err, unix.EISDIR) && !errors.Is(err, unix.EINVAL) {
			return nil, "", err
		}
		rs.noTmpfile.Store(true) // this file system has none: names from now on
	}
	tmp := rs.tmpName(dest, seq)
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	return f, tmp, err
}

// place puts a complete file under its name, atomically: an unnamed file is linked there
// (through /proc/self/fd, which needs no capability, unlike AT_EMPTY_PATH), or, when
// something is there already, linked under a temporary name and renamed over it.
func (rs *restore) place(f *os.File, tmp, dest string, seq int) error {
	if tmp == "" {
		self := fmt.Sprintf("/proc/self/fd/%d", f.Fd())
		err := unix.Linkat(unix.AT_FDCWD, self, unix.AT_FDCWD, dest, unix.AT_SYMLINK_FOLLOW)
		if !errors.Is(err, unix.EEXIST) {
			return err
		}
		tmp = rs.tmpName(dest, seq)
		_ = os.Remove(tmp) // left by a killed attempt
		if err := unix.Linkat(unix.AT_FDCWD, self, unix.AT_FDCWD, tmp, unix.AT_SYMLINK_FOLLOW); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp, dest); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}

// fileMeta sets an open file's owner, mode and mtime (owner first: chown clears setuid and
// setgid; mtime last, after every write), through the descriptor: no path lookups.
func (rs *restore) fileMeta(e *archive.VEntry, f *os.File) error {
	fd := int(f.Fd())
	if rs.owner {
		if err := unix.Fchown(fd, int(e.UID), int(e.GID)); err != nil {
			return fmt.Errorf("%s: set owner: %w", e.Path, err)
		}
	} else {
		rs.warn("owners not restored: the restore does not run as root")
	}
	if err := unix.Fchmod(fd, e.Mode); err != nil {
		return fmt.Errorf("%s: set mode: %w", e.Path, err)
	}
	// futimens: utimensat with a NULL path sets the descriptor's file's times.
	ts := [2]unix.Timespec(mtimes(e))
	if _, _, errno := unix.Syscall6(unix.SYS_UTIMENSAT, uintptr(fd), 0, uintptr(unsafe.Pointer(&ts)), 0, 0, 0); errno != 0 {
		return fmt.Errorf("%s: set mtime: %w", e.Path, errno)
	}
	return nil
}

// kept says whether KeepExisting leaves what the target has at dest (and counts it).
func (rs *restore) kept(dest string, e *archive.VEntry) bool {
	if !rs.keep {
		return false
	}
	if _, err := os.Lstat(dest); err != nil {
		return false
	}
	rs.count(e)
	rs.mu.Lock()
	rs.res.Kept++
	rs.mu.Unlock()
	return true
}

func mtimes(e *archive.VEntry) []unix.Timespec {
	t := unix.NsecToTimespec(e.Mtime)
	return []unix.Timespec{t, t}
}

// meta sets a directory's or symlink's owner, mode and mtime by path (owner first: chown
// clears setuid and setgid); files get theirs through their descriptor (fileMeta).
func (rs *restore) meta(e *archive.VEntry, p string) error {
	if rs.owner {
		if err := os.Lchown(p, int(e.UID), int(e.GID)); err != nil {
			return fmt.Errorf("%s: set owner: %w", e.Path, err)
		}
	} else {
		rs.warn("owners not restored: the restore does not run as root")
	}
	if e.Type != archive.VSymlink {
		if err := unix.Chmod(p, e.Mode); err != nil {
			return fmt.Errorf("%s: set mode: %w", e.Path, err)
		}
	}
	if err := unix.UtimesNanoAt(unix.AT_FDCWD, p, mtimes(e), unix.AT_SYMLINK_NOFOLLOW); err != nil {
		return fmt.Errorf("%s: set mtime: %w", e.Path, err)
	}
	return nil
}

// other restores a directory, symlink or special file.
func (rs *restore) other(e *archive.VEntry) error {
	dest := rs.path(e.Path)
	switch e.Type {
	case archive.VDir:
		if err := os.Mkdir(dest, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
	case archive.VSymlink:
		if t, err := os.Readlink(dest); err == nil && t == string(e.Target) {
			break
		}
		if rs.kept(dest, e) {
			return nil
		}
		tmp := rs.tmpName(dest, 0) + "-link"
		_ = os.Remove(tmp)
		if err := os.Symlink(string(e.Target), tmp); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
		if err := rs.meta(e, tmp); err != nil {
			return err
		}
		if err := os.Rename(tmp, dest); err != nil {
			return fmt.Errorf("%s: %w", e.Path, err)
		}
	default:
		rs.warn(fmt.Sprintf("%s: a %s, not restored", e.Path, e.Type))
		return nil
	}
	rs.count(e)
	return nil
}

// link restores a hard link to an earlier file entry.
func (rs *restore) link(e *archive.VEntry) error {
	dest, first := rs.path(e.Path), rs.path(e.Link)
	if _, err := os.Lstat(first); errors.Is(err, os.ErrNotExist) {
		rs.warn(fmt.Sprintf("%s: a hard link to %s, which is not restored", e.Path, e.Link))
		return nil
	}
	var a, b unix.Stat_t
	if unix.Lstat(dest, &a) == nil && unix.Lstat(first, &b) == nil && a.Ino == b.Ino && a.Dev == b.Dev {
		rs.count(e)
		return nil
	}
	if rs.kept(dest, e) {
		return nil
	}
	tmp := rs.tmpName(dest, 0) + "-hardlink"
	_ = os.Remove(tmp)
	if err := os.Link(first, tmp); err != nil {
		return fmt.Errorf("%s: link to %s: %w", e.Path, e.Link, err)
	}
	if err := os.Rename(tmp, dest); err != nil {
		return fmt.Errorf("%s: %w", e.Path, err)
	}
	rs.count(e)
	return nil
}
