package archive

import (
	"io"
	"runtime"
	"sync"

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

// zstdWindow is the encoders' window, and the most a body buffers before it streams. Kafka
// records are small, so a larger window finds little more to reuse, and a worker holds one
// encoder per partition it writes.
const zstdWindow = 1 << 20

type zstdKey struct {
	level zstd.EncoderLevel
	crc   bool
}

func (k zstdKey) options(concurrency int) []zstd.EOption {
	return []zstd.EOption{zstd.WithEncoderLevel(k.level), zstd.WithEncoderConcurrency(concurrency), zstd.WithEncoderCRC(k.crc),
		zstd.WithWindowSize(zstdWindow)}
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
	e, err := zstd.NewWriter(nil, k.options(runtime.GOMAXPROCS(0))...)
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
	stream *zstd.Encoder // set once the body outgrew the window
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
	if z.buffered()+len(p) <= zstdWindow {
		for rest := p; len(rest) > 0; {
			if len(z.chunks) == 0 || len(*z.chunks[len(z.chunks)-1]) == zstdChunk {
				z.chunks = append(z.chunks, zstdChunks.Get().(*[]byte))
			}
			c := z.chunks[len(z.chunks)-1]
			n := min(len(rest), zstdChunk-len(*c))
			*c = append(*c, rest[:n]...)
			rest = rest[n:]
		}
		return len(p), nil
	}
	pool := streamPool(z.key)
	if e, ok := pool.Get().(*zstd.Encoder); ok {
		e.Reset(z.w)
		z.stream = e
	} else {
		e, err := zstd.NewWriter(z.w, z.key.options(1)...)
		if err != nil {
			return 0, err
		}
		z.stream = e
	}
	for _, c := range z.chunks {
		if _, err := z.stream.Write(*c); err != nil {
			return 0, err
		}
	}
	z.release()
	return z.stream.Write(p)
}

// Close writes the frame's end (the whole frame for a buffered body). It does not close w.
func (z *lazyZstd) Close() error {
	if z.closed {
		return nil
	}
	z.closed = true
	if z.stream != nil {
		err := z.stream.Close()
		if err == nil {
			z.stream.Reset(nil) // let go of w
			streamPool(z.key).Put(z.stream)
		}
		z.stream = nil
		return err
	}
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
	_, err = z.w.Write(s.out)
	return err
}

func (z *lazyZstd) release() {
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
