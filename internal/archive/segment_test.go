package archive

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/stretchr/testify/require"
)

// genRecords makes n random records exercising every part of the format: null vs empty keys,
// values and header values, duplicate header keys, both timestamp types, offset holes and
// timestamps that go backwards.
func genRecords(rng *rand.Rand, n int, maxValue int) []*Record {
	recs := make([]*Record, n)
	off := rng.Int64N(1 << 40)
	ts := int64(1_700_000_000_000) + rng.Int64N(1<<30)
	for i := range recs {
		r := &Record{Offset: off, Timestamp: ts, TimestampType: TimestampType(rng.IntN(2))}
		r.Key = randBytes(rng, 64)
		r.Value = randBytes(rng, maxValue)
		for range rng.IntN(5) {
			key := []string{"trace-id", "source", "", "ünïcode"}[rng.IntN(4)] // duplicates on purpose
			r.Headers = append(r.Headers, Header{Key: key, Value: randBytes(rng, 32)})
		}
		recs[i] = r
		off += 1 + rng.Int64N(3)*rng.Int64N(2)
		ts += rng.Int64N(2000) - 500
	}
	return recs
}

// randBytes returns nil (null), empty, or up to max random bytes.
func randBytes(rng *rand.Rand, max int) []byte {
	switch rng.IntN(8) {
	case 0:
		return nil
	case 1:
		return []byte{}
	}
	b := make([]byte, rng.IntN(max+1))
	for i := range b {
		b[i] = byte(rng.IntN(16)) + 'a' // compressible, like real payloads
	}
	return b
}

var testKey = bytes.Repeat([]byte{7}, KeySize)

type variant struct {
	codec Codec
	key   []byte
}

func (v variant) String() string {
	if v.key != nil {
		return v.codec.String() + "+aes"
	}
	return v.codec.String()
}

func allVariants() []variant {
	var vs []variant
	for _, c := range Codecs {
		vs = append(vs, variant{c, nil}, variant{c, testKey})
	}
	return vs
}

func writeSegment(t testing.TB, v variant, recs []*Record) ([]byte, Footer) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewSegmentWriter(&buf, WriterOptions{Compression: Compression{Codec: v.codec}, Key: v.key, BlockSize: 4 << 10})
	require.NoError(t, err)
	for _, r := range recs {
		require.NoError(t, w.Append(r))
	}
	f, err := w.Close()
	require.NoError(t, err)
	require.Equal(t, int64(buf.Len()), w.StoredBytes())
	return buf.Bytes(), f
}

// readSegment reads every record until an error; it returns the records read and the error
// (nil when the segment ended cleanly).
func readSegment(data []byte, name string, key []byte) ([]*Record, Footer, error) {
	r, err := NewSegmentReader(bytes.NewReader(data), ReaderOptions{Name: name, Key: key})
	if err != nil {
		return nil, Footer{}, err
	}
	defer r.Close()
	var out []*Record
	for {
		rec, err := r.Next()
		if errors.Is(err, io.EOF) {
			return out, r.Footer(), nil
		}
		if err != nil {
			return out, Footer{}, err
		}
		out = append(out, rec.Clone())
	}
}

func requireSameRecords(t *testing.T, want, got []*Record) {
	t.Helper()
	require.Len(t, got, len(want))
	for i := range want {
		if !want[i].Equal(got[i]) {
			t.Fatalf("record %d differs:\nwant %+v\ngot  %+v", i, want[i], got[i])
		}
	}
}

func TestSegmentRoundTripProperty(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, v := range allVariants() {
		t.Run(v.String(), func(t *testing.T) {
			for iter := range 40 {
				recs := genRecords(rng, rng.IntN(300), []int{0, 16, 1024, 20 << 10}[iter%4])
				data, wf := writeSegment(t, v, recs)
				got, rf, err := readSegment(data, "seg", v.key)
				require.NoError(t, err)
				requireSameRecords(t, recs, got)
				require.Equal(t, wf, rf)
				require.Equal(t, int64(len(recs)), rf.Count)
			}
		})
	}
}

