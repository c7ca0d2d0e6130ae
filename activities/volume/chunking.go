package volume

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	cdc "github.com/PlakarKorp/go-cdc-chunkers"
	_ "github.com/PlakarKorp/go-cdc-chunkers/chunkers/fastcdc" // registers "fastcdc-v1.0.0"
	"github.com/restic/chunker"

	"arkive.io/arkive/internal/archive"
)

// maxChunk bounds a chunk under every chunker.
const maxChunk = 8 << 20

// cutter cuts one file after another into content-defined chunks; one per worker.
type cutter interface {
	Reset(r io.Reader)
	// Next returns the next chunk, valid until the following call, or io.EOF after the last.
	Next() ([]byte, error)
}

// cutters makes the cutters of one backup, cutting as its manifest says.
type cutters func() (cutter, error)

func newCutters(name string, key []byte) (cutters, error) {
	switch name {
	case archive.ChunkerRabin:
		pol := fixedPolynomial
		if key != nil {
			var err error
			if pol, err = chunker.DerivePolynomial(&keyStream{key: key, label: "arkive volume chunker polynomial v1\x00"}); err != nil {
				return nil, err
			}
		}
		return func() (cutter, error) {
			return &rabin{ch: chunker.New(nil, pol), pol: pol, buf: make([]byte, chunker.MaxSize)}, nil
		}, nil
	case archive.ChunkerFastCDC:
		opts := cdc.ChunkerOpts{MinSize: 512 << 10, NormalSize: 1 << 20, MaxSize: maxChunk}
		if key != nil {
			// The Gear table is keyed so that chunk boundaries say nothing about content.
			opts.Key = make([]byte, 32)
			if _, err := io.ReadFull(&keyStream{key: key, label: "arkive volume chunker gear v1\x00"}, opts.Key); err != nil {
				return nil, err
			}
		}
		return func() (cutter, error) {
			o := opts
			// Twice the largest chunk: the scan window slides down once per 8 MiB read,
			// not once per chunk.
			c, err := cdc.NewChunkerBuffer("fastcdc-v1.0.0", nil, &o, make([]byte, 2*maxChunk))
			if err != nil {
				return nil, err
			}
			return &fastCDC{c: c}, nil
		}, nil
	}
	return nil, fmt.Errorf("volume backup: unsupported chunker %q", name)
}

// fixedPolynomial is the Rabin chunker's polynomial for unencrypted storage (irreducible,
// degree 53). Encrypted storage derives one from the key, so chunk boundaries reveal nothing.
const fixedPolynomial = chunker.Pol(0x3DA3358B4DC173)

type rabin struct {
	ch  *chunker.Chunker
	pol chunker.Pol
	buf []byte
}

func (r *rabin) Reset(rd io.Reader) { r.ch.Reset(rd, r.pol) }

func (r *rabin) Next() ([]byte, error) {
	c, err := r.ch.Next(r.buf)
	if err != nil {
		return nil, err
	}
	return c.Data, nil
}

type fastCDC struct {
	c   *cdc.Chunker
	eof bool
}

func (f *fastCDC) Reset(rd io.Reader) { f.c.Reset(rd); f.eof = false }

func (f *fastCDC) Next() ([]byte, error) {
	if f.eof {
		return nil, io.EOF
	}
	// The library hands the last chunk over together with io.EOF (and an empty one for an
	// empty file); give it out on its own, then io.EOF.
	b, err := f.c.Next()
	switch {
	case errors.Is(err, io.EOF):
		f.eof = true
		if len(b) == 0 {
			return nil, io.EOF
		}
	case err != nil:
		return nil, err
	}
	return b, nil
}

// keyStream is a deterministic stream of bytes derived from the key and a label, from which a
// chunker's parameters are drawn.
type keyStream struct {
	key   []byte
	label string
	n     uint64
	buf   []byte
}

func (k *keyStream) Read(p []byte) (int, error) {
	if len(k.buf) == 0 {
		h := sha256.New()
		h.Write([]byte(k.label))
		h.Write(k.key)
		h.Write(binary.BigEndian.AppendUint64(nil, k.n))
		k.n++
		k.buf = h.Sum(nil)
	}
	n := copy(p, k.buf)
	k.buf = k.buf[n:]
	return n, nil
}
