package archive

import (
	"bytes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"io"
	"time"
	"unicode/utf8"

	"github.com/klauspost/compress/zstd"
)

// VolumeSnapshotFormat is the version of a volume backup's packs, indexes and trees, documented
// in docs/format.md.
const VolumeSnapshotFormat = 1

// VolumeManifestFormat is the newest version of a volume backup's manifest. Format 1 names no
// chunker (its backups cut files with ChunkerRabin); format 2 names the chunker.
const VolumeManifestFormat = 2

// Chunkers: how a volume backup cuts files into chunks. A backup keeps cutting as its manifest
// says it started, so a later snapshot finds the chunks of earlier ones; a new backup takes
// ChunkerFastCDC. Both cut between 512 KiB and 8 MiB.
const (
	// ChunkerRabin is github.com/restic/chunker's Rabin fingerprint, about 1 MiB on average,
	// its polynomial derived from the key (manifest format 1).
	ChunkerRabin = "rabin-v1"
	// ChunkerFastCDC is FastCDC with normalised chunking (github.com/PlakarKorp/go-cdc-chunkers,
	// "fastcdc-v1.0.0"), 1 MiB normal size, its Gear table keyed from the key: about twice as
	// fast as ChunkerRabin (manifest format 2).
	ChunkerFastCDC = "fastcdc-v1"
)

// A volume backup is a repository of content-defined chunks shared by all its snapshots:
//
//	packs/<2 hex>/<SHA-256 of the pack>   many chunks in one object (PackWriter)
//	index/<snapshot id>                   document: the packs a snapshot added and their chunks
//	snapshots/<id>/<n:06d>.jsonl.zst      document: the snapshot's tree as JSON lines (VEntry)
//	manifest.json                         the snapshots, each naming its tree documents
//
// A chunk is stored once, whichever file or snapshot holds it; a snapshot exists only once the
// manifest names it. Packs carry their own table of chunks, so a pack whose index was never
// written (the backup died) is still usable by the next backup.

// ChunkID is the SHA-256 of a chunk's plaintext.
type ChunkID [32]byte

// MarshalText writes the id in hex.
func (c ChunkID) MarshalText() ([]byte, error) { return []byte(hex.EncodeToString(c[:])), nil }

// UnmarshalText reads an id written by MarshalText.
func (c *ChunkID) UnmarshalText(b []byte) error {
	if len(b) != 64 {
		return fmt.Errorf("chunk id %q: want 64 hex digits", b)
	}
	_, err := hex.Decode(c[:], b)
	return err
}

// String is the id in hex.
func (c ChunkID) String() string { return hex.EncodeToString(c[:]) }

// RawPath is a file name or path as the file system has it: any bytes but NUL. JSON holds it as
// a string when it is valid UTF-8 and as {"b64": ...} otherwise, so no name is mangled.
type RawPath string

// MarshalJSON implements json.Marshaler.
func (p RawPath) MarshalJSON() ([]byte, error) {
	if utf8.ValidString(string(p)) {
		return json.Marshal(string(p))
	}
	return json.Marshal(struct {
		B64 string `json:"b64"`
	}{base64.StdEncoding.EncodeToString([]byte(p))})
}

