package archive

import (
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/klauspost/compress/zstd"
)

// A zstd stream needs an encoder with its own history and match tables: about 3 MiB at the
// default level, allocated and cleared for every segment. A shard of thousands of partitions
// writes thousands of small segments at once, and making their encoders cost more CPU than
// compressing them, most of it in the garbage collector (docs/benchmarks.md, many
// partitions). So a segment's compressed body starts as a buffer of pooled chunks: a body
// that ends within the window is compressed by one call to an encoder the process shares (one
// zstd frame over the same window, so the same ratio); a body that grows past the window
// takes a streaming encoder from a pool, which gets the buffer first and goes back to the pool
// at Close. Readers see a zstd stream either way.
//
// A streaming encoder holds about 6 MiB for as long as its segment is open, three times what
// a worker budgets per partition (kafka.CaptureBytesPerPartition). Busy partitions all stream,
// so a worker capped by --max-memory also caps how many streams it holds (SetZstdStreams).
// A body that outgrows the window while none is free ends its buffer as a frame of its own
// and buffers on: a stream of one-window frames, which any zstd reader reads as one stream,
// about 1 % larger on JSON since each frame starts without history (docs/benchmarks.md).
// Buffered bodies are budgeted too (SetZstdBodyBudget): a worker capturing thousands of
// partitions at once would otherwise hold up to a window for each; past the budget a body ends
// its buffer as a frame early.

// zstdWindow is the most a body buffers before it streams, and the window of its frames. Kafka
// records are small, so a larger window finds little more to reuse, and a capped worker holds
// one such buffer per partition it writes.
const zstdWindow = 1 << 20

// zstdStreamWindow is a streaming encoder's window. The encoder spends about a tenth less CPU
// per byte at 2 MiB than at 1 MiB, for the same ratio (docs/benchmarks.md, #20); streams are
// few and counted (SetZstdStreams), so their extra 2 MiB of history is too.
const zstdStreamWindow = 2 << 20

// ZstdStreamBytes is about the most memory one streaming encoder holds (its history of two
// windows, match tables and block buffers), for budgeting SetZstdStreams.
const ZstdStreamBytes = 6 << 20

var (
	zstdStreamCap  atomic.Int64 // 0: no cap
	zstdStreamsNow atomic.Int64
	zstdBodyBudget atomic.Int64 // 0: no budget
	zstdBodyBytes  atomic.Int64 // what every buffered body holds now, in chunks
)

// zstdMinFrame is the least a body buffers before the body budget makes it a frame: frames of
// less compress too poorly (docs/benchmarks.md), and the budget may be overdrawn by this much
// per body.
const zstdMinFrame = 64 << 10

// SetZstdBodyBudget caps the uncompressed bytes all buffered bodies of this process hold
// together; n ≤ 0 removes the cap. A body that holds at least zstdMinFrame when the budget is
// spent ends its buffer as a frame, as when no stream is free. Without it a worker capturing
// thousands of partitions at once holds up to the window for each (2,000 MiB at 2,000).
func SetZstdBodyBudget(n int64) { zstdBodyBudget.Store(max(0, n)) }

// ZstdBodyBudget is the budget SetZstdBodyBudget set; 0 for none.
func ZstdBodyBudget() int64 { return zstdBodyBudget.Load() }

// overBudget says whether buffering p more would overspend the process's body budget.
func overBudget(p int) bool {
	budget := zstdBodyBudget.Load()
	return budget > 0 && zstdBodyBytes.Load()+int64(p) > budget
}

// bodyCount is what one body has counted in zstdBodyBytes. A body gives it back when it lets
// go of its chunks; a body dropped without Close or discard gives it back when collected.
type bodyCount struct{ n atomic.Int64 }

func (c *bodyCount) release() { zstdBodyBytes.Add(-c.n.Swap(0)) }

// streamSlot is one counted streaming encoder. A body gives it back at Close or discard; a
// body dropped without either gives it back when collected, so a forgotten writer cannot
// shrink the process's streams for good.
type streamSlot struct{ held atomic.Bool }

func (s *streamSlot) release() {
	if s.held.CompareAndSwap(true, false) {
		zstdStreamsNow.Add(-1)
	}
}

