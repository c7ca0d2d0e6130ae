package archive

import (
	"bytes"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
)

// Document objects hold small structured data (Schema Registry snapshots) that is read whole:
//
//	header   "ARKJ" | version u8 | codec u8 (zstd) | flags u8 | 0 u8 | [keyID 8 | salt 32] | crc32c u32
//	body     zstd stream of the JSON document, sealed in chunks when encrypted (as segments are)
//	trailer  crc32c u32 of the body's stored bytes | plaintext length u64 | "ARKE"
//
// The trailer lets a reader tell a truncated or damaged object from a valid one before it
// decrypts or decompresses anything, and without the key.
const documentMagic = "ARKJ"

// EncodeDocument compresses (and, with key, encrypts) one document into an object.
func EncodeDocument(doc []byte, key []byte) ([]byte, error) {
	hdr := []byte{documentMagic[0], documentMagic[1], documentMagic[2], documentMagic[3], FormatVersion, byte(CodecZstd), 0, 0}
	var salt []byte
	if key != nil {
		if len(key) != KeySize {
			return nil, fmt.Errorf("encryption key must be %d bytes, got %d", KeySize, len(key))
		}
		hdr[6] |= flagEncrypted
		id := KeyID(key)
		salt = make([]byte, encSaltSize)
		if _, err := io.ReadFull(rand.Reader, salt); err != nil {
			return nil, fmt.Errorf("read encryption salt: %w", err)
		}
		hdr = append(append(hdr, id[:]...), salt...)
	}
	hdr = binary.LittleEndian.AppendUint32(hdr, crc32.Checksum(hdr, castagnoli))
	var out bytes.Buffer
	out.Write(hdr)
	var body io.Writer = &out
	var enc *encryptWriter
	if key != nil {
		var err error
		if enc, err = newEncryptWriter(&out, key, salt, hdr); err != nil {
			return nil, err
		}
		body = enc
	}
	comp, err := newCompressor(body, Compression{Codec: CodecZstd})
	if err != nil {
		return nil, err
	}
	if _, err := comp.Write(doc); err != nil {
		return nil, err
	}
	if err := comp.Close(); err != nil {
		return nil, err
	}
	if enc != nil {
		if err := enc.Close(); err != nil {
			return nil, err
		}
	}
	stored := out.Bytes()[len(hdr):]
	tr := binary.LittleEndian.AppendUint32(nil, crc32.Checksum(stored, castagnoli))
	tr = binary.LittleEndian.AppendUint64(tr, uint64(len(doc)))
	out.Write(append(tr, trailerMagic...))
	return out.Bytes(), nil
}

// DecodeDocument checks and opens an object made by EncodeDocument. name is used in errors.
func DecodeDocument(name string, obj []byte, key []byte) ([]byte, error) {
	bad := func(pos int64, reason string, err error) error {
		return &CorruptError{Object: name, Pos: pos, Reason: reason, Err: err}
	}
	if len(obj) < headerBaseSize+4+16 || string(obj[:4]) != documentMagic {
		return nil, bad(0, "not an Arkive document (bad magic or too short)", nil)
	}
	if obj[4] != FormatVersion || Codec(obj[5]) != CodecZstd || obj[6]&^flagEncrypted != 0 || obj[7] != 0 {
		return nil, bad(4, fmt.Sprintf("unsupported document header %x", obj[4:8]), nil)
	}
	hlen := headerBaseSize
	encrypted := obj[6]&flagEncrypted != 0
	if encrypted {
		hlen += KeyIDSize + encSaltSize
	}
	if len(obj) < hlen+4+16 {
		return nil, bad(0, "truncated header", nil)
	}
	hdr := obj[:hlen+4]
	if binary.LittleEndian.Uint32(obj[hlen:]) != crc32.Checksum(obj[:hlen], castagnoli) {
		return nil, bad(int64(hlen), "header checksum mismatch", nil)
	}
	tr := obj[len(obj)-16:]
	if string(tr[12:]) != trailerMagic {
		return nil, bad(int64(len(obj)-4), "missing trailer (truncated object)", nil)
	}
	stored := obj[len(hdr) : len(obj)-16]
	if binary.LittleEndian.Uint32(tr) != crc32.Checksum(stored, castagnoli) {
		return nil, bad(int64(len(hdr)), "body checksum mismatch", nil)
	}
	var body io.Reader = bytes.NewReader(stored)
	if encrypted {
		if key == nil {
			return nil, bad(0, "object is encrypted and no key was given", ErrWrongKey)
		}
		if id := KeyID(key); !bytes.Equal(id[:], obj[headerBaseSize:headerBaseSize+KeyIDSize]) {
			return nil, bad(headerBaseSize, "the given key is not the one the object was encrypted with", ErrWrongKey)
		}
		d, err := newDecryptReader(&countingReader{r: body}, body, key, obj[headerBaseSize+KeyIDSize:hlen], hdr)
		if err != nil {
			return nil, err
		}
		body = d
	}
	dec, err := newDecompressor(body, CodecZstd)
	if err != nil {
		return nil, bad(int64(len(hdr)), "open zstd stream", err)
	}
	defer dec.Close()
	want := binary.LittleEndian.Uint64(tr[4:])
	doc, err := io.ReadAll(io.LimitReader(dec, int64(want)+1))
	if err != nil {
		return nil, bad(int64(len(hdr)), "read body", err)
	}
	if uint64(len(doc)) != want {
		return nil, bad(int64(len(hdr)), fmt.Sprintf("body holds %d bytes, trailer says %d", len(doc), want), nil)
	}
	return doc, nil
}