// UnmarshalJSON implements json.Unmarshaler.
func (p *RawPath) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*p = RawPath(s)
		return nil
	}
	var v struct {
		B64 string `json:"b64"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	raw, err := base64.StdEncoding.DecodeString(v.B64)
	*p = RawPath(raw)
	return err
}

// Entry types of a volume snapshot's tree.
const (
	VFile     = "file"
	VDir      = "dir"
	VSymlink  = "symlink"
	VHardlink = "hardlink" // another name of an earlier file entry (Link)
	VFIFO     = "fifo"
	VCharDev  = "chardev"
	VBlockDev = "blockdev"
	VSocket   = "socket"
)

// VEntry is one entry of a snapshot's tree. Entries are in walk order: a directory before what
// it holds, names in byte order. Path is relative to the volume's root ("." is the root).
type VEntry struct {
	Path RawPath `json:"path"`
	Type string  `json:"type"`
	// Mode is the permission bits with setuid, setgid and sticky (07777), as stat reports them.
	Mode  uint32 `json:"mode"`
	UID   uint32 `json:"uid"`
	GID   uint32 `json:"gid"`
	Mtime int64  `json:"mtimeNs"`
	// Size is a file's length, holes included.
	Size int64 `json:"size,omitempty"`
	// Target is a symlink's target, as stored (not followed).
	Target RawPath `json:"target,omitempty"`
	// Link is, for a hard link, the path of the first entry of the same inode.
	Link RawPath `json:"link,omitempty"`
	// Rdev is a device file's device number.
	Rdev uint64 `json:"rdev,omitempty"`
	// Extents are the data ranges [offset, length] of a sparse file; the chunks hold their bytes
	// one after the other and everything else is a hole. Absent: the file is one range.
	Extents [][2]int64 `json:"extents,omitempty"`
	Chunks  []VChunk   `json:"chunks,omitempty"`
	// Hash is the SHA-256 of the file's chunk ids in order: it names the content, and
	// verify re-hashes every chunk against its id.
	Hash *ChunkID `json:"hash,omitempty"`
}

// VChunk is one chunk of a file's data.
type VChunk struct {
	ID  ChunkID `json:"id"`
	Len uint32  `json:"len"`
}

// ContentHash is VEntry.Hash for a file with these chunks.
func ContentHash(chunks []VChunk) ChunkID {
	h := sha256.New()
	for _, c := range chunks {
		h.Write(c.ID[:])
	}
	var id ChunkID
	h.Sum(id[:0])
	return id
}

// VolumeManifest lists a volume backup's snapshots, oldest first.
type VolumeManifest struct {
	Format int `json:"format"`
	// Chunker is how the backup cuts files (format 2; format 1 names none: ChunkerRabin).
	Chunker   string              `json:"chunker,omitempty"`
	Backup    string              `json:"backup"`
	Snapshots []VolumeSnapshotRef `json:"snapshots"`
}

// NewVolumeManifest is the manifest of a backup with no snapshot yet.
func NewVolumeManifest() *VolumeManifest {
	return &VolumeManifest{Format: VolumeManifestFormat, Chunker: ChunkerFastCDC}
}

// ChunkerName is how the backup cuts files.
func (m *VolumeManifest) ChunkerName() string {
	if m.Format == 1 {
		return ChunkerRabin
	}
	return m.Chunker
}

// VolumeSnapshotRef describes one snapshot of one volume.
type VolumeSnapshotRef struct {
	ID string `json:"id"`
	// Volume names what was backed up (the PVC's namespace/name, or a path).
	Volume string `json:"volume"`
	// Run is the resource snapshot this one belongs to (a ResourceBackup's run); Claim is
	// what a restore needs to create the claim again.
	Run      string       `json:"run,omitempty"`
	Claim    *VolumeClaim `json:"claim,omitempty"`
	Prefix   string       `json:"prefix"`
	Started  time.Time    `json:"started"`
	Finished time.Time    `json:"finished"`
	Entries  int          `json:"entries"`
	Files    int          `json:"files"`
	// Bytes is the files' data (holes excluded); Added is what this snapshot stored anew
	// (packs, index and tree).
	Bytes     int64 `json:"bytes"`
	Added     int64 `json:"added"`
	Encrypted bool  `json:"encrypted"`
	// Index is the key of the index document this snapshot wrote (empty: it added no pack).
	Index string   `json:"index,omitempty"`
	Tree  []ZChunk `json:"tree"`
	// Warnings are the first problems met (a file vanished, changed or was unreadable);
	// WarningCount counts them all.
	Warnings     []string `json:"warnings,omitempty"`
	WarningCount int      `json:"warningCount,omitempty"`
}

// VolumeClaim is a PersistentVolumeClaim's shape as it was backed up.
type VolumeClaim struct {
	Capacity     string   `json:"capacity,omitempty"`
	StorageClass string   `json:"storageClass,omitempty"`
	AccessModes  []string `json:"accessModes,omitempty"`
}

// VolumeIndex lists packs and the chunks each holds, in pack order.
type VolumeIndex struct {
	Format int         `json:"format"`
	Packs  []IndexPack `json:"packs"`
}

// IndexPack is one pack of an index.
type IndexPack struct {
	Name  string     `json:"name"`
	Size  int64      `json:"size"`
	Blobs []PackBlob `json:"blobs"`
}

// PackBlob locates one chunk in its pack; its position in the pack's table is its sequence
// number, which seals it.
type PackBlob struct {
	ID  ChunkID `json:"id"`
	Off uint32  `json:"off"`
	Len uint32  `json:"len"`
	Raw uint32  `json:"raw"`
}

// UnmarshalVolumeManifest parses and checks a manifest; name is used in errors.
func UnmarshalVolumeManifest(name string, b []byte) (*VolumeManifest, error) {
	var m VolumeManifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("volume manifest %s: %w", name, err)
	}
	switch {
	case m.Format == 1 && m.Chunker != "":
		return nil, fmt.Errorf("volume manifest %s: format 1 names no chunker, found %q", name, m.Chunker)
	case m.Format == 2 && m.Chunker != ChunkerRabin && m.Chunker != ChunkerFastCDC:
		return nil, fmt.Errorf("volume manifest %s: unsupported chunker %q", name, m.Chunker)
	case m.Format < 1 || m.Format > VolumeManifestFormat:
		return nil, fmt.Errorf("volume manifest %s: unsupported format %d", name, m.Format)
	}
	seen := map[string]bool{}
	for _, s := range m.Snapshots {
		if s.ID == "" || s.Prefix == "" || seen[s.ID] {
			return nil, fmt.Errorf("volume manifest %s: snapshot %q is unnamed or listed twice", name, s.ID)
		}
		seen[s.ID] = true
	}
	return &m, nil
}

// Find is the snapshot with id, or nil.
func (m *VolumeManifest) Find(id string) *VolumeSnapshotRef {
	for i := range m.Snapshots {
		if m.Snapshots[i].ID == id {
			return &m.Snapshots[i]
		}
	}
	return nil
}

// DecodeVolumeIndex opens an index document.
func DecodeVolumeIndex(name string, obj, key []byte) (*VolumeIndex, error) {
	doc, err := DecodeDocument(name, obj, key)
	if err != nil {
		return nil, err
	}
	var ix VolumeIndex
	if err := json.Unmarshal(doc, &ix); err != nil {
		return nil, &CorruptError{Object: name, Reason: "index is not valid JSON", Err: err}
	}
	if ix.Format != VolumeSnapshotFormat {
		return nil, &CorruptError{Object: name, Reason: fmt.Sprintf("unsupported index format %d", ix.Format)}
	}
	return &ix, nil
}

// DecodeVolumeTree checks a stored tree document against its manifest entry and returns its
// entries.
func DecodeVolumeTree(name string, obj []byte, c ZChunk, key []byte) ([]VEntry, error) {
	lines, err := decodeListed(name, obj, c, key, "entries")
	if err != nil {
		return nil, err
	}
	out := make([]VEntry, len(lines))
	for i, l := range lines {
		if err := json.Unmarshal(l, &out[i]); err != nil {
			return nil, &CorruptError{Object: name, Reason: fmt.Sprintf("line %d: %v", i+1, err)}
		}
	}
	return out, nil
}

// decodeListed checks a stored document of JSON lines against its manifest entry (SHA-256 of
// the object, line count) and returns its lines; what names the lines in errors.
func decodeListed(name string, obj []byte, c ZChunk, key []byte, what string) ([][]byte, error) {
	if LineHash(obj) != c.SHA256 {
		return nil, &CorruptError{Object: name, Reason: "SHA-256 differs from the manifest's"}
	}
	lines, err := DecodeChunk(name, obj, key)
	if err != nil {
		return nil, err
	}
	if len(lines) != c.Nodes {
		return nil, &CorruptError{Object: name, Reason: fmt.Sprintf("%d %s, the manifest says %d", len(lines), what, c.Nodes)}
	}
	return lines, nil
}

// Packs:
//
//	header   "ARKP" | version u8 | flags u8 | 0 u8 | 0 u8 | [keyID 8 | salt 32] | crc32c u32
//	blobs    each: codec u8 (0 none, 1 zstd) | data, sealed with AES-256-GCM when encrypted
//	         (nonce: the blob's sequence number; additional data: the header)
//	table    document (EncodeDocument): the JSON list of PackBlob
//	trailer  table length u32 | "ARKT"
//
// Blobs are compressed and sealed one by one, so a restore reads only the blobs it needs.
const (
	packMagic        = "ARKP"
	packTrailerMagic = "ARKT"
	blobRaw          = 0
	blobZstd         = 1
)

// PackWriter collects encoded blobs into one pack object in memory.
type PackWriter struct {
	key   []byte
	aead  cipher.AEAD
	hdr   []byte
	buf   []byte
	blobs []PackBlob
}

// NewPackWriter starts a pack; key encrypts (nil: plain).
func NewPackWriter(key []byte, capacity int) (*PackWriter, error) {
	hdr := []byte{packMagic[0], packMagic[1], packMagic[2], packMagic[3], FormatVersion, 0, 0, 0}
	p := &PackWriter{key: key}
	if key != nil {
		hdr[5] |= flagEncrypted
		id := KeyID(key)
		salt := make([]byte, encSaltSize)
		if _, err := io.ReadFull(rand.Reader, salt); err != nil {
			return nil, fmt.Errorf("read encryption salt: %w", err)
		}
		hdr = append(append(hdr, id[:]...), salt...)
		aead, err := objectAEAD(key, salt)
		if err != nil {
			return nil, err
		}
		p.aead = aead
	}
	p.hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	p.buf = append(make([]byte, 0, capacity), p.hdr...)
	return p, nil
}

// EncodeBlob compresses a chunk for Add when that makes it smaller. enc must be an encoder
// made for EncodeAll; dst is reused.
func EncodeBlob(dst, chunk []byte, enc *zstd.Encoder) []byte {
	dst = append(dst[:0], blobZstd)
	dst = enc.EncodeAll(chunk, dst)
	if len(dst) >= len(chunk)+1 {
		dst = append(dst[:0], blobRaw)
		dst = append(dst, chunk...)
	}
	return dst
}

// Add appends a blob made by EncodeBlob for the chunk id of raw bytes.
func (p *PackWriter) Add(id ChunkID, raw int, blob []byte) {
	off := len(p.buf)
	if p.aead != nil {
		var nonce [12]byte
		binary.BigEndian.PutUint64(nonce[4:], uint64(len(p.blobs)))
		p.buf = p.aead.Seal(p.buf, nonce[:], blob, p.hdr)
	} else {
		p.buf = append(p.buf, blob...)
	}
	p.blobs = append(p.blobs, PackBlob{ID: id, Off: uint32(off), Len: uint32(len(p.buf) - off), Raw: uint32(raw)})
}

// Size is the pack's size so far.
func (p *PackWriter) Size() int { return len(p.buf) }

// Len is the number of blobs added.
func (p *PackWriter) Len() int { return len(p.blobs) }

// Finish appends the table and trailer and returns the object, its name (the SHA-256 of the
// object in hex) and its blobs.
func (p *PackWriter) Finish() (obj []byte, name string, blobs []PackBlob, err error) {
	table, err := json.Marshal(p.blobs)
	if err != nil {
		return nil, "", nil, err
	}
	doc, err := EncodeDocument(table, p.key)
	if err != nil {
		return nil, "", nil, err
	}
	p.buf = append(p.buf, doc...)
	p.buf = binary.LittleEndian.AppendUint32(p.buf, uint32(len(doc)))
	p.buf = append(p.buf, packTrailerMagic...)
	sum := sha256.Sum256(p.buf)
	return p.buf, hex.EncodeToString(sum[:]), p.blobs, nil
}

// PackReader opens the blobs of a pack held whole in memory.
type PackReader struct {
	name string
	obj  []byte
	hdr  []byte
	aead cipher.AEAD
	dec  *zstd.Decoder
}

// OpenPack checks a pack's header and trailer. dec must be a decoder made for DecodeAll.
func OpenPack(name string, obj, key []byte, dec *zstd.Decoder) (*PackReader, error) {
	bad := func(pos int64, reason string, err error) error {
		return &CorruptError{Object: name, Pos: pos, Reason: reason, Err: err}
	}
	if len(obj) < headerBaseSize+4+8 || string(obj[:4]) != packMagic {
		return nil, bad(0, "not an Arkive pack (bad magic or too short)", nil)
	}
	if string(obj[len(obj)-4:]) != packTrailerMagic {
		return nil, bad(int64(len(obj)-4), "missing trailer (truncated pack)", nil)
	}
	if obj[4] != FormatVersion || obj[5]&^flagEncrypted != 0 {
		return nil, bad(4, fmt.Sprintf("unsupported pack header %x", obj[4:8]), nil)
	}
	hlen := headerBaseSize
	if obj[5]&flagEncrypted != 0 {
		hlen += KeyIDSize + encSaltSize
	}
	if len(obj) < hlen+4+8 || binary.LittleEndian.Uint32(obj[hlen:]) != crc32.Checksum(obj[:hlen], castagnoli) {
		return nil, bad(int64(hlen), "header checksum mismatch", nil)
	}
	r := &PackReader{name: name, obj: obj, hdr: obj[:hlen+4], dec: dec}
	if hlen > headerBaseSize {
		if key == nil {
			return nil, bad(0, "pack is encrypted and no key was given", ErrWrongKey)
		}
		if id := KeyID(key); !bytes.Equal(id[:], obj[headerBaseSize:headerBaseSize+KeyIDSize]) {
			return nil, bad(headerBaseSize, "the given key is not the one the pack was encrypted with", ErrWrongKey)
		}
		aead, err := objectAEAD(key, obj[headerBaseSize+KeyIDSize:hlen])
		if err != nil {
			return nil, err
		}
		r.aead = aead
	}
	return r, nil
}

// Table reads the pack's own list of blobs.
func (r *PackReader) Table(key []byte) ([]PackBlob, error) {
	n := int(binary.LittleEndian.Uint32(r.obj[len(r.obj)-8:]))
	if n <= 0 || n > len(r.obj)-len(r.hdr)-8 {
		return nil, &CorruptError{Object: r.name, Reason: "table length out of range"}
	}
	doc, err := DecodeDocument(r.name, r.obj[len(r.obj)-8-n:len(r.obj)-8], key)
	if err != nil {
		return nil, err
	}
	var blobs []PackBlob
	if err := json.Unmarshal(doc, &blobs); err != nil {
		return nil, &CorruptError{Object: r.name, Reason: "table is not valid JSON", Err: err}
	}
	return blobs, nil
}

// Blob returns the plaintext of blob seq of the pack, checked against its id.
func (r *PackReader) Blob(seq int, b PackBlob, dst []byte) ([]byte, error) {
	bad := func(reason string, err error) error {
		return &CorruptError{Object: r.name, Pos: int64(b.Off), Reason: reason, Err: err}
	}
	end := int(b.Off) + int(b.Len)
	if int(b.Off) < len(r.hdr) || end > len(r.obj)-8 {
		return nil, bad("blob lies outside the pack", nil)
	}
	data := r.obj[b.Off:end]
	if r.aead != nil {
		var nonce [12]byte
		binary.BigEndian.PutUint64(nonce[4:], uint64(seq))
		var err error
		if data, err = r.aead.Open(nil, nonce[:], data, r.hdr); err != nil {
			return nil, bad("blob fails authentication", err)
		}
	}
	if len(data) == 0 {
		return nil, bad("empty blob", nil)
	}
	var out []byte
	switch data[0] {
	case blobRaw:
		out = append(dst[:0], data[1:]...)
	case blobZstd:
		var err error
		if out, err = r.dec.DecodeAll(data[1:], dst[:0]); err != nil {
			return nil, bad("zstd", err)
		}
	default:
		return nil, bad(fmt.Sprintf("unknown blob codec %d", data[0]), nil)
	}
	if len(out) != int(b.Raw) || ChunkID(sha256.Sum256(out)) != b.ID {
		return nil, bad(fmt.Sprintf("chunk %s does not match its id", b.ID), nil)
	}
	return out, nil
}

// EncodeVolumeIndex stores an index as a document.
func EncodeVolumeIndex(ix *VolumeIndex, key []byte) ([]byte, error) {
	b, err := json.Marshal(ix)
	if err != nil {
		return nil, err
	}
	return EncodeDocument(b, key)
}

// LinesWriter collects JSON lines into documents of about ChunkTarget bytes, handing each full
// one to flush, and lists them as ZChunk (Nodes counts lines).
type LinesWriter struct {
	Chunks []ZChunk
	key    []byte
	flush  func(name string, doc []byte) error
	buf    bytes.Buffer
	lines  int
	bytes  int64
}

// NewLinesWriter starts a list of documents; key encrypts (nil: plain).
func NewLinesWriter(key []byte, flush func(name string, doc []byte) error) *LinesWriter {
	return &LinesWriter{key: key, flush: flush}
}

// Add stores v as one line.
func (w *LinesWriter) Add(v any) error {
	line, err := json.Marshal(v)
	if err != nil {
		return err
	}
	w.buf.Write(line)
	w.buf.WriteByte('\n')
	w.lines++
	if w.buf.Len() >= ChunkTarget {
		return w.Flush()
	}
	return nil
}

// Flush writes the open document, if it holds anything.
func (w *LinesWriter) Flush() error {
	if w.lines == 0 {
		return nil
	}
	doc, err := EncodeDocument(w.buf.Bytes(), w.key)
	if err != nil {
		return err
	}
	name := ChunkName(len(w.Chunks))
	if err := w.flush(name, doc); err != nil {
		return err
	}
	w.Chunks = append(w.Chunks, ZChunk{Name: name, Nodes: w.lines, SHA256: LineHash(doc)})
	w.bytes += int64(len(doc))
	w.buf.Reset()
	w.lines = 0
	return nil
}

// Bytes is the stored size of the documents flushed so far.
func (w *LinesWriter) Bytes() int64 { return w.bytes }