// SetZstdStreams caps the streaming zstd encoders this process holds at once; n ≤ 0 removes
// the cap. It is the process's setting (the worker sets it from its memory limit): bodies
// already streaming keep their encoders.
func SetZstdStreams(n int) { zstdStreamCap.Store(int64(max(0, n))) }

// ZstdStreams is the cap SetZstdStreams set; 0 for none.
func ZstdStreams() int { return int(zstdStreamCap.Load()) }

// takeStream counts one more streaming encoder, unless the cap is reached.
func takeStream() bool {
	for {
		now, limit := zstdStreamsNow.Load(), zstdStreamCap.Load()
		if limit > 0 && now >= limit {
			return false
		}
		if zstdStreamsNow.CompareAndSwap(now, now+1) {
			return true
		}
	}
}

type zstdKey struct {
	level zstd.EncoderLevel
	crc   bool
}

func (k zstdKey) options(concurrency, window int) []zstd.EOption {
	return []zstd.EOption{zstd.WithEncoderLevel(k.level), zstd.WithEncoderConcurrency(concurrency), zstd.WithEncoderCRC(k.crc),
		zstd.WithWindowSize(window)}
}

var (
	zstdShared  sync.Map // zstdKey → *zstd.Encoder, for EncodeAll from any goroutine
	zstdStreams sync.Map // zstdKey → *sync.Pool of streaming *zstd.Encoder
	zstdChunks  = sync.Pool{New: func() any { b := make([]byte, 0, zstdChunk); return &b }}
	// zstdScratch holds the contiguous copies that bodies of more than one chunk are
	// compressed from, and their output: one per core, so thousands of segments closing at
	// once wait for one rather than each holding a window's worth.
	zstdScratch = make(chan *scratch, runtime.GOMAXPROCS(0))
)

// zstdChunk is the piece a buffered body grows by. Chunks, rather than one slice that grows,
// because growing copied and cleared every body two or three times over, and a body holds no
// more than a chunk beyond what was written (docs/benchmarks.md, many partitions).
const zstdChunk = 32 << 10

type scratch struct{ in, out []byte }

func init() {
	for range cap(zstdScratch) {
		zstdScratch <- &scratch{}
	}
}

// sharedZstd is the process's EncodeAll encoder for k: as many block encoders as there are
// cores, so compressing segments on every core does not wait.
func sharedZstd(k zstdKey) (*zstd.Encoder, error) {
	if e, ok := zstdShared.Load(k); ok {
		return e.(*zstd.Encoder), nil
	}
	e, err := zstd.NewWriter(nil, k.options(runtime.GOMAXPROCS(0), zstdWindow)...)
	if err != nil {
		return nil, err
	}
	actual, _ := zstdShared.LoadOrStore(k, e)
	return actual.(*zstd.Encoder), nil
}

func streamPool(k zstdKey) *sync.Pool {
	if p, ok := zstdStreams.Load(k); ok {
		return p.(*sync.Pool)
	}
	p, _ := zstdStreams.LoadOrStore(k, &sync.Pool{})
	return p.(*sync.Pool)
}

// lazyZstd is the io.WriteCloser of a zstd body (see above).
type lazyZstd struct {
	w      io.Writer
	key    zstdKey
	chunks []*[]byte     // what was written while the body is within the window
	stream *zstd.Encoder // set once the body outgrew the window and a stream was free
	slot   *streamSlot   // the stream's count
	frames int           // frames written from the buffer (no stream was free, or the budget was spent)
	count  *bodyCount    // the chunks' share of zstdBodyBytes
	closed bool
}

func newLazyZstd(w io.Writer, level zstd.EncoderLevel, crc bool) (*lazyZstd, error) {
	// Made up front, so option errors surface here rather than at the first write.
	if _, err := sharedZstd(zstdKey{level, crc}); err != nil {
		return nil, err
	}
	return &lazyZstd{w: w, key: zstdKey{level, crc}}, nil
}

