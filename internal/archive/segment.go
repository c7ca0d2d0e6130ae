package archive

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
)

// Segment object layout (docs/format.md is the reference):
//
//	header   "ARKS" | version u8 | codec u8 | flags u8 | 0 u8 | [keyID 8 | salt 32] | crc32c u32
//	body     codec stream (sealed in chunks when encrypted) of:
//	           block*  = count u32 (>0) | len u32 | payload (count record frames) | crc32c u32
//	           end     = count u32 (=0) | len u32 (=0)
//	           footer  = "ARKF" | count u64 | first i64 | last i64 | minTs i64 | maxTs i64 |
//	                     payload bytes u64 | content crc32c u32 | footer crc32c u32
//	trailer  crc32c u32 of every stored byte between header and trailer | "ARKE"
//
// Records are grouped in blocks so the reader checks each block's CRC before it hands out any
// record of it: a corrupt object yields an error, never a wrong record. The codec stream runs
// across blocks, so grouping costs no compression ratio. The trailer covers the stored bytes
// themselves, so damage the codec would not notice (a gzip header's timestamp, say) is still
// reported.
const (
	segmentMagic   = "ARKS"
	footerMagic    = "ARKF"
	FormatVersion  = 1
	flagEncrypted  = 1 << 0
	headerBaseSize = 8
	footerSize     = 4 + 6*8 + 4 + 4
	trailerMagic   = "ARKE"
	trailerSize    = 8
	// DefaultBlockSize is how many bytes of record frames a block gathers before it is checked
	// and flushed; a larger record makes a block of its own.
	DefaultBlockSize = 128 << 10
	// maxBlockPayload bounds what a reader accepts for one block, so a corrupt length cannot
	// make it allocate without limit. Kafka records are far smaller.
	maxBlockPayload = 1 << 30
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Footer is the summary at the end of every segment.
type Footer struct {
	Count        int64
	FirstOffset  int64 // -1 when Count is 0
	LastOffset   int64 // -1 when Count is 0
	MinTimestamp int64
	MaxTimestamp int64
	PayloadBytes int64  // uncompressed bytes of record frames
	ContentCRC   uint32 // CRC32C over the blocks' CRC32Cs, in order: a fingerprint of the records
}

// emptyFooter is the starting point of a footer being accumulated.
func emptyFooter() Footer {
	return Footer{FirstOffset: -1, LastOffset: -1, MinTimestamp: math.MaxInt64, MaxTimestamp: math.MinInt64}
}

// add accounts for one record; offsets arrive in increasing order.
func (f *Footer) add(offset, timestamp int64) {
	if f.Count == 0 {
		f.FirstOffset = offset
	}
	f.Count++
	f.LastOffset = offset
	f.MinTimestamp = min(f.MinTimestamp, timestamp)
	f.MaxTimestamp = max(f.MaxTimestamp, timestamp)
}

// updateContentCRC folds one block's CRC into the content CRC. Chaining block CRCs instead of
// checksumming the payload twice keeps one pass over the data.
func updateContentCRC(content, block uint32) uint32 {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], block)
	return crc32.Update(content, castagnoli, b[:])
}

// CorruptError reports damage found while reading an object: where, and what.
type CorruptError struct {
	Object string // the object's key, as the caller named it
	Pos    int64  // byte position in the stored object at which the damage was detected
	Reason string
	Err    error // the underlying cause, when there is one
}

func (e *CorruptError) Error() string {
	name := e.Object
	if name == "" {
		name = "<unnamed>"
	}
	msg := fmt.Sprintf("segment %s: corrupt at byte %d: %s", name, e.Pos, e.Reason)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *CorruptError) Unwrap() error { return e.Err }

// ErrWrongKey is wrapped by errors from reading an object encrypted under another key.
var ErrWrongKey = errors.New("object is encrypted with a different key")

// WriterOptions configure a segment writer.
type WriterOptions struct {
	Compression Compression
	// Key, when set, encrypts the object with AES-256-GCM; it must be KeySize bytes.
	Key []byte
	// BlockSize overrides DefaultBlockSize.
	BlockSize int
	// Rand is the source of the per-object salt; nil means crypto/rand.
	Rand io.Reader
}

