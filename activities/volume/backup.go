package volume

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/pathglob"
)

// DefaultPackSize is the size at which a pack is closed: big enough that many small files do
// not become many small objects, small enough that a restore reads little it does not need.
const DefaultPackSize = 8 << 20

// maxWarnings is how many warnings a snapshot lists; it counts them all.
const maxWarnings = 20

// BackupOptions say what to back up and how.
type BackupOptions struct {
	// ID is the snapshot's id; a backup retried under the same id after it was recorded
	// returns the recorded snapshot.
	ID string
	// Volume names what is backed up, for the manifest; Run and Claim are recorded with it.
	Volume string
	Run    string
	Claim  *archive.VolumeClaim
	// Include and Exclude are path globs relative to the volume's root, written from "/"
	// ("/data/**"), with subtree semantics.
	Include, Exclude []string
	// Workers read files in parallel (default GOMAXPROCS).
	Workers int
	// PackSize overrides DefaultPackSize.
	PackSize int
	// OnProgress is called every ProgressEvery (default a second) with the work done so far.
	OnProgress    func(Progress)
	ProgressEvery time.Duration
}

// Progress counts a running backup's or restore's work.
type Progress struct {
	Entries int   `json:"entries"`
	Files   int   `json:"files"`
	Bytes   int64 `json:"bytes"`
	Added   int64 `json:"added"`
}

// item is one entry of the walk on its way to the tree.
type item struct {
	e    archive.VEntry
	abs  string
	done chan struct{} // closed when a file's chunks are known; nil for other entries
	skip bool          // the file could not be read: leave it out of the tree
	warn string
}

type backup struct {
	r     *Repo
	ctx   context.Context
	o     BackupOptions
	sel   *pathglob.Selector
	root  string
	links map[[2]uint64]archive.RawPath

	packMu  sync.Mutex
	pack    *archive.PackWriter
	uploads chan *archive.PackWriter
	added   []archive.IndexPack

	bytes, stored  atomic.Int64
	entries, files atomic.Int64
	errOnce        sync.Once
	err            error
	cancel         context.CancelFunc
}

