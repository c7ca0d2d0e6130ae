package archive

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/klauspost/compress/zstd"
)

// A zstd body comes back byte for byte whether it ended within the window (one frame from the
// shared encoder) or grew past it (a pooled streaming encoder), from many goroutines at once
// (the pools and the shared encoder are the process's), and a buffered body is no larger than
// the stream a fresh encoder writes for it (but for the few header bytes that give its size).
func TestZstdBodiesWithinAndPastTheWindow(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	words := []string{"order", "customer", "EUR", "shipped", "status", "\"sku\":", "1234", "{\"id\":", "Antwerp", "note"}
	text := func(n int) []byte {
		var b []byte
		for len(b) < n {
			b = append(b, words[rng.IntN(len(words))]...)
			b = append(b, byte('a'+rng.IntN(26)))
		}
		return b[:n]
	}
	sizes := []int{0, 1, 1000, zstdChunk - 1, zstdChunk, zstdChunk + 1, 5*zstdChunk + 7, zstdWindow - 1, zstdWindow, zstdWindow + 1, 3*zstdWindow + 12345}
	inputs := make([][]byte, len(sizes))
	for i, n := range sizes {
		inputs[i] = text(n)
	}
	for _, level := range []int{1, 3, 7} {
		for i, in := range inputs {
			t.Run(fmt.Sprintf("level-%d/%d-bytes", level, len(in)), func(t *testing.T) {
				var wg sync.WaitGroup
				outs := make([][]byte, 8)
				for g := range outs {
					wg.Add(1)
					go func() {
						defer wg.Done()
						outs[g] = compressBody(t, in, Compression{Codec: CodecZstd, Level: level}, 128<<10+g)
					}()
				}
				wg.Wait()
				for g, out := range outs {
					requireZstdBody(t, out, in, fmt.Sprintf("writer %d", g))
				}
				if sizes[i] <= zstdWindow && sizes[i] > 1000 {
					var ref bytes.Buffer
					w, err := zstd.NewWriter(&ref, zstd.WithEncoderLevel(zstd.EncoderLevelFromZstd(level)), zstd.WithEncoderConcurrency(1),
						zstd.WithEncoderCRC(false), zstd.WithWindowSize(zstdWindow))
					if err != nil {
						t.Fatal(err)
					}
					_, _ = w.Write(in)
					_ = w.Close()
					if len(outs[0]) > ref.Len()+16 { // the frame header names the content size
						t.Fatalf("one frame of %d bytes compressed to %d, a stream to %d", len(in), len(outs[0]), ref.Len())
					}
				}
			})
		}
	}
}

// compressBody writes in to a zstd body in pieces of piece bytes and closes it.
func compressBody(t *testing.T, in []byte, c Compression, piece int) []byte {
	var out bytes.Buffer
	w, err := newCompressor(&out, c)
	if err != nil {
		t.Error(err)
		return nil
	}
	for len(in) > 0 {
		n := min(piece, len(in))
		if _, err := w.Write(in[:n]); err != nil {
			t.Error(err)
			return nil
		}
		in = in[n:]
	}
	if err := w.Close(); err != nil {
		t.Error(err)
	}
	return out.Bytes()
}
