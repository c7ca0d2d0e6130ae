package archive

import (
	"bufio"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/s2"
	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"
)

// Codec names the compression of a segment body. The numeric values are stored in segment
// headers: never renumber them.
type Codec uint8

const (
	CodecNone Codec = 0
	CodecZstd Codec = 1
	CodecS2   Codec = 2
	CodecLZ4  Codec = 3
	CodecGzip Codec = 4
)

// Codecs lists every codec, in a stable order (tests and benchmarks iterate over it).
var Codecs = []Codec{CodecNone, CodecZstd, CodecS2, CodecLZ4, CodecGzip}

var codecNames = map[Codec]string{CodecNone: "none", CodecZstd: "zstd", CodecS2: "s2", CodecLZ4: "lz4", CodecGzip: "gzip"}

func (c Codec) String() string {
	if n, ok := codecNames[c]; ok {
		return n
	}
	return fmt.Sprintf("codec(%d)", uint8(c))
}

// ParseCodec maps the API's codec names (as in KafkaBackup.spec.compression.codec) to a Codec.
func ParseCodec(name string) (Codec, error) {
	for c, n := range codecNames {
		if n == name {
			return c, nil
		}
	}
	return 0, fmt.Errorf("unknown compression codec %q (want none, zstd, s2, lz4 or gzip)", name)
}

// Compression is a codec with its level. Level 0 means the codec's default. Valid levels:
// zstd 1–22 (mapped onto the encoder's four speeds as zstd.EncoderLevelFromZstd does), s2 1–3
// (fast, better, best), lz4 1–9, gzip 1–9; none takes no level.
type Compression struct {
	Codec Codec
	Level int
}

// Validate reports a level outside the codec's range.
func (c Compression) Validate() error {
	lo, hi := 0, 0
	switch c.Codec {
	case CodecNone:
	case CodecZstd:
		lo, hi = 1, 22
	case CodecS2:
		lo, hi = 1, 3
	case CodecLZ4, CodecGzip:
		lo, hi = 1, 9
	default:
		return fmt.Errorf("unknown codec %d", uint8(c.Codec))
	}
	if c.Level != 0 && (c.Level < lo || c.Level > hi) {
		if hi == 0 {
			return fmt.Errorf("compression level: codec %s takes no level, got %d", c.Codec, c.Level)
		}
		return fmt.Errorf("compression level: %d is outside %d–%d for codec %s", c.Level, lo, hi, c.Codec)
	}
	return nil
}

// newCompressor wraps w so that bytes written to the result come out compressed on w. Close
// flushes the codec's frame; it does not close w. The codec's own content checksum is left out
// where the library allows: segment blocks carry CRC32Cs that are checked before any record is
// used, and the trailer covers every stored byte, so a second checksum would protect nothing.
func newCompressor(w io.Writer, c Compression) (io.WriteCloser, error) {
	return newCodecWriter(w, c, false)
}

// newCodecWriter is newCompressor with a choice of the codec's own checksums (the benchmarks'
// bare compressor keeps the library defaults).
func newCodecWriter(w io.Writer, c Compression, codecChecksums bool) (io.WriteCloser, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	switch c.Codec {
	case CodecNone:
		return nopWriteCloser{w}, nil
	case CodecZstd:
		level := zstd.SpeedDefault
		if c.Level != 0 {
			level = zstd.EncoderLevelFromZstd(c.Level)
		}
		// Buffered within the window, then streamed by one goroutine (segments are written
		// many at a time by parallel activities): see lazyZstd.
		return newLazyZstd(w, level, codecChecksums)
	case CodecS2:
		opts := []s2.WriterOption{s2.WriterConcurrency(1)}
		switch c.Level {
		case 2:
			opts = append(opts, s2.WriterBetterCompression())
		case 3:
			opts = append(opts, s2.WriterBestCompression())
		}
		return s2.NewWriter(w, opts...), nil
	case CodecLZ4:
		zw := lz4.NewWriter(w)
		opts := []lz4.Option{lz4.ConcurrencyOption(1), lz4.ChecksumOption(codecChecksums)}
		if c.Level != 0 {
			opts = append(opts, lz4.CompressionLevelOption(lz4Levels[c.Level-1]))
		}
		if err := zw.Apply(opts...); err != nil {
			return nil, fmt.Errorf("configure lz4: %w", err)
		}
		return zw, nil
	case CodecGzip:
		level := gzip.DefaultCompression
		if c.Level != 0 {
			level = c.Level
		}
		return gzip.NewWriterLevel(w, level)
	}
	return nil, fmt.Errorf("unknown codec %d", uint8(c.Codec))
}

var lz4Levels = [9]lz4.CompressionLevel{lz4.Level1, lz4.Level2, lz4.Level3, lz4.Level4, lz4.Level5, lz4.Level6, lz4.Level7, lz4.Level8, lz4.Level9}

// newDecompressor reads the codec's stream from r. Close releases the decoder's resources.
// Codec checksums are not verified where our own cover the same bytes (see newCompressor).
func newDecompressor(r io.Reader, c Codec) (io.ReadCloser, error) {
	return newCodecReader(r, c, false)
}

func newCodecReader(r io.Reader, c Codec, codecChecksums bool) (io.ReadCloser, error) {
	switch c {
	case CodecNone:
		return io.NopCloser(r), nil
	case CodecZstd:
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true), zstd.WithDecoderMaxWindow(64<<20),
			zstd.IgnoreChecksum(!codecChecksums))
		if err != nil {
			return nil, err
		}
		return zstdReadCloser{d}, nil
	case CodecS2:
		if codecChecksums {
			return io.NopCloser(s2.NewReader(r)), nil
		}
		return io.NopCloser(s2.NewReader(r, s2.ReaderIgnoreCRC())), nil
	case CodecLZ4:
		return io.NopCloser(lz4.NewReader(r)), nil
	case CodecGzip:
		// A concrete *bufio.Reader takes flate's fast path (a ByteReader interface would cost a
		// call per byte).
		zr, err := gzip.NewReader(bufio.NewReaderSize(r, 32<<10))
		if err != nil {
			return nil, err
		}
		zr.Multistream(false)
		return zr, nil
	}
	return nil, fmt.Errorf("unknown codec %d", uint8(c))
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }

type zstdReadCloser struct{ *zstd.Decoder }

func (z zstdReadCloser) Close() error { z.Decoder.Close(); return nil }