// SegmentWriter streams records into one segment object. Memory stays at one block plus the
// codec's window, whatever the segment's size.
type SegmentWriter struct {
	out       *countingWriter
	enc       *encryptWriter // nil when not encrypted
	comp      io.WriteCloser
	block     []byte
	blockSize int
	inBlock   uint64
	footer    Footer
	prevTs    int64
	crc       uint32
	closed    bool
	err       error
}

// NewSegmentWriter writes the header to w and returns a writer for the records. Close must be
// called to finish the object; it does not close w.
func NewSegmentWriter(w io.Writer, opts WriterOptions) (*SegmentWriter, error) {
	if err := opts.Compression.Validate(); err != nil {
		return nil, err
	}
	hdr := []byte{segmentMagic[0], segmentMagic[1], segmentMagic[2], segmentMagic[3], FormatVersion, byte(opts.Compression.Codec), 0, 0}
	var salt []byte
	if opts.Key != nil {
		if len(opts.Key) != KeySize {
			return nil, fmt.Errorf("encryption key must be %d bytes, got %d", KeySize, len(opts.Key))
		}
		hdr[6] |= flagEncrypted
		id := KeyID(opts.Key)
		hdr = append(hdr, id[:]...)
		salt = make([]byte, encSaltSize)
		src := opts.Rand
		if src == nil {
			src = rand.Reader
		}
		if _, err := io.ReadFull(src, salt); err != nil {
			return nil, fmt.Errorf("read encryption salt: %w", err)
		}
		hdr = append(hdr, salt...)
	}
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	sw := &SegmentWriter{out: &countingWriter{w: w}, blockSize: opts.BlockSize}
	if sw.blockSize <= 0 {
		sw.blockSize = DefaultBlockSize
	}
	if _, err := sw.out.Write(hdr); err != nil {
		return nil, fmt.Errorf("write segment header: %w", err)
	}
	sw.out.crcOn = true
	var body io.Writer = sw.out
	if opts.Key != nil {
		enc, err := newEncryptWriter(sw.out, opts.Key, salt, hdr)
		if err != nil {
			return nil, err
		}
		sw.enc, body = enc, enc
	}
	comp, err := newCompressor(body, opts.Compression)
	if err != nil {
		return nil, err
	}
	sw.comp = comp
	sw.block = newBlockBuf(sw.blockSize)
	sw.footer = emptyFooter()
	return sw, nil
}

