package archive

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"arkive.io/arkive/internal/testenv"
)

// With the process's streams capped, bodies past the window stream only while a stream is
// free; the others write one-window frames. Every body comes back byte for byte, no more than
// the cap ever stream at once, and the bodies held open take about a window each instead of a
// stream's 6 MiB: what lets a worker's --max-memory hold when all its partitions are busy.
func TestZstdStreamsCapped(t *testing.T) {
	defer SetZstdStreams(0)
	in := orderText(rand.New(rand.NewPCG(5, 6)), 4*zstdWindow-4096) // framed bodies end nearly a window full
	const bodies, capped = 24, 3
	heapPerBody := func(limit int) (float64, [][]byte) {
		SetZstdStreams(limit)
		outs := make([]*bytes.Buffer, bodies)
		ws := make([]*lazyZstd, bodies)
		for i := range ws {
			outs[i] = bytes.NewBuffer(make([]byte, 0, len(in)/2)) // counted before, not as the body's
			w, err := newCompressor(outs[i], Compression{Codec: CodecZstd, Level: 3})
			if err != nil {
				t.Fatal(err)
			}
			ws[i] = w.(*lazyZstd)
		}
		before := heapAlloc()
		for off := 0; off < len(in); off += 128 << 10 { // all bodies grow at once, as a shard's partitions do
			for _, w := range ws {
				if _, err := w.Write(in[off:min(off+128<<10, len(in))]); err != nil {
					t.Fatal(err)
				}
				if n, c := zstdStreamsNow.Load(), zstdStreamCap.Load(); c > 0 && n > c {
					t.Fatalf("%d streams at once, cap %d", n, c)
				}
			}
		}
		perBody := float64(heapAlloc()-before) / bodies / (1 << 20)
		streamed := 0
		for _, w := range ws {
			if w.stream != nil {
				streamed++
			}
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if limit > 0 && streamed != limit {
			t.Errorf("%d bodies streamed with a cap of %d", streamed, limit)
		}
		if n := zstdStreamsNow.Load(); n != 0 {
			t.Errorf("%d streams still counted after every body closed", n)
		}
		got := make([][]byte, bodies)
		for i, out := range outs {
			got[i] = out.Bytes()
			requireZstdBody(t, got[i], in, fmt.Sprintf("body %d (cap %d)", i, limit))
		}
		return perBody, got
	}
	uncapped, _ := heapPerBody(0)
	perBody, outs := heapPerBody(capped)
	t.Logf("heap per open body: %.2f MiB uncapped, %.2f MiB with %d of %d streaming", uncapped, perBody, capped, bodies)
	// A framed body holds at most its window; the streams are the cap's. Besides, the process
	// has its shared encoders and scratch buffers, made once per core.
	fixed := 8 * float64(runtime.GOMAXPROCS(0))
	if limit := fixed + bodies*1.25 + capped*float64(ZstdStreamBytes>>20); perBody*bodies > limit {
		t.Errorf("heap for %d open bodies %.1f MiB with the cap, want at most %.1f", bodies, perBody*bodies, limit)
	}
	if uncapped < 2*perBody {
		t.Errorf("heap per open body %.2f MiB uncapped, %.2f capped: the cap saved less than half", uncapped, perBody)
	}
	// The framed bodies cost a little ratio, not much: each frame starts without history.
	streamed, framed := len(outs[0]), len(outs[bodies-1])
	if float64(framed) > 1.05*float64(streamed) {
		t.Errorf("a framed body is %d bytes against %d streamed", framed, streamed)
	}
	t.Logf("stored: %d bytes streamed, %d framed (%+.2f %%)", streamed, framed, 100*(float64(framed)/float64(streamed)-1))
}

// A streaming body that is discarded, or dropped without Close or Discard, gives its stream
// back: a capture cancelled mid-segment must not leave the worker with fewer streams.
func TestZstdStreamsComeBack(t *testing.T) {
	defer SetZstdStreams(0)
	SetZstdStreams(1)
	in := orderText(rand.New(rand.NewPCG(7, 8)), zstdWindow+1)
	stream := func() *SegmentWriter {
		w, err := NewSegmentWriter(io.Discard, WriterOptions{Compression: Compression{Codec: CodecZstd}})
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; zstdStreamsNow.Load() == 0; i++ {
			if i > 100 {
				t.Fatal("the segment did not start a stream")
			}
			if err := w.Append(&Record{Offset: int64(i), Value: in[:zstdWindow/4]}); err != nil {
				t.Fatal(err)
			}
		}
		return w
	}
	stream().Discard()
	if n := zstdStreamsNow.Load(); n != 0 {
		t.Fatalf("%d streams counted after Discard", n)
	}
	func() { _ = stream() }() // dropped
	testenv.Eventually(t, 10*time.Second, "the dropped segment's stream given back", func() (bool, string) {
		runtime.GC()
		n := zstdStreamsNow.Load()
		return n == 0, fmt.Sprintf("%d streams counted", n)
	})
	w := stream()
	if _, err := w.Close(); err != nil {
		t.Fatal(err)
	}
	w.Discard() // after Close: nothing
	if n := zstdStreamsNow.Load(); n != 0 {
		t.Fatalf("%d streams counted after Close", n)
	}
}

// requireZstdBody fails the test unless body decompresses to want.
func requireZstdBody(t *testing.T, body, want []byte, what string) {
	t.Helper()
	r, err := newDecompressor(bytes.NewReader(body), CodecZstd)
	if err != nil {
		t.Fatal(err)
	}
	back, err := io.ReadAll(r)
	_ = r.Close()
	if err != nil || !bytes.Equal(back, want) {
		t.Fatalf("%s: %d bytes back of %d (%v)", what, len(back), len(want), err)
	}
}

// heapAlloc is the live heap after two collections (the second empties sync.Pools).
func heapAlloc() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// orderText is n bytes of JSON orders that vary as real ones do (zstd level 3 stores them at
// about a fifth), so ratios and window effects show as they would on a topic.
func orderText(rng *rand.Rand, n int) []byte {
	cities := []string{"Antwerp", "Berlin", "Dublin", "Ghent", "Lisbon", "Oslo", "Porto", "Vienna"}
	items := []string{"mouse", "keyboard", "USB-C cable", "monitor", "lamp", "chair", "notebook", "charger"}
	var b []byte
	for i := 0; len(b) < n; i++ {
		b = fmt.Appendf(b, `{"orderId":"%08x-%04x","customer":"cust-%06d","city":%q,"items":[{"sku":"SKU-%06d","name":%q,"qty":%d,"price":%d.%02d}],"note":"%x"}`+"\n",
			rng.Uint32(), rng.IntN(1<<16), rng.IntN(200_000), cities[rng.IntN(len(cities))], rng.IntN(1_000_000),
			items[rng.IntN(len(items))], 1+rng.IntN(5), rng.IntN(500), rng.IntN(100), rng.Uint64())
	}
	return b[:n]
}

// A segment and a document (a catalog page, a snapshot) larger than the window, written while
// no stream is free, are framed and read back the same, encrypted or not.
func TestZstdFramedObjects(t *testing.T) {
	defer SetZstdStreams(0)
	SetZstdStreams(1)
	held, err := newCompressor(io.Discard, Compression{Codec: CodecZstd})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := held.Write(orderText(rand.New(rand.NewPCG(9, 9)), zstdWindow+1)); err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if held.(*lazyZstd).stream == nil {
		t.Fatal("the first body did not take the one stream")
	}
	doc := orderText(rand.New(rand.NewPCG(9, 10)), 3*zstdWindow+17)
	for _, key := range [][]byte{nil, bytes.Repeat([]byte{7}, KeySize)} {
		var seg bytes.Buffer
		w, err := NewSegmentWriter(&seg, WriterOptions{Compression: Compression{Codec: CodecZstd}, Key: key})
		if err != nil {
			t.Fatal(err)
		}
		var recs []*Record
		for i, l := range bytes.SplitAfter(doc, []byte("\n")) {
			recs = append(recs, &Record{Offset: int64(i), Timestamp: int64(i), Value: l})
		}
		for _, r := range recs {
			if err := w.Append(r); err != nil {
				t.Fatal(err)
			}
		}
		if z := w.comp.(*lazyZstd); z.stream != nil || z.frames < 2 {
			t.Fatalf("the segment streamed or wrote %d frames, with no stream free", z.frames)
		}
		if _, err := w.Close(); err != nil {
			t.Fatal(err)
		}
		got, _, err := readSegment(seg.Bytes(), "framed", key)
		if err != nil {
			t.Fatalf("encrypted %v: %v", key != nil, err)
		}
		requireSameRecords(t, recs, got)
		obj, err := EncodeDocument(doc, key)
		if err != nil {
			t.Fatal(err)
		}
		back, err := DecodeDocument("doc", obj, key)
		if err != nil || !bytes.Equal(back, doc) {
			t.Fatalf("encrypted %v: %d bytes back of %d (%v)", key != nil, len(back), len(doc), err)
		}
	}
}

// With the process's body budget set, bodies that all grow at once (a shard of many busy
// partitions) hold no more together than the budget and an overdraft of zstdMinFrame and a
// chunk each; the rest is written as frames early. Every body comes back byte for byte, the
// count is back to zero once they close, and a dropped body gives its count back.
func TestZstdBodyBudget(t *testing.T) {
	defer SetZstdBodyBudget(0)
	in := orderText(rand.New(rand.NewPCG(11, 12)), 3*zstdWindow/4) // within the window: no stream
	const bodies, budget = 64, 8 << 20
	run := func(budget int64) (peak int64, stored int) {
		SetZstdBodyBudget(budget)
		outs := make([]*bytes.Buffer, bodies)
		ws := make([]*lazyZstd, bodies)
		for i := range ws {
			outs[i] = &bytes.Buffer{}
			w, err := newCompressor(outs[i], Compression{Codec: CodecZstd, Level: 3})
			if err != nil {
				t.Fatal(err)
			}
			ws[i] = w.(*lazyZstd)
		}
		for off := 0; off < len(in); off += 32 << 10 { // a block at a time, as a segment writes
			for _, w := range ws {
				if _, err := w.Write(in[off:min(off+32<<10, len(in))]); err != nil {
					t.Fatal(err)
				}
				peak = max(peak, zstdBodyBytes.Load())
			}
		}
		for _, w := range ws {
			if err := w.Close(); err != nil {
				t.Fatal(err)
			}
		}
		if n := zstdBodyBytes.Load(); n != 0 {
			t.Fatalf("%d body bytes still counted after every body closed", n)
		}
		for i, out := range outs {
			stored += out.Len()
			requireZstdBody(t, out.Bytes(), in, fmt.Sprintf("body %d (budget %d)", i, budget))
		}
		return peak, stored
	}
	free, freeStored := run(0)
	held, heldStored := run(budget)
	t.Logf("bodies held at most %.1f MiB without a budget, %.1f MiB with %d MiB; stored %d and %d bytes (%+.1f %%)",
		float64(free)/(1<<20), float64(held)/(1<<20), budget>>20, freeStored, heldStored, 100*(float64(heldStored)/float64(freeStored)-1))
	if free < bodies*int64(len(in)) {
		t.Fatalf("without a budget the bodies held %d bytes, less than their %d: the test shows nothing", free, bodies*len(in))
	}
	if limit := int64(budget + bodies*(zstdMinFrame+zstdChunk)); held > limit {
		t.Errorf("bodies held %d bytes with a budget of %d, want at most %d", held, budget, limit)
	}
	// Frames of about budget/bodies (128 KiB here) cost some ratio on these orders; a bound, so
	// that a budget that framed every block would show.
	if float64(heldStored) > 1.15*float64(freeStored) {
		t.Errorf("stored %d bytes with the budget against %d without", heldStored, freeStored)
	}

	SetZstdBodyBudget(budget)
	func() { // dropped without Close
		w, err := newCompressor(io.Discard, Compression{Codec: CodecZstd})
		if err != nil {
			t.Fatal(err)
		}
		_, _ = w.Write(in[:zstdWindow/2])
	}()
	testenv.Eventually(t, 10*time.Second, "the dropped body's bytes given back", func() (bool, string) {
		runtime.GC()
		n := zstdBodyBytes.Load()
		return n == 0, fmt.Sprintf("%d bytes counted", n)
	})
}