// With OwnBlocks a record's bytes stay the caller's: kept without a copy across many blocks and
// changed in place (a restore rewriting a schema id), they neither change later records nor
// are changed by them.
func TestSegmentReaderOwnBlocks(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	for _, v := range allVariants() {
		t.Run(v.String(), func(t *testing.T) {
			recs := genRecords(rng, 400, 1024) // about 100 blocks of 4 KiB
			data, _ := writeSegment(t, v, recs)
			r, err := NewSegmentReader(bytes.NewReader(data), ReaderOptions{Name: "seg", Key: v.key, OwnBlocks: true})
			require.NoError(t, err)
			defer r.Close()
			var kept []*Record
			for {
				rec, err := r.Next()
				if errors.Is(err, io.EOF) {
					break
				}
				require.NoError(t, err)
				k := *rec // the Record and its Headers slice are reused; the bytes are not
				k.Headers = slices.Clone(rec.Headers)
				kept = append(kept, &k)
			}
			requireSameRecords(t, recs, kept)
			for _, k := range kept { // a change to one record's bytes touches no other record
				for i := range k.Value {
					k.Value[i] = ^k.Value[i]
				}
			}
			for i, k := range kept {
				for j := range k.Value {
					k.Value[j] = ^k.Value[j]
				}
				require.True(t, recs[i].Equal(k), "record %d", i)
			}
		})
	}
}

func TestSegmentLargeValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	sizes := []int{0, 1, 4 << 10, 1 << 20, 8 << 20}
	for _, v := range allVariants() {
		t.Run(v.String(), func(t *testing.T) {
			var recs []*Record
			for i, n := range sizes {
				val := make([]byte, n)
				for j := range val {
					val[j] = byte(rng.IntN(256)) // incompressible: worst case for every layer
				}
				recs = append(recs, &Record{Offset: int64(i), Timestamp: int64(i), Key: []byte{byte(i)}, Value: val})
			}
			requireRoundTrip(t, v, recs)
		})
	}
}

// requireRoundTrip writes recs as a segment of variant v and requires them back unchanged.
func requireRoundTrip(t *testing.T, v variant, recs []*Record) {
	t.Helper()
	data, _ := writeSegment(t, v, recs)
	got, _, err := readSegment(data, "seg", v.key)
	require.NoError(t, err)
	requireSameRecords(t, recs, got)
}

// Damage anywhere in a stored segment must give an error that names the object, must never
// panic, and must never hand out a record that differs from what was written.
func TestSegmentDetectsEveryFlippedByte(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	recs := genRecords(rng, 30, 120) // small, but several 4 KiB blocks
	for _, v := range allVariants() {
		t.Run(v.String(), func(t *testing.T) {
			data, _ := writeSegment(t, v, recs)
			for _, mask := range []byte{0x01, 0x80, 0xff} {
				for i := range data {
					bad := bytes.Clone(data)
					bad[i] ^= mask
					got, _, err := readSegment(bad, "topics/t/0/x.seg", v.key)
					requireCorruption(t, err, fmt.Sprintf("byte %d ^ %#x", i, mask))
					requirePrefix(t, recs, got)
				}
			}
		})
	}
}

func TestSegmentDetectsEveryTruncation(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	recs := genRecords(rng, 40, 300)
	for _, v := range allVariants() {
		t.Run(v.String(), func(t *testing.T) {
			data, _ := writeSegment(t, v, recs)
			for n := range len(data) {
				got, _, err := readSegment(data[:n], "topics/t/0/x.seg", v.key)
				requireCorruption(t, err, fmt.Sprintf("truncated to %d of %d", n, len(data)))
				requirePrefix(t, recs, got)
			}
			got, _, err := readSegment(append(bytes.Clone(data), 0), "topics/t/0/x.seg", v.key)
			requireCorruption(t, err, "one byte appended")
			requirePrefix(t, recs, got)
		})
	}
}

func requireCorruption(t *testing.T, err error, what string) {
	t.Helper()
	var ce *CorruptError
	if !errors.As(err, &ce) {
		t.Fatalf("%s: want a CorruptError, got %v", what, err)
	}
	if ce.Object != "topics/t/0/x.seg" || !strings.Contains(err.Error(), "topics/t/0/x.seg") || !strings.Contains(err.Error(), "at byte") {
		t.Fatalf("%s: error does not name the object and position: %v", what, err)
	}
}

