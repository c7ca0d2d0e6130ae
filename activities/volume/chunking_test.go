package volume

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
)

// cut returns the chunks of data as cut by c (copies: a chunk is valid until the next call).
func cut(t *testing.T, c cutter, data []byte) [][]byte {
	t.Helper()
	c.Reset(bytes.NewReader(data))
	var out [][]byte
	for {
		b, err := c.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		require.NoError(t, err)
		require.NotEmpty(t, b)
		out = append(out, bytes.Clone(b))
	}
}

// Both chunkers give back every byte once, cut between 512 KiB and 8 MiB, the same way every
// time, and find their way back to the same cuts shortly after an insertion.
func TestCuttersCutByContent(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	data := randomish(rng, 40*mib)
	key := bytes.Repeat([]byte{5}, archive.KeySize)
	cuts := map[string][]int{}
	for _, name := range []string{archive.ChunkerRabin, archive.ChunkerFastCDC} {
		for _, k := range [][]byte{nil, key} {
			label := name
			if k != nil {
				label += "+key"
			}
			t.Run(label, func(t *testing.T) {
				newCutter, err := newCutters(name, k)
				require.NoError(t, err)
				c, err := newCutter()
				require.NoError(t, err)

				require.Empty(t, cut(t, c, nil), "an empty file has no chunk")
				require.Equal(t, [][]byte{[]byte("tiny")}, cut(t, c, []byte("tiny")))

				chunks := cut(t, c, data)
				require.Equal(t, data, bytes.Join(chunks, nil))
				var ends []int
				off := 0
				for i, ch := range chunks {
					if i < len(chunks)-1 {
						require.GreaterOrEqual(t, len(ch), 512*kib, "chunk %d", i)
					}
					require.LessOrEqual(t, len(ch), maxChunk, "chunk %d", i)
					off += len(ch)
					ends = append(ends, off)
				}
				require.Greater(t, len(chunks), 15, "about 1 MiB a chunk")
				require.Equal(t, chunks, cut(t, c, data), "cut the same way again")
				cuts[label] = ends

				// 100 bytes inserted at 10 MiB: the cuts after the next couple are where
				// they were, moved by 100.
				edited := append(append(bytes.Clone(data[:10*mib]), bytes.Repeat([]byte{'Z'}, 100)...), data[10*mib:]...)
				moved := map[int]bool{}
				for _, e := range ends {
					moved[e+100] = true
				}
				same, off := 0, 0
				for _, ch := range cut(t, c, edited) {
					off += len(ch)
					if off > 10*mib && moved[off] {
						same++
					}
				}
				after := 0
				for _, e := range ends {
					if e > 10*mib {
						after++
					}
				}
				require.GreaterOrEqual(t, same, after-3, "cuts after the insertion found again")
			})
		}
	}
	require.NotEqual(t, cuts[archive.ChunkerFastCDC], cuts[archive.ChunkerFastCDC+"+key"], "a key moves the cuts")
	require.NotEqual(t, cuts[archive.ChunkerRabin], cuts[archive.ChunkerRabin+"+key"], "a key moves the cuts")
	require.NotEqual(t, cuts[archive.ChunkerRabin+"+key"], cuts[archive.ChunkerFastCDC+"+key"])

	_, err := newCutters("gear-v9", nil)
	require.ErrorContains(t, err, `unsupported chunker "gear-v9"`)
}

// The chunkers and the compressor on one core, over one file of the large-file benchmark's log
// lines (docs/benchmarks.md, "Volumes"):
//
//	go test -run '^$' -bench 'BenchmarkCutters|BenchmarkZstdFastest' -benchtime 3x ./activities/volume/
func benchLog(b *testing.B) []byte {
	path := filepath.Join(b.TempDir(), "data.log")
	writeFile(b, path, 256*mib, rand.New(rand.NewPCG(5, 6)))
	data, err := os.ReadFile(path)
	require.NoError(b, err)
	return data
}

func BenchmarkCutters(b *testing.B) {
	data := benchLog(b)
	key := bytes.Repeat([]byte{9}, archive.KeySize)
	for _, name := range []string{archive.ChunkerRabin, archive.ChunkerFastCDC} {
		b.Run(name, func(b *testing.B) {
			newCutter, err := newCutters(name, key)
			require.NoError(b, err)
			c, err := newCutter()
			require.NoError(b, err)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				c.Reset(bytes.NewReader(data))
				for {
					if _, err := c.Next(); errors.Is(err, io.EOF) {
						break
					}
				}
			}
		})
	}
}

// BenchmarkZstdFastest compresses the file in 1 MiB chunks as a backup does; `zstd -q -1` on
// the same file (the large tree's data-0.log) is the C library's figure.
func BenchmarkZstdFastest(b *testing.B) {
	data := benchLog(b)
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedFastest), zstd.WithEncoderCRC(false))
	require.NoError(b, err)
	var out []byte
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		for off := 0; off < len(data); off += mib {
			out = enc.EncodeAll(data[off:min(off+mib, len(data))], out[:0])
		}
	}
}