func (z *lazyZstd) Write(p []byte) (int, error) {
	if z.stream != nil {
		return z.stream.Write(p)
	}
	n := len(p)
	if z.buffered() >= zstdMinFrame && overBudget(len(p)) {
		if err := z.frame(); err != nil {
			return 0, err
		}
	}
	for z.buffered()+len(p) > zstdWindow {
		if takeStream() {
			if err := z.startStream(); err != nil {
				return 0, err
			}
			if _, err := z.stream.Write(p); err != nil {
				return 0, err
			}
			return n, nil
		}
		// No stream free: the buffer, filled to the window, becomes a frame.
		room := zstdWindow - z.buffered()
		z.buffer(p[:room])
		p = p[room:]
		if err := z.frame(); err != nil {
			return 0, err
		}
	}
	z.buffer(p)
	return n, nil
}

// buffer appends p to the chunks; the caller keeps them within the window.
func (z *lazyZstd) buffer(p []byte) {
	for len(p) > 0 {
		if len(z.chunks) == 0 || len(*z.chunks[len(z.chunks)-1]) == zstdChunk {
			z.chunks = append(z.chunks, zstdChunks.Get().(*[]byte))
			if z.count == nil {
				z.count = &bodyCount{}
				runtime.AddCleanup(z, (*bodyCount).release, z.count)
			}
			z.count.n.Add(zstdChunk)
			zstdBodyBytes.Add(zstdChunk)
		}
		c := z.chunks[len(z.chunks)-1]
		k := min(len(p), zstdChunk-len(*c))
		*c = append(*c, p[:k]...)
		p = p[k:]
	}
}

// startStream moves the body onto a streaming encoder (counted by the caller's takeStream),
// which gets what was buffered first.
func (z *lazyZstd) startStream() error {
	z.slot = &streamSlot{}
	z.slot.held.Store(true)
	runtime.AddCleanup(z, (*streamSlot).release, z.slot)
	pool := streamPool(z.key)
	if e, ok := pool.Get().(*zstd.Encoder); ok {
		e.Reset(z.w)
		z.stream = e
	} else {
		e, err := zstd.NewWriter(z.w, z.key.options(1, zstdStreamWindow)...)
		if err != nil {
			z.slot.release()
			return err
		}
		z.stream = e
	}
	for _, c := range z.chunks {
		if _, err := z.stream.Write(*c); err != nil {
			return err
		}
	}
	z.release()
	return nil
}

// Close writes the frame's end (the last frame for a buffered body; an empty body is one
// empty frame). It does not close w.
func (z *lazyZstd) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	if z.stream != nil {
		err := z.stream.Close()
		z.endStream(err == nil) // an encoder whose Close failed is not reused
		return err
	}
	if len(z.chunks) == 0 && z.frames > 0 {
		return nil
	}
	return z.frame()
}

// frame compresses the buffer as one frame onto w with the shared encoder, and empties it.
func (z *lazyZstd) frame() error {
	defer z.release()
	enc, err := sharedZstd(z.key)
	if err != nil {
		return err
	}
	s := <-zstdScratch
	defer func() { zstdScratch <- s }()
	in := s.in[:0]
	if len(z.chunks) == 1 {
		in = *z.chunks[0]
	} else {
		for _, c := range z.chunks {
			in = append(in, *c...)
		}
		s.in = in
	}
	s.out = enc.EncodeAll(in, s.out[:0])
	z.frames++
	_, err = z.w.Write(s.out)
	return err
}

// discard lets go of the body unfinished: its buffer, and its stream, which is reset for the
// next body.
func (z *lazyZstd) discard() {
	if z.closed {
		return
	}
	z.closed = true
	if z.stream != nil {
		z.endStream(true)
	}
	z.release()
}

// endStream lets go of the body's stream and its count; reuse puts the encoder, reset, back in
// the pool.
func (z *lazyZstd) endStream(reuse bool) {
	if reuse {
		z.stream.Reset(nil) // let go of w
		streamPool(z.key).Put(z.stream)
	}
	z.stream = nil
	z.slot.release()
}

func (z *lazyZstd) release() {
	if z.count != nil {
		z.count.release()
	}
	for _, c := range z.chunks {
		*c = (*c)[:0]
		zstdChunks.Put(c)
	}
	z.chunks = nil
}

// buffered is how many bytes the chunks hold: every chunk but the last is full.
func (z *lazyZstd) buffered() int {
	if len(z.chunks) == 0 {
		return 0
	}
	return (len(z.chunks)-1)*zstdChunk + len(*z.chunks[len(z.chunks)-1])
}