func requirePrefix(t *testing.T, want, got []*Record) {
	t.Helper()
	require.LessOrEqual(t, len(got), len(want))
	for i := range got {
		if !want[i].Equal(got[i]) {
			t.Fatalf("damaged segment handed out a wrong record %d: %+v", i, got[i])
		}
	}
}

func TestSegmentWrongKey(t *testing.T) {
	recs := genRecords(rand.New(rand.NewPCG(9, 10)), 10, 100)
	data, _ := writeSegment(t, variant{CodecZstd, testKey}, recs)
	other := bytes.Repeat([]byte{8}, KeySize)
	for name, key := range map[string][]byte{"other key": other, "no key": nil} {
		t.Run(name, func(t *testing.T) {
			got, _, err := readSegment(data, "k.seg", key)
			require.ErrorIs(t, err, ErrWrongKey)
			require.ErrorContains(t, err, "k.seg")
			require.Empty(t, got)
		})
	}
	// A key whose fingerprint matches but whose bytes differ cannot happen by accident; prove
	// that authentication still catches it by forging the fingerprint.
	forged := bytes.Clone(data)
	id := KeyID(other)
	copy(forged[headerBaseSize:], id[:])
	hdrLen := headerBaseSize + KeyIDSize + encSaltSize
	copy(forged[hdrLen:], le32(crc32Castagnoli(forged[:hdrLen])))
	_, _, err := readSegment(forged, "k.seg", other)
	var ce *CorruptError
	require.ErrorAs(t, err, &ce)
	require.ErrorContains(t, err, "authentication failed")
}

func TestSegmentWriterRejectsBadRecords(t *testing.T) {
	tests := map[string]struct {
		recs []*Record
		want string
	}{
		"negative offset":   {[]*Record{{Offset: -1}}, "offset -1"},
		"repeated offset":   {[]*Record{{Offset: 5}, {Offset: 5}}, "greater than the previous offset 5"},
		"decreasing offset": {[]*Record{{Offset: 5}, {Offset: 3}}, "offset 3"},
		"bad ts type":       {[]*Record{{Offset: 1, TimestampType: 9}}, "timestamp type"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			w, err := NewSegmentWriter(io.Discard, WriterOptions{})
			require.NoError(t, err)
			var last error
			for _, r := range tc.recs {
				last = w.Append(r)
			}
			require.ErrorContains(t, last, tc.want)
		})
	}
	_, err := NewSegmentWriter(io.Discard, WriterOptions{Compression: Compression{Codec: CodecGzip, Level: 12}})
	require.ErrorContains(t, err, "outside 1–9")
	_, err = NewSegmentWriter(io.Discard, WriterOptions{Key: []byte("short")})
	require.ErrorContains(t, err, "32 bytes")
}

// The writer streams: the bytes it allocates do not grow with the segment's size.
func TestSegmentWriterMemoryIsBounded(t *testing.T) {
	value := bytes.Repeat([]byte(`{"id":1234,"name":"sensor-a","reading":42.5}`), 9)
	allocated := func(records int) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		w, err := NewSegmentWriter(io.Discard, WriterOptions{Compression: Compression{Codec: CodecZstd}, Key: testKey})
		require.NoError(t, err)
		rec := &Record{Key: []byte("k"), Value: value}
		for i := range records {
			rec.Offset, rec.Timestamp = int64(i), int64(i)
			require.NoError(t, w.Append(rec))
		}
		_, err = w.Close()
		require.NoError(t, err)
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	small, large := allocated(20_000), allocated(200_000) // ~8 MB and ~80 MB of records
	t.Logf("allocated %d B for 8 MB, %d B for 80 MB", small, large)
	require.Less(t, large, small*2, "allocation grows with segment size")
}

func le32(v uint32) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }

func crc32Castagnoli(b []byte) uint32 {
	w := &countingWriter{w: io.Discard, crcOn: true}
	_, _ = w.Write(b)
	return w.crc
}