// Backup takes a snapshot of the directory root and records it in the manifest.
func (r *Repo) Backup(ctx context.Context, root string, o BackupOptions) (*archive.VolumeSnapshotRef, error) {
	prefix, err := r.layout.Snapshot(o.ID)
	if err != nil {
		return nil, err
	}
	m, err := r.Manifest(ctx)
	if err != nil {
		return nil, err
	}
	if done := m.Find(o.ID); done != nil {
		return done, nil
	}
	sel, err := pathglob.New("volumes", o.Include, o.Exclude)
	if err != nil {
		return nil, err
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	newCutter, err := newCutters(m.ChunkerName(), r.key)
	if err != nil {
		return nil, err
	}
	readers := make([]*fileReader, o.Workers)
	for i := range readers {
		ch, err := newCutter()
		if err != nil {
			return nil, err
		}
		readers[i] = &fileReader{ch: ch}
	}
	if o.PackSize <= 0 {
		o.PackSize = DefaultPackSize
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	b := &backup{r: r, ctx: ctx, o: o, sel: sel, root: root, cancel: cancel,
		links: map[[2]uint64]archive.RawPath{}, uploads: make(chan *archive.PackWriter, 1)}
	ref := &archive.VolumeSnapshotRef{ID: o.ID, Volume: o.Volume, Run: o.Run, Claim: o.Claim, Prefix: prefix, Started: time.Now().UTC(), Encrypted: r.key != nil}

	var uploaders sync.WaitGroup
	for range 2 {
		uploaders.Add(1)
		go func() {
			defer uploaders.Done()
			for p := range b.uploads {
				b.fail(b.upload(p))
			}
		}()
	}
	work := make(chan *item, 64)
	order := make(chan *item, 4096)
	var workers sync.WaitGroup
	for _, w := range readers {
		workers.Add(1)
		w.b = b
		go func() {
			defer workers.Done()
			for it := range work {
				if ctx.Err() == nil {
					w.read(it)
				}
				close(it.done)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(work)
		b.fail(b.walk(".", root, func(it *item) {
			if it.done != nil {
				work <- it
			}
			order <- it
		}))
	}()

	tree := archive.NewLinesWriter(r.key, func(name string, doc []byte) error {
		b.stored.Add(int64(len(doc)))
		return r.store.Put(ctx, prefix+name, doc)
	})
	if o.OnProgress != nil {
		defer every(o.ProgressEvery, func() {
			o.OnProgress(Progress{Entries: int(b.entries.Load()), Files: int(b.files.Load()), Bytes: b.bytes.Load(), Added: b.stored.Load()})
		})()
	}
	for it := range order {
		if it.done != nil {
			<-it.done
		}
		if ctx.Err() != nil {
			continue // drain: the walker and workers stop on the cancelled context
		}
		if it.warn != "" {
			ref.WarningCount++
			if len(ref.Warnings) < maxWarnings {
				ref.Warnings = append(ref.Warnings, it.warn)
			}
		}
		if it.skip {
			continue
		}
		ref.Entries++
		if it.e.Type == archive.VFile {
			ref.Files++
		}
		b.fail(tree.Add(&it.e))
		b.entries.Store(int64(ref.Entries))
		b.files.Store(int64(ref.Files))
	}
	workers.Wait()
	b.packMu.Lock()
	if b.pack != nil && b.pack.Len() > 0 && ctx.Err() == nil {
		b.uploads <- b.pack
	}
	b.pack = nil
	b.packMu.Unlock()
	close(b.uploads)
	uploaders.Wait()
	if b.err != nil {
		return nil, b.err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := tree.Flush(); err != nil {
		return nil, err
	}
	ref.Tree = tree.Chunks
	if packs := append(r.orphans, b.added...); len(packs) > 0 {
		ix := &archive.VolumeIndex{Format: archive.VolumeSnapshotFormat, Packs: packs}
		doc, err := archive.EncodeVolumeIndex(ix, r.key)
		if err != nil {
			return nil, err
		}
		ref.Index = r.layout.Index(o.ID)
		if err := r.store.Put(ctx, ref.Index, doc); err != nil {
			return nil, err
		}
		b.stored.Add(int64(len(doc)))
		r.orphans = nil
	}
	ref.Bytes, ref.Added = b.bytes.Load(), b.stored.Load()
	ref.Finished = time.Now().UTC()
	m.Snapshots = append(m.Snapshots, *ref)
	mb, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := r.store.Put(ctx, r.layout.Manifest(), mb); err != nil {
		return nil, err
	}
	return ref, nil
}

// fail keeps the first error and stops the backup.
func (b *backup) fail(err error) {
	if err == nil {
		return
	}
	b.errOnce.Do(func() {
		b.err = err
		b.cancel()
	})
}

// walk emits rel (at abs) and, for a directory, everything below it, in byte order of names.
func (b *backup) walk(rel, abs string, emit func(*item)) error {
	if err := b.ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil {
		if rel == "." {
			return fmt.Errorf("volume root %s: %w", abs, err)
		}
		emit(&item{skip: true, warn: fmt.Sprintf("%s: vanished during the backup", rel)})
		return nil
	}
	glob := "/" + filepath.ToSlash(rel)
	if rel == "." {
		glob = "/"
	}
	it := &item{abs: abs, e: archive.VEntry{Path: archive.RawPath(rel), Mode: st.Mode & 07777, UID: st.Uid, GID: st.Gid,
		Mtime: st.Mtim.Nano()}}
	isDir := st.Mode&unix.S_IFMT == unix.S_IFDIR
	if !(isDir && b.sel.Descends(glob)) && !b.sel.Takes(glob) {
		return nil
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		it.e.Type = archive.VDir
	case unix.S_IFREG:
		it.e.Type = archive.VFile
		if st.Nlink > 1 {
			k := [2]uint64{st.Dev, st.Ino}
			if first, ok := b.links[k]; ok {
				it.e.Type, it.e.Link = archive.VHardlink, first
				break
			}
			b.links[k] = it.e.Path
		}
		it.done = make(chan struct{})
	case unix.S_IFLNK:
		it.e.Type = archive.VSymlink
		target, err := os.Readlink(abs)
		if err != nil {
			emit(&item{skip: true, warn: fmt.Sprintf("%s: vanished during the backup", rel)})
			return nil
		}
		it.e.Target = archive.RawPath(target)
	case unix.S_IFIFO:
		it.e.Type, it.warn = archive.VFIFO, fmt.Sprintf("%s: a FIFO, recorded without content", rel)
	case unix.S_IFCHR, unix.S_IFBLK:
		it.e.Type, it.e.Rdev = archive.VCharDev, st.Rdev
		if st.Mode&unix.S_IFMT == unix.S_IFBLK {
			it.e.Type = archive.VBlockDev
		}
		it.warn = fmt.Sprintf("%s: a device file, recorded without content", rel)
	case unix.S_IFSOCK:
		it.e.Type, it.warn = archive.VSocket, fmt.Sprintf("%s: a socket, recorded without content", rel)
	}
	// A directory on the way to included paths is recorded too, so the restore gives it its
	// owner and mode.
	emit(it)
	if !isDir {
		return nil
	}
	names, err := readNames(abs)
	if err != nil {
		if rel != "." && errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return fmt.Errorf("%s: read directory: %w", rel, err)
	}
	for _, n := range names {
		if err := b.walk(filepath.Join(rel, n), filepath.Join(abs, n), emit); err != nil {
			return err
		}
	}
	return nil
}

func readNames(dir string) ([]string, error) {
	f, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	names, err := f.Readdirnames(-1)
	sort.Strings(names)
	return names, err
}

// fileReader reads files into chunks; one per worker.
type fileReader struct {
	b   *backup
	ch  cutter
	enc []byte
}

// fileHook, in tests, runs before a file is opened ("open") and after it was first stat'ed
// ("stat"), to make it vanish or change at the worst moment.
var fileHook func(stage, abs string)

func (w *fileReader) read(it *item) {
	rel := string(it.e.Path)
	if fileHook != nil {
		fileHook("open", it.abs)
	}
	f, err := os.OpenFile(it.abs, os.O_RDONLY|unix.O_NOFOLLOW, 0)
	if err != nil {
		it.skip = true
		switch {
		case errors.Is(err, os.ErrNotExist):
			it.warn = fmt.Sprintf("%s: vanished during the backup", rel)
		default:
			it.warn = fmt.Sprintf("%s: unreadable, left out: %v", rel, err)
		}
		return
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
		it.skip, it.warn = true, fmt.Sprintf("%s: changed into something other than a file during the backup", rel)
		return
	}
	it.e.Size, it.e.Mode, it.e.UID, it.e.GID, it.e.Mtime = st.Size, st.Mode&07777, st.Uid, st.Gid, st.Mtim.Nano()
	if fileHook != nil {
		fileHook("stat", it.abs)
	}
	var rd io.Reader = io.NewSectionReader(f, 0, st.Size)
	if st.Size > 0 && st.Blocks*512 < st.Size {
		ext, err := dataExtents(f, st.Size)
		if err != nil {
			it.skip, it.warn = true, fmt.Sprintf("%s: unreadable, left out: %v", rel, err)
			return
		}
		it.e.Extents = ext
		rs := make([]io.Reader, len(ext))
		for i, e := range ext {
			rs[i] = io.NewSectionReader(f, e[0], e[1])
		}
		rd = io.MultiReader(rs...)
	}
	w.ch.Reset(rd)
	for {
		data, err := w.ch.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			it.skip, it.warn = true, fmt.Sprintf("%s: unreadable, left out: %v", rel, err)
			return
		}
		id := archive.ChunkID(sha256.Sum256(data))
		it.e.Chunks = append(it.e.Chunks, archive.VChunk{ID: id, Len: uint32(len(data))})
		w.b.bytes.Add(int64(len(data)))
		if w.b.r.claim(id) {
			w.enc = archive.EncodeBlob(w.enc, data, w.b.r.enc)
			w.b.add(id, len(data), w.enc)
		}
	}
	if it.e.Chunks != nil {
		h := archive.ContentHash(it.e.Chunks)
		it.e.Hash = &h
	}
	var after unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &after); err == nil && (after.Size != st.Size || after.Mtim != st.Mtim) {
		it.warn = fmt.Sprintf("%s: changed during the backup; stored as read", rel)
	}
}

// add puts a blob into the open pack, handing the pack to the uploaders when it is full.
func (b *backup) add(id archive.ChunkID, raw int, blob []byte) {
	b.packMu.Lock()
	defer b.packMu.Unlock()
	if b.pack != nil && b.pack.Size()+len(blob) > b.o.PackSize {
		// Full: a pack stays within PackSize (a lone larger chunk gets a pack of its own),
		// so its buffer never grows past what it was given.
		select {
		case b.uploads <- b.pack:
		case <-b.ctx.Done():
		}
		b.pack = nil
	}
	if b.pack == nil {
		p, err := archive.NewPackWriter(b.r.key, max(b.o.PackSize, len(blob))+packSlack)
		if err != nil {
			b.fail(err)
			return
		}
		b.pack = p
	}
	b.pack.Add(id, raw, blob)
}

// packSlack is room for the seals and the table after a pack's blobs.
const packSlack = 256 << 10

// upload stores a full pack and makes its chunks known.
func (b *backup) upload(p *archive.PackWriter) error {
	obj, name, blobs, err := p.Finish()
	if err != nil {
		return err
	}
	if err := b.r.store.Put(b.ctx, b.r.layout.Pack(name), obj); err != nil {
		return err
	}
	b.stored.Add(int64(len(obj)))
	ip := archive.IndexPack{Name: name, Size: int64(len(obj)), Blobs: blobs}
	b.r.mu.Lock()
	b.r.add(ip)
	b.added = append(b.added, ip)
	b.r.mu.Unlock()
	return nil
}

// dataExtents lists a sparse file's data ranges with SEEK_DATA and SEEK_HOLE.
func dataExtents(f *os.File, size int64) ([][2]int64, error) {
	var out [][2]int64
	fd := int(f.Fd())
	for off := int64(0); off < size; {
		data, err := unix.Seek(fd, off, unix.SEEK_DATA)
		if errors.Is(err, unix.ENXIO) {
			break // nothing but a hole up to the end
		}
		if err != nil {
			return nil, fmt.Errorf("seek data: %w", err)
		}
		hole, err := unix.Seek(fd, data, unix.SEEK_HOLE)
		if err != nil {
			return nil, fmt.Errorf("seek hole: %w", err)
		}
		hole = min(hole, size)
		if hole > data {
			out = append(out, [2]int64{data, hole - data})
		}
		off = hole
	}
	if out == nil {
		out = [][2]int64{} // all hole: still sparse
	}
	return out, nil
}
