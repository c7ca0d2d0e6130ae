package archive

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"
)

// benchRecords makes about total bytes of 400-byte JSON records, the shape the overhead target
// is stated for: keys, timestamps a few milliseconds apart, consecutive offsets, no headers.
func benchRecords(total int) []*Record {
	rng := rand.New(rand.NewPCG(21, 22))
	var recs []*Record
	ts := int64(1_763_700_000_000)
	names := []string{"checkout", "payment", "refund", "shipment", "inventory", "login"}
	for off, size := int64(0), 0; size < total; off++ {
		v := fmt.Sprintf(`{"id":"%016x","type":"%s","user":%d,"amount":%d.%02d,"currency":"EUR","ts":%d,"items":[{"sku":"SKU-%06d","qty":%d},{"sku":"SKU-%06d","qty":%d}],"region":"eu-west-%d","session":"%032x"}`,
			rng.Uint64(), names[rng.IntN(len(names))], rng.IntN(1_000_000), rng.IntN(10_000), rng.IntN(100), ts,
			rng.IntN(1_000_000), 1+rng.IntN(5), rng.IntN(1_000_000), 1+rng.IntN(5), rng.IntN(3), rng.Uint64())
		for len(v) < 400 {
			v = v[:len(v)-1] + `,"pad":"` + string(bytes.Repeat([]byte{'x'}, max(0, 400-len(v)-9))) + `"}`
		}
		r := &Record{Offset: off, Timestamp: ts, Key: fmt.Appendf(nil, "user-%d", rng.IntN(100_000)), Value: []byte(v[:400])}
		recs = append(recs, r)
		size += len(r.Key) + len(r.Value)
		ts += rng.Int64N(5)
	}
	return recs
}

// plain is what "the bare compressor on the same bytes" compresses: every key and value,
// back to back, with nothing of the format around them. The bare compressor is the codec with
// its library defaults (its own checksums on), at the segment's level and concurrency: what a
// user would get by compressing the records without Arkive's format.
func plain(recs []*Record) []byte {
	var b bytes.Buffer
	for _, r := range recs {
		b.Write(r.Key)
		b.Write(r.Value)
	}
	return b.Bytes()
}

// bareCompress compresses the records' keys and values, walking the same records the segment
// writer walks, so both read the same memory in the same order.
func bareCompress(w io.Writer, c Compression, recs []*Record) error {
	zw, err := newCodecWriter(w, c, true)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if _, err := zw.Write(r.Key); err != nil {
			return err
		}
		if _, err := zw.Write(r.Value); err != nil {
			return err
		}
	}
	return zw.Close()
}

func encodeSegment(w io.Writer, opts WriterOptions, recs []*Record) error {
	sw, err := NewSegmentWriter(w, opts)
	if err != nil {
		return err
	}
	for _, r := range recs {
		if err := sw.Append(r); err != nil {
			return err
		}
	}
	_, err = sw.Close()
	return err
}

type benchVariant struct {
	name string
	opts WriterOptions
}

func benchVariants() []benchVariant {
	var vs []benchVariant
	for _, c := range Codecs {
		vs = append(vs, benchVariant{c.String(), WriterOptions{Compression: Compression{Codec: c}}})
	}
	return append(vs, benchVariant{"zstd+aes", WriterOptions{Compression: Compression{Codec: CodecZstd}, Key: testKey}})
}

const benchBytes = 4 << 20

// alternate runs both sides once per iteration, swapping who goes first, so garbage, warm pools
// and caches one side leaves behind fall on both equally.
func alternate(b *testing.B, bare, seg func()) {
	for i := 0; b.Loop(); i++ {
		if i%2 == 0 {
			bare()
			seg()
		} else {
			seg()
			bare()
		}
	}
}

// BenchmarkSegmentEncode times the segment writer and the bare compressor on the same records
// in the same loop and reports:
//   - x-bare-compressor: segment throughput / bare compressor throughput (target ≥ 0.9);
//   - overhead-pct: how much larger the segment is than the bare compressed records (target ≤ 3).
func BenchmarkSegmentEncode(b *testing.B) {
	recs := benchRecords(benchBytes)
	raw := plain(recs)
	for _, v := range benchVariants() {
		b.Run(v.name, func(b *testing.B) {
			var segBuf, bareBuf bytes.Buffer
			var segDur, bareDur time.Duration
			bare := func() {
				bareBuf.Reset()
				t := time.Now()
				if err := bareCompress(&bareBuf, v.opts.Compression, recs); err != nil {
					b.Fatal(err)
				}
				bareDur += time.Since(t)
			}
			seg := func() {
				segBuf.Reset()
				t := time.Now()
				if err := encodeSegment(&segBuf, v.opts, recs); err != nil {
					b.Fatal(err)
				}
				segDur += time.Since(t)
			}
			alternate(b, bare, seg)
			mb := float64(len(raw)) * float64(b.N) / 1e6
			b.ReportMetric(mb/segDur.Seconds(), "seg-MB/s")
			b.ReportMetric(mb/bareDur.Seconds(), "bare-MB/s")
			b.ReportMetric(bareDur.Seconds()/segDur.Seconds(), "x-bare-compressor")
			b.ReportMetric(100*float64(segBuf.Len()-bareBuf.Len())/float64(bareBuf.Len()), "overhead-pct")
			b.ReportMetric(float64(len(raw))/float64(segBuf.Len()), "compression-ratio")
		})
	}
}

// BenchmarkSegmentDecode times reading every record of a segment (checksums, framing,
// decryption) against decompressing the bare compressed records to io.Discard.
func BenchmarkSegmentDecode(b *testing.B) {
	recs := benchRecords(benchBytes)
	raw := plain(recs)
	for _, v := range benchVariants() {
		b.Run(v.name, func(b *testing.B) {
			var segBuf, bareBuf bytes.Buffer
			if err := encodeSegment(&segBuf, v.opts, recs); err != nil {
				b.Fatal(err)
			}
			if err := bareCompress(&bareBuf, v.opts.Compression, recs); err != nil {
				b.Fatal(err)
			}
			var segDur, bareDur time.Duration
			sink := make([]byte, 128<<10)
			bare := func() {
				t := time.Now()
				d, err := newCodecReader(bytes.NewReader(bareBuf.Bytes()), v.opts.Compression.Codec, true)
				if err != nil {
					b.Fatal(err)
				}
				// Into a buffer, as any consumer of the bytes must: io.Copy to io.Discard would
				// take each decoder's WriteTo shortcut and never hand the bytes to anyone.
				for {
					_, err := d.Read(sink)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				_ = d.Close()
				bareDur += time.Since(t)
			}
			seg := func() {
				t := time.Now()
				r, err := NewSegmentReader(bytes.NewReader(segBuf.Bytes()), ReaderOptions{Name: "bench", Key: v.opts.Key})
				if err != nil {
					b.Fatal(err)
				}
				n := 0
				for {
					_, err := r.Next()
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					n++
				}
				_ = r.Close()
				segDur += time.Since(t)
				if n != len(recs) {
					b.Fatalf("read %d of %d records", n, len(recs))
				}
			}
			alternate(b, bare, seg)
			mb := float64(len(raw)) * float64(b.N) / 1e6
			b.ReportMetric(mb/segDur.Seconds(), "seg-MB/s")
			b.ReportMetric(mb/bareDur.Seconds(), "bare-MB/s")
			b.ReportMetric(bareDur.Seconds()/segDur.Seconds(), "x-bare-compressor")
		})
	}
}