// TestParseSmallAgreesWithTheGeneralParser feeds record frames of the shapes around the fast
// path's limits, intact, with a byte changed or cut short, to both parsers: whenever the fast
// path takes a frame, the general parser must accept it and yield the same record and rest.
func TestParseSmallAgreesWithTheGeneralParser(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	pick := func(vs ...int) int { return vs[rng.IntN(len(vs))] }
	nullable := func(b []byte, maxLen int) []byte {
		switch rng.IntN(6) {
		case 0:
			return appendNullable(b, nil)
		case 1:
			return appendNullable(b, []byte{})
		}
		return appendNullable(b, bytes.Repeat([]byte{'v'}, rng.IntN(maxLen+1)))
	}
	taken, declined := 0, 0
	for range 100_000 {
		p := []byte{byte(pick(0, 1, 1, 1, 2))}
		p = binary.AppendUvarint(p, uint64(pick(0, 1, 1, 3, 127, 128, 300)))
		p = binary.AppendVarint(p, int64(pick(0, 1, -1, 63, -64, 64, -65, 5000)))
		p = nullable(p, pick(3, 63, 64, 200))
		p = nullable(p, pick(10, 400, 8191, 8192, 20000))
		p = binary.AppendUvarint(p, uint64(pick(0, 0, 0, 1)))
		if rng.IntN(3) == 0 {
			p[rng.IntN(len(p))] = byte(rng.IntN(256))
		}
		if rng.IntN(4) == 0 {
			p = p[:rng.IntN(len(p)+1)]
		}
		p = append(p, 0xee) // something after the frame, as in a block of many records
		prevOff, prevTs := rng.Int64N(1<<40), rng.Int64N(1<<42)
		fast := &SegmentReader{rest: p, left: 2, prevOff: prevOff, prevTs: prevTs}
		if !fast.parseSmall() {
			declined++
			continue
		}
		taken++
		general := &SegmentReader{rest: p, left: 2, prevOff: prevOff, prevTs: prevTs, seen: emptyFooter()}
		require.NoError(t, general.parseGeneral(), "frame %x", p)
		require.True(t, fast.rec.Equal(&general.rec), "frame %x: fast %+v, general %+v", p, fast.rec, general.rec)
		require.Equal(t, len(general.rest), len(fast.rest), "frame %x", p)
	}
	require.Greater(t, taken, 5_000)
	require.Greater(t, declined, 10_000)
}

// TestSegmentRoundTripSmallRecords: records of the shape the reader's fast path decodes (no
// headers, small timestamp steps), mixed with ones it leaves to the general path.
func TestSegmentRoundTripSmallRecords(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 8))
	for _, v := range allVariants() {
		t.Run(v.String(), func(t *testing.T) {
			recs := genRecords(rng, 2000, 9000)
			for i, r := range recs[1:] {
				r.Offset = recs[i].Offset + 1 + rng.Int64N(2)
				if i%10 != 0 {
					r.Headers = nil
					r.Timestamp = recs[i].Timestamp + rng.Int64N(100) - 50
				}
			}
			requireRoundTrip(t, v, recs)
		})
	}
}

// TestHoldbackReaderPassesAllButTheTrailer reads objects of every size around the trailer's
// and the buffer's with reads of mixed sizes (some served from the buffer, some straight into
// the caller's slice) from sources that return short reads and data with io.EOF.
func TestHoldbackReaderPassesAllButTheTrailer(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 10))
	for _, size := range []int{0, 1, trailerSize - 1, trailerSize, trailerSize + 1, 100, 32<<10 - 1, 32 << 10, 32<<10 + trailerSize + 1, 200 << 10} {
		for _, src := range []struct {
			name string
			wrap func(io.Reader) io.Reader
		}{{"whole", func(r io.Reader) io.Reader { return r }}, {"half", iotest.HalfReader}, {"data-eof", iotest.DataErrReader}, {"one-byte", iotest.OneByteReader}} {
			data := make([]byte, size)
			for i := range data {
				data[i] = byte(rng.IntN(256))
			}
			h := newHoldbackReader(src.wrap(bytes.NewReader(data)))
			got := []byte{}
			for {
				p := make([]byte, []int{1, 7, 4 << 10, 32 << 10, 100 << 10}[rng.IntN(5)])
				n, err := h.Read(p)
				got = append(got, p[:n]...)
				if err == io.EOF {
					break
				}
				require.NoError(t, err)
			}
			want := data[:max(0, size-trailerSize)]
			require.Equal(t, want, got, "size %d, %s", size, src.name)
			require.Equal(t, data[len(want):], h.trailer(), "size %d, %s", size, src.name)
			require.Equal(t, crc32Castagnoli(want), h.checksum(), "size %d, %s", size, src.name)
		}
	}
}
