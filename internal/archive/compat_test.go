package archive

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// Segments in testdata/v1 were written by format version 1 as of commit 95479ed (before the
// reader's fast path and the writer's one write per block), one per codec and one encrypted,
// from compatRecords with compatOptions. A backup is read back years after it was written, so
// every later reader must still read them exactly.

// compatRecords are the fixtures' records: null and empty keys and values, duplicate header
// keys, both timestamp types, offset holes, timestamps going backwards, values needing a
// two- and a three-byte length, and runs of small header-less records.
func compatRecords() []*Record {
	var recs []*Record
	off, ts := int64(1_000), int64(1_700_000_000_000)
	for i := range 120 {
		r := &Record{Offset: off, Timestamp: ts, TimestampType: TimestampType(i % 7 / 6)}
		switch i % 5 {
		case 0:
			r.Key = nil
		case 1:
			r.Key = []byte{}
		default:
			r.Key = []byte{'k', byte('a' + i%26), byte('0' + i%10)}
		}
		switch {
		case i%11 == 0:
			r.Value = nil
		case i%11 == 1:
			r.Value = []byte{}
		case i == 13:
			r.Value = bytes.Repeat([]byte{'v'}, 9_000) // three-byte length
		default:
			r.Value = bytes.Repeat([]byte{byte('A' + i%26)}, 40+i*3) // one- and two-byte lengths
		}
		if i%4 == 3 {
			r.Headers = []Header{{Key: "trace", Value: []byte("t1")}, {Key: "trace", Value: nil}, {Key: "", Value: []byte{}}}
		}
		recs = append(recs, r)
		off += 1 + int64(i%9/8)*5
		ts += int64(i%13) - 4
	}
	return recs
}

// compatOptions are the writer options the fixtures were written with: small blocks so there
// are many, and a fixed key and salt for the encrypted one.
func compatOptions(codec Codec, encrypted bool) WriterOptions {
	o := WriterOptions{Compression: Compression{Codec: codec}, BlockSize: 2 << 10}
	if encrypted {
		o.Key = bytes.Repeat([]byte{0x42}, KeySize)
		o.Rand = bytes.NewReader(bytes.Repeat([]byte{0x17}, encSaltSize))
	}
	return o
}

var compatFixtures = []struct {
	file      string
	codec     Codec
	encrypted bool
}{
	{"none.seg", CodecNone, false}, {"zstd.seg", CodecZstd, false}, {"s2.seg", CodecS2, false},
	{"lz4.seg", CodecLZ4, false}, {"gzip.seg", CodecGzip, false}, {"zstd-aes.seg", CodecZstd, true},
}

// writeCompat rewrites testdata/v1 with the code of the checkout it runs in. It was run once,
// at commit 95479ed (go test -run StillRead -write-compat-fixtures); use it again only for a new
// format version, into a new directory.
var writeCompat = flag.Bool("write-compat-fixtures", false, "write testdata/v1 with this checkout's writer")

func TestSegmentsWrittenByFormatVersion1StillRead(t *testing.T) {
	want := compatRecords()
	if *writeCompat {
		writeCompatFixtures(t)
	}
	for _, f := range compatFixtures {
		t.Run(f.file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "v1", f.file))
			require.NoError(t, err)
			got, footer, err := readSegment(data, f.file, compatOptions(f.codec, f.encrypted).Key)
			require.NoError(t, err)
			requireSameRecords(t, want, got)
			require.Equal(t, int64(len(want)), footer.Count)
			require.Equal(t, want[len(want)-1].Offset, footer.LastOffset)
		})
	}
}

// TestSegmentWriterStillWritesFormatVersion1: without a codec the bytes are the format's alone,
// so today's writer must produce the fixture exactly (compressed fixtures may differ as the
// codec libraries change; they only need to read).
func TestSegmentWriterStillWritesFormatVersion1(t *testing.T) {
	want, err := os.ReadFile(filepath.Join("testdata", "v1", "none.seg"))
	require.NoError(t, err)
	require.True(t, bytes.Equal(want, compatSegment(t, CodecNone, false)), "today's writer no longer writes the version 1 bytes")
}

// compatSegment writes compatRecords with compatOptions.
func compatSegment(t *testing.T, codec Codec, encrypted bool) []byte {
	var buf bytes.Buffer
	w, err := NewSegmentWriter(&buf, compatOptions(codec, encrypted))
	require.NoError(t, err)
	for _, r := range compatRecords() {
		require.NoError(t, w.Append(r))
	}
	_, err = w.Close()
	require.NoError(t, err)
	return buf.Bytes()
}

func writeCompatFixtures(t *testing.T) {
	dir := filepath.Join("testdata", "v1")
	require.NoError(t, os.MkdirAll(dir, 0o755))
	for _, f := range compatFixtures {
		require.NoError(t, os.WriteFile(filepath.Join(dir, f.file), compatSegment(t, f.codec, f.encrypted), 0o644))
	}
}