// Append adds one record. Offsets must be non-negative and strictly increasing.
func (w *SegmentWriter) Append(r *Record) error {
	if w.err != nil {
		return w.err
	}
	if w.closed {
		return errors.New("append to closed segment writer")
	}
	if r.Offset < 0 || r.Offset <= w.footer.LastOffset {
		return fmt.Errorf("record offset %d: must be non-negative and greater than the previous offset %d", r.Offset, w.footer.LastOffset)
	}
	if r.TimestampType > LogAppendTime {
		return fmt.Errorf("record offset %d: unknown timestamp type %d", r.Offset, r.TimestampType)
	}
	b := w.block
	b = append(b, byte(r.TimestampType))
	b = binary.AppendUvarint(b, uint64(r.Offset-w.footer.LastOffset))
	b = binary.AppendVarint(b, r.Timestamp-w.prevTs)
	b = appendNullable(b, r.Key)
	b = appendNullable(b, r.Value)
	b = binary.AppendUvarint(b, uint64(len(r.Headers)))
	for _, h := range r.Headers {
		b = binary.AppendUvarint(b, uint64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendNullable(b, h.Value)
	}
	w.block = b
	w.inBlock++

	w.footer.add(r.Offset, r.Timestamp)
	w.prevTs = r.Timestamp
	if len(w.block)-blockHeaderSize >= w.blockSize {
		return w.flushBlock()
	}
	return nil
}

// appendNullable writes a length as a zigzag varint, -1 for null, then the bytes.
func appendNullable(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}

// blockHeaderSize is a block's count and length, which its buffer reserves in front of the
// record frames so that header, frames and CRC reach the codec in one write.
const blockHeaderSize = 8

func newBlockBuf(blockSize int) []byte {
	return make([]byte, blockHeaderSize, blockHeaderSize+blockSize+blockSize/8)
}

func (w *SegmentWriter) flushBlock() error {
	if w.inBlock == 0 {
		return nil
	}
	payload := w.block[blockHeaderSize:]
	crc := crc32.Checksum(payload, castagnoli)
	w.crc = updateContentCRC(w.crc, crc)
	w.footer.PayloadBytes += int64(len(payload))
	binary.LittleEndian.PutUint32(w.block[0:], uint32(w.inBlock))
	binary.LittleEndian.PutUint32(w.block[4:], uint32(len(payload)))
	if err := w.write(binary.LittleEndian.AppendUint32(w.block, crc)); err != nil {
		return err
	}
	w.inBlock = 0
	// Give back the memory of an outsized record so one large record does not pin it.
	if cap(w.block) > 4*w.blockSize {
		w.block = newBlockBuf(w.blockSize)
	} else {
		w.block = w.block[:blockHeaderSize]
	}
	return nil
}

func (w *SegmentWriter) write(p []byte) error {
	if _, err := w.comp.Write(p); err != nil {
		w.err = fmt.Errorf("write segment body: %w", err)
		return w.err
	}
	return nil
}

// Close writes the last block, the end marker and the footer, and flushes the codec and the
// encryption. It returns the footer. It does not close the underlying writer.
func (w *SegmentWriter) Close() (Footer, error) {
	if w.closed {
		return w.Footer(), w.err
	}
	w.closed = true
	if w.err != nil {
		w.discardCodec()
		return Footer{}, w.err
	}
	if err := w.flushBlock(); err != nil {
		return Footer{}, err
	}
	w.footer.ContentCRC = w.crc
	f := w.Footer()
	if err := w.write(appendFooter(make([]byte, 8, 8+footerSize), f)); err != nil {
		return Footer{}, err
	}
	if err := w.comp.Close(); err != nil {
		return Footer{}, fmt.Errorf("finish segment compression: %w", err)
	}
	if w.enc != nil {
		if err := w.enc.Close(); err != nil {
			return Footer{}, fmt.Errorf("finish segment encryption: %w", err)
		}
	}
	w.out.crcOn = false
	trailer := append(binary.LittleEndian.AppendUint32(nil, w.out.crc), trailerMagic...)
	if _, err := w.out.Write(trailer); err != nil {
		return Footer{}, fmt.Errorf("write segment trailer: %w", err)
	}
	return f, nil
}

// Discard lets go of a segment that will not be finished: the codec's buffers and any
// streaming encoder it holds (a capped worker has few, see SetZstdStreams). What was written
// to the underlying writer is an incomplete object. After Close it does nothing.
func (w *SegmentWriter) Discard() {
	if w.closed {
		return
	}
	w.closed = true
	w.err = errors.New("segment discarded")
	w.discardCodec()
}

func (w *SegmentWriter) discardCodec() {
	if d, ok := w.comp.(interface{ discard() }); ok {
		d.discard()
	}
}

// Footer is the summary so far; final after Close.
func (w *SegmentWriter) Footer() Footer {
	f := w.footer
	if f.Count == 0 {
		f.MinTimestamp, f.MaxTimestamp = 0, 0
	}
	return f
}

// StoredBytes is how many bytes have reached the underlying writer.
func (w *SegmentWriter) StoredBytes() int64 { return w.out.n }

func appendFooter(b []byte, f Footer) []byte {
	start := len(b)
	b = append(b, footerMagic...)
	b = binary.LittleEndian.AppendUint64(b, uint64(f.Count))
	for _, v := range []int64{f.FirstOffset, f.LastOffset, f.MinTimestamp, f.MaxTimestamp, f.PayloadBytes} {
		b = binary.LittleEndian.AppendUint64(b, uint64(v))
	}
	b = binary.LittleEndian.AppendUint32(b, f.ContentCRC)
	return binary.LittleEndian.AppendUint32(b, crc32.Checksum(b[start:], castagnoli))
}

// ReaderOptions configure a segment reader.
type ReaderOptions struct {
	// Name is the object's key; every error names it.
	Name string
	// Key decrypts an encrypted object. Reading an encrypted object without it is an error.
	Key []byte
	// OwnBlocks reads every block into memory of its own instead of reusing one buffer, so a
	// record's Key, Value and header values stay valid after Next and are the caller's to
	// change: a restore hands them to the producer without copying. The Record and its Headers
	// slice are still reused. A record kept this way keeps its whole block (128 KiB) alive.
	OwnBlocks bool
}

// SegmentReader streams the records of one segment object, checking every block before it
// hands out its records, and the footer, the end of the stream and the object at the end.
type SegmentReader struct {
	name    string
	src     *countingReader
	hold    *holdbackReader
	body    io.Reader // plaintext codec stream
	dec     io.ReadCloser
	spos    int64 // position in the record stream
	own     bool  // every block in a buffer of its own (ReaderOptions.OwnBlocks)
	block   []byte
	rest    []byte // unread part of the current block
	left    uint64 // records left in the current block
	rec     Record
	hdrs    []Header
	prevOff int64
	prevTs  int64
	seen    Footer
	crc     uint32
	footer  Footer
	err     error
}

// NewSegmentReader reads and checks the header of a segment object.
func NewSegmentReader(r io.Reader, opts ReaderOptions) (*SegmentReader, error) {
	sr := &SegmentReader{name: opts.Name, src: &countingReader{r: r}, prevOff: -1, own: opts.OwnBlocks}
	if !sr.own {
		sr.block = make([]byte, 0, DefaultBlockSize+DefaultBlockSize/4)
	}
	hdr, codec, encrypted, err := sr.readHeader()
	if err != nil {
		return nil, err
	}
	sr.hold = newHoldbackReader(sr.src)
	var body io.Reader = sr.hold
	if encrypted {
		if opts.Key == nil {
			return nil, sr.corrupt(0, "object is encrypted and no key was given", ErrWrongKey)
		}
		if len(opts.Key) != KeySize {
			return nil, fmt.Errorf("segment %s: encryption key must be %d bytes, got %d", sr.name, KeySize, len(opts.Key))
		}
		if id := KeyID(opts.Key); string(id[:]) != string(hdr[headerBaseSize:headerBaseSize+KeyIDSize]) {
			return nil, sr.corrupt(headerBaseSize, "the given key is not the one the object was encrypted with", ErrWrongKey)
		}
		d, err := newDecryptReader(sr.src, sr.hold, opts.Key, hdr[headerBaseSize+KeyIDSize:headerBaseSize+KeyIDSize+encSaltSize], hdr)
		if err != nil {
			return nil, err
		}
		body = d
	}
	sr.body = body
	dec, err := newDecompressor(body, codec)
	if err != nil {
		return nil, sr.wrap(err, "open "+codec.String()+" stream")
	}
	sr.dec = dec
	sr.seen = emptyFooter()
	return sr, nil
}

// readHeader reads and checks the object header; hdr includes its checksum.
func (sr *SegmentReader) readHeader() (hdr []byte, codec Codec, encrypted bool, err error) {
	hdr = make([]byte, headerBaseSize, headerBaseSize+KeyIDSize+encSaltSize+4)
	if _, err := io.ReadFull(sr.src, hdr); err != nil {
		return nil, 0, false, sr.wrap(err, "read header")
	}
	if string(hdr[:4]) != segmentMagic {
		return nil, 0, false, sr.corrupt(0, "not an Arkive segment (bad magic)", nil)
	}
	if hdr[4] != FormatVersion {
		return nil, 0, false, sr.corrupt(4, fmt.Sprintf("unsupported format version %d", hdr[4]), nil)
	}
	codec = Codec(hdr[5])
	flags := hdr[6]
	if _, ok := codecNames[codec]; !ok {
		return nil, 0, false, sr.corrupt(5, fmt.Sprintf("unknown codec %d", hdr[5]), nil)
	}
	if flags&^flagEncrypted != 0 || hdr[7] != 0 {
		return nil, 0, false, sr.corrupt(6, fmt.Sprintf("unknown header flags %#x", flags), nil)
	}
	encrypted = flags&flagEncrypted != 0
	if encrypted {
		hdr = hdr[:headerBaseSize+KeyIDSize+encSaltSize]
		if _, err := io.ReadFull(sr.src, hdr[headerBaseSize:]); err != nil {
			return nil, 0, false, sr.wrap(err, "read header")
		}
	}
	var sum [4]byte
	if _, err := io.ReadFull(sr.src, sum[:]); err != nil {
		return nil, 0, false, sr.wrap(err, "read header")
	}
	if binary.LittleEndian.Uint32(sum[:]) != crc32.Checksum(hdr, castagnoli) {
		return nil, 0, false, sr.corrupt(int64(len(hdr)), "header checksum mismatch", nil)
	}
	hdr = append(hdr, sum[:]...)
	return hdr, codec, encrypted, nil
}

// CheckSegmentObject checks a segment object's framing and the checksum of its stored bytes
// without decoding (and so without the encryption key), and returns its size. It catches a
// flipped, missing or added byte anywhere; NewSegmentReader checks everything else.
func CheckSegmentObject(r io.Reader, name string) (int64, error) {
	sr := &SegmentReader{name: name, src: &countingReader{r: r}}
	if _, _, _, err := sr.readHeader(); err != nil {
		return sr.src.n, err
	}
	hold := newHoldbackReader(sr.src)
	if _, err := io.Copy(io.Discard, hold); err != nil {
		return sr.src.n, sr.wrap(err, "read body")
	}
	if t := hold.trailer(); len(t) != trailerSize || string(t[4:]) != trailerMagic {
		return sr.src.n, sr.corrupt(sr.src.n, "missing or damaged trailer (truncated?)", nil)
	}
	if binary.LittleEndian.Uint32(hold.trailer()) != hold.checksum() {
		return sr.src.n, sr.corrupt(sr.src.n-trailerSize, "stored bytes checksum mismatch", nil)
	}
	return sr.src.n, nil
}

// Next returns the next record, or io.EOF once the footer and the end of the object have been
// checked. The record and its slices are valid until the next call; Clone what you keep.
func (r *SegmentReader) Next() (*Record, error) {
	if r.err != nil {
		return nil, r.err
	}
	for r.left == 0 {
		done, err := r.nextBlock()
		if err != nil {
			r.err = err
			return nil, err
		}
		if done {
			r.err = io.EOF
			return nil, io.EOF
		}
	}
	if err := r.parseRecord(); err != nil {
		r.err = err
		return nil, err
	}
	return &r.rec, nil
}

// Footer is the segment's footer, valid once Next has returned io.EOF.
func (r *SegmentReader) Footer() Footer { return r.footer }

// Close releases the decoder. It does not close the underlying reader.
func (r *SegmentReader) Close() error { return r.dec.Close() }

// nextBlock loads and checks the next block; done is true after the footer has been verified.
func (r *SegmentReader) nextBlock() (done bool, err error) {
	var hdr [8]byte
	if err := r.readFull(hdr[:], "block header"); err != nil {
		return false, err
	}
	count, n := uint64(binary.LittleEndian.Uint32(hdr[:])), uint64(binary.LittleEndian.Uint32(hdr[4:]))
	if count == 0 && n == 0 {
		return true, r.finish()
	}
	if n > maxBlockPayload || count == 0 || count > n/6 { // a record frame is at least 6 bytes
		return false, r.corrupt(r.src.n, fmt.Sprintf("implausible block of %d bytes for %d records", n, count), nil)
	}
	if err := r.readBlock(int(n) + 4); err != nil {
		return false, err
	}
	crc := binary.LittleEndian.Uint32(r.block[n:])
	r.block = r.block[:n]
	if crc != crc32.Checksum(r.block, castagnoli) {
		return false, r.corrupt(r.src.n, fmt.Sprintf("block checksum mismatch (record stream byte %d)", r.spos), nil)
	}
	r.crc = updateContentCRC(r.crc, crc)
	r.seen.PayloadBytes += int64(n)
	r.rest, r.left = r.block, count
	return false, nil
}

// readBlock reads n bytes, growing the buffer as data arrives so a corrupt length fails at the
// end of the data rather than by allocating n bytes up front.
func (r *SegmentReader) readBlock(n int) error {
	r.block = r.block[:0]
	if r.own {
		r.block = nil
	}
	for len(r.block) < n {
		step := min(n-len(r.block), 4<<20)
		if cap(r.block)-len(r.block) < step {
			grown := make([]byte, len(r.block), len(r.block)+max(step, cap(r.block)))
			copy(grown, r.block)
			r.block = grown
		}
		start := len(r.block)
		r.block = r.block[:start+step]
		if err := r.readFull(r.block[start:], "block"); err != nil {
			return err
		}
	}
	return nil
}

// parseSmall decodes the commonest record shape without a call per field: no headers, and
// every varint one byte but the value length (one or two). Most Kafka records look like this,
// and at a few nanoseconds a record the general path would cost more than the CRC does. It
// changes nothing and returns false when the record is of another shape.
func (r *SegmentReader) parseSmall() bool {
	p := r.rest
	if len(p) < 7 {
		return false
	}
	attr, od, ts, kz := p[0], p[1], p[2], p[3]
	// kz is the key's length as a zigzag varint: odd means negative, that is null (-1) or bad,
	// which the general path sorts out.
	if attr > byte(LogAppendTime) || od == 0 || od >= 0x80 || ts >= 0x80 || kz >= 0x80 || kz&1 != 0 {
		return false
	}
	kl := int(kz >> 1)
	p = p[4:]
	if len(p) < kl+3 {
		return false
	}
	key := p[:kl:kl]
	p = p[kl:]
	vz, k := uint64(p[0]), 1
	if vz >= 0x80 {
		if p[1] >= 0x80 {
			return false
		}
		vz, k = vz&0x7f|uint64(p[1])<<7, 2
	}
	if vz&1 != 0 {
		return false
	}
	vl := int(vz >> 1)
	if len(p) < k+vl+1 || p[k+vl] != 0 { // the value, then a header count of 0
		return false
	}
	rec := &r.rec
	rec.TimestampType = TimestampType(attr)
	rec.Key = key
	rec.Value = p[k : k+vl : k+vl]
	rec.Headers = nil
	rec.Offset = r.prevOff + int64(od)
	rec.Timestamp = r.prevTs + (int64(ts>>1) ^ -int64(ts&1))
	r.rest = p[k+vl+1:]
	return true
}

func (r *SegmentReader) parseRecord() error {
	if r.prevOff < math.MaxInt64-0x80 && r.parseSmall() {
		return r.recordDone()
	}
	return r.parseGeneral()
}

// parseGeneral decodes any record frame, checking every field.
func (r *SegmentReader) parseGeneral() error {
	p := r.rest
	if len(p) < 1 || p[0] > byte(LogAppendTime) {
		return r.badRecord("attributes")
	}
	rec := &r.rec
	rec.TimestampType = TimestampType(p[0])
	p = p[1:]
	delta, k := uvarint(p)
	if k <= 0 || delta == 0 || delta > math.MaxInt64-uint64(r.prevOff) {
		return r.badRecord("offset delta")
	}
	p = p[k:]
	tsDelta, k := varint(p)
	if k <= 0 {
		return r.badRecord("timestamp")
	}
	p = p[k:]
	var ok bool
	if rec.Key, p, ok = readNullable(p); !ok {
		return r.badRecord("key")
	}
	if rec.Value, p, ok = readNullable(p); !ok {
		return r.badRecord("value")
	}
	nh, k := uvarint(p)
	if k <= 0 || nh > uint64(len(p)) {
		return r.badRecord("header count")
	}
	p = p[k:]
	rec.Headers = nil
	if nh > 0 {
		r.hdrs = r.hdrs[:0]
		for range nh {
			kl, k := uvarint(p)
			if k <= 0 || kl > uint64(len(p)-k) {
				return r.badRecord("header key")
			}
			key := string(p[k : k+int(kl)])
			p = p[k+int(kl):]
			var v []byte
			if v, p, ok = readNullable(p); !ok {
				return r.badRecord("header value")
			}
			r.hdrs = append(r.hdrs, Header{Key: key, Value: v})
		}
		rec.Headers = r.hdrs
	}
	rec.Offset = r.prevOff + int64(delta)
	rec.Timestamp = r.prevTs + tsDelta
	r.rest = p
	return r.recordDone()
}

// recordDone accounts for the record just parsed into r.rec and checks where the block stands.
func (r *SegmentReader) recordDone() error {
	rec := &r.rec
	r.prevOff, r.prevTs = rec.Offset, rec.Timestamp
	r.left--
	if r.left == 0 && len(r.rest) != 0 {
		return r.badRecord("trailing bytes in block")
	}
	if r.left > 0 && len(r.rest) == 0 {
		return r.badRecord("block ends before its last record")
	}
	r.seen.add(rec.Offset, rec.Timestamp)
	return nil
}

func (r *SegmentReader) badRecord(what string) error {
	return r.corrupt(r.src.n, fmt.Sprintf("malformed record after offset %d: %s", r.prevOff, what), nil)
}

// uvarint and varint decode like encoding/binary with a fast path for one-byte values, which
// most deltas, lengths and counts are.
func uvarint(p []byte) (uint64, int) {
	if len(p) > 0 && p[0] < 0x80 {
		return uint64(p[0]), 1
	}
	return binary.Uvarint(p)
}

func varint(p []byte) (int64, int) {
	if len(p) > 0 && p[0] < 0x80 {
		u := uint64(p[0])
		return int64(u>>1) ^ -int64(u&1), 1
	}
	return binary.Varint(p)
}

func readNullable(p []byte) (v, rest []byte, ok bool) {
	n, k := varint(p)
	if k <= 0 || n < -1 || n > int64(len(p)-k) {
		return nil, nil, false
	}
	if n == -1 {
		return nil, p[k:], true
	}
	return p[k : k+int(n) : k+int(n)], p[k+int(n):], true
}

// finish reads the footer, checks it against what was read, and checks that nothing follows.
func (r *SegmentReader) finish() error {
	var b [footerSize]byte
	if err := r.readFull(b[:], "footer"); err != nil {
		return err
	}
	if string(b[:4]) != footerMagic || binary.LittleEndian.Uint32(b[footerSize-4:]) != crc32.Checksum(b[:footerSize-4], castagnoli) {
		return r.corrupt(r.src.n, "footer checksum mismatch", nil)
	}
	le := binary.LittleEndian
	f := Footer{
		Count: int64(le.Uint64(b[4:])), FirstOffset: int64(le.Uint64(b[12:])), LastOffset: int64(le.Uint64(b[20:])),
		MinTimestamp: int64(le.Uint64(b[28:])), MaxTimestamp: int64(le.Uint64(b[36:])), PayloadBytes: int64(le.Uint64(b[44:])),
		ContentCRC: le.Uint32(b[52:]),
	}
	seen := r.seen
	seen.ContentCRC = r.crc
	if seen.Count == 0 {
		seen.MinTimestamp, seen.MaxTimestamp = 0, 0
	}
	if f != seen {
		return r.corrupt(r.src.n, fmt.Sprintf("footer says %+v but the records say %+v", f, seen), nil)
	}
	// Nothing may follow the footer: not in the record stream, not in the codec stream.
	var one [1]byte
	if n, err := io.ReadFull(r.dec, one[:]); err != io.EOF {
		if n > 0 || err == nil {
			return r.corrupt(r.src.n, "data after the footer", nil)
		}
		return r.wrap(err, "after footer")
	}
	if n, err := io.Copy(io.Discard, r.body); err != nil || n > 0 {
		if err == nil {
			return r.corrupt(r.src.n, "data after the end of the compressed stream", nil)
		}
		return r.wrap(err, "after compressed stream")
	}
	// The body reader only reports EOF once the object is exhausted, so the trailer is known.
	t := r.hold.trailer()
	if len(t) != trailerSize || string(t[4:]) != trailerMagic {
		return r.corrupt(r.src.n, "missing or damaged trailer", nil)
	}
	if binary.LittleEndian.Uint32(t) != r.hold.checksum() {
		return r.corrupt(r.src.n-trailerSize, "stored bytes checksum mismatch", nil)
	}
	r.footer = f
	return nil
}

func (r *SegmentReader) readFull(p []byte, what string) error {
	n, err := io.ReadFull(r.dec, p)
	r.spos += int64(n)
	if err != nil {
		return r.wrap(err, "read "+what)
	}
	return nil
}

// wrap turns a read failure into an error naming the object: an I/O error of the underlying
// reader passes through as such; anything else (codec errors, early EOF) is corruption.
func (r *SegmentReader) wrap(err error, what string) error {
	var ce *CorruptError
	if errors.As(err, &ce) {
		if ce.Object == "" {
			ce.Object = r.name
		}
		return ce
	}
	if r.src.err != nil && !errors.Is(r.src.err, io.EOF) {
		return fmt.Errorf("segment %s: %s: %w", r.name, what, r.src.err)
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		// Not wrapped: callers test errors.Is(err, io.EOF) for a clean end, and a truncated
		// object must never look like one.
		return r.corrupt(r.src.n, what+": object is truncated", nil)
	}
	return r.corrupt(r.src.n, what, err)
}

func (r *SegmentReader) corrupt(pos int64, reason string, err error) error {
	return &CorruptError{Object: r.name, Pos: pos, Reason: reason, Err: err}
}

type countingWriter struct {
	w     io.Writer
	n     int64
	crcOn bool
	crc   uint32
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	if c.crcOn {
		c.crc = crc32.Update(c.crc, castagnoli, p[:n])
	}
	return n, err
}

// holdbackReader passes through all but the last trailerSize bytes of r; at the end of r the
// held bytes are the trailer. This lets the body be streamed without knowing its length. The
// bytes passed through are checksummed in bulk when the buffer is refilled.
type holdbackReader struct {
	r          io.Reader
	buf        []byte
	start, end int // unread bytes are buf[start:end]
	summed     int // buf[summed:start] was read but is not yet in crc
	crc        uint32
	eof        bool
}

func newHoldbackReader(r io.Reader) *holdbackReader {
	return &holdbackReader{r: r, buf: make([]byte, 32<<10)}
}

// fill makes more than trailerSize bytes available, unless r is exhausted.
func (h *holdbackReader) fill() error {
	for h.end-h.start <= trailerSize && !h.eof {
		h.crc = crc32.Update(h.crc, castagnoli, h.buf[h.summed:h.start])
		h.end = copy(h.buf, h.buf[h.start:h.end])
		h.start, h.summed = 0, 0
		n, err := h.r.Read(h.buf[h.end:])
		h.end += n
		if err == io.EOF {
			h.eof = true
		} else if err != nil {
			return err
		}
	}
	return nil
}

func (h *holdbackReader) Read(p []byte) (int, error) {
	if h.end-h.start <= trailerSize && !h.eof && len(p) >= len(h.buf) {
		return h.readDirect(p)
	}
	if err := h.fill(); err != nil {
		return 0, err
	}
	avail := h.end - h.start - trailerSize
	if avail <= 0 {
		return 0, io.EOF
	}
	n := copy(p, h.buf[h.start:h.start+avail])
	h.start += n
	return n, nil
}

// readDirect serves a read at least as large as the buffer straight from r into p: the held
// bytes first, then fresh ones, with the last trailerSize bytes put back into the buffer. Large
// reads (a codec's compressed blocks, an uncompressed segment's blocks) so skip copying every
// stored byte through the buffer.
func (h *holdbackReader) readDirect(p []byte) (int, error) {
	h.crc = crc32.Update(h.crc, castagnoli, h.buf[h.summed:h.start])
	n := copy(p, h.buf[h.start:h.end])
	h.start, h.end, h.summed = 0, 0, 0
	for n <= trailerSize {
		m, err := h.r.Read(p[n:])
		n += m
		if err == io.EOF {
			h.eof = true
			break
		} else if err != nil {
			h.end = copy(h.buf, p[:n])
			return 0, err
		}
	}
	if n <= trailerSize {
		h.end = copy(h.buf, p[:n])
		return 0, io.EOF
	}
	out := n - trailerSize
	h.end = copy(h.buf, p[out:n])
	h.crc = crc32.Update(h.crc, castagnoli, p[:out])
	return out, nil
}

// checksum is the CRC32C of every byte passed through so far.
func (h *holdbackReader) checksum() uint32 {
	h.crc = crc32.Update(h.crc, castagnoli, h.buf[h.summed:h.start])
	h.summed = h.start
	return h.crc
}

// trailer returns the held-back bytes; valid once Read has returned io.EOF.
func (h *holdbackReader) trailer() []byte { return h.buf[h.start:h.end] }

// countingReader counts the bytes read from the object and remembers the first error, so
// errors can say where they happened and tell I/O failures from corruption.
type countingReader struct {
	r   io.Reader
	n   int64
	err error
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if err != nil && c.err == nil {
		c.err = err
	}
	return n, err
}
