package archive

import (
	"errors"
	"io"
	"math/rand/v2"
	"testing"
)

// FuzzSegmentReader feeds arbitrary bytes to the reader: it must never panic, and whatever it
// accepts must be self-consistent (the footer it verified matches the records it returned).
// Run: go test ./internal/archive -run '^$' -fuzz FuzzSegmentReader -fuzztime 60s
func FuzzSegmentReader(f *testing.F) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, v := range allVariants() {
		data, _ := writeSegment(f, v, genRecords(rng, 5, 40))
		f.Add(data, v.key != nil)
		// Small header-less records too, the shape the reader's fast path decodes.
		data, _ = writeSegment(f, v, compatRecords()[:12])
		f.Add(data, v.key != nil)
	}
	f.Add([]byte("ARKS"), false)
	f.Add([]byte{}, false)
	f.Fuzz(func(t *testing.T, data []byte, encrypted bool) {
		var key []byte
		if encrypted {
			key = testKey
		}
		recs, footer, err := readSegment(data, "fuzz", key)
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) && !errors.Is(err, ErrWrongKey) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("error is not classified as corruption: %v", err)
			}
			return
		}
		if footer.Count != int64(len(recs)) {
			t.Fatalf("footer count %d but %d records", footer.Count, len(recs))
		}
	})
}
