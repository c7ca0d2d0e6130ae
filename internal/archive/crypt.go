package archive

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Encryption of an object is AES-256-GCM in the STREAM construction: the plaintext is cut into
// chunks of encChunkSize bytes, each sealed with a nonce made of a chunk counter and a "last
// chunk" flag, under a key derived per object from the caller's key and a random salt. So
//   - memory is one chunk, whatever the object's size;
//   - a flipped, reordered, dropped or appended chunk fails authentication;
//   - a truncation at a chunk boundary is caught because the last chunk must carry the flag;
//   - the plaintext header is bound to every chunk as additional data.
const (
	encChunkSize = 64 << 10
	encTagSize   = 16
	encSaltSize  = 32
	// KeySize is the length of an encryption key in bytes (AES-256).
	KeySize = 32
	// KeyIDSize is the length of the key fingerprint stored in encrypted headers.
	KeyIDSize = 8
)

// KeyID is a short fingerprint of an encryption key, stored in the header of every encrypted
// object so a wrong key is reported as such rather than as corruption. It is an HMAC, so it
// reveals nothing about the key.
func KeyID(key []byte) [KeyIDSize]byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte("arkive key id v1"))
	var id [KeyIDSize]byte
	copy(id[:], m.Sum(nil))
	return id
}

func objectAEAD(key, salt []byte) (cipher.AEAD, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("encryption key must be %d bytes, got %d", KeySize, len(key))
	}
	sub, err := hkdf.Key(sha256.New, key, salt, "arkive object v1", KeySize)
	if err != nil {
		return nil, err
	}
	block, err := aes.NewCipher(sub)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func chunkNonce(nonce []byte, counter uint64, last bool) {
	clear(nonce)
	binary.BigEndian.PutUint64(nonce[3:11], counter)
	if last {
		nonce[11] = 1
	}
}

// encryptWriter seals everything written to it and writes the ciphertext to w.
type encryptWriter struct {
	w       io.Writer
	aead    cipher.AEAD
	aad     []byte
	buf     []byte // plaintext of the pending chunk, sealed in place
	nonce   [12]byte
	counter uint64
	closed  bool
}

func newEncryptWriter(w io.Writer, key, salt, aad []byte) (*encryptWriter, error) {
	aead, err := objectAEAD(key, salt)
	if err != nil {
		return nil, err
	}
	return &encryptWriter{w: w, aead: aead, aad: aad, buf: make([]byte, 0, encChunkSize+encTagSize)}, nil
}

func (e *encryptWriter) Write(p []byte) (int, error) {
	n := 0
	for len(p) > 0 {
		// A full chunk is sealed only once more data arrives: the last chunk must carry the flag.
		if len(e.buf) == encChunkSize {
			if err := e.seal(false); err != nil {
				return n, err
			}
		}
		k := min(encChunkSize-len(e.buf), len(p))
		e.buf = append(e.buf, p[:k]...)
		p, n = p[k:], n+k
	}
	return n, nil
}

func (e *encryptWriter) seal(last bool) error {
	chunkNonce(e.nonce[:], e.counter, last)
	e.counter++
	out := e.aead.Seal(e.buf[:0], e.nonce[:], e.buf, e.aad)
	_, err := e.w.Write(out)
	e.buf = e.buf[:0]
	return err
}

// Close seals the last chunk. It does not close the underlying writer.
func (e *encryptWriter) Close() error {
	if e.closed {
		return nil
	}
	e.closed = true
	return e.seal(true)
}

// errAuth is wrapped by decryption failures.
var errAuth = errors.New("message authentication failed: wrong key or corrupted data")

// decryptReader opens the chunks read from r, reporting failures with their object position.
type decryptReader struct {
	pos     *countingReader // for error positions only
	r       io.Reader
	aead    cipher.AEAD
	aad     []byte
	in      []byte // one sealed chunk plus the byte that tells whether another follows
	carried int    // bytes of the next chunk already in in[0:carried]
	out     []byte
	plain   []byte
	nonce   [12]byte
	counter uint64
	done    bool
	err     error
}

func newDecryptReader(pos *countingReader, r io.Reader, key, salt, aad []byte) (*decryptReader, error) {
	aead, err := objectAEAD(key, salt)
	if err != nil {
		return nil, err
	}
	return &decryptReader{pos: pos, r: r, aead: aead, aad: aad,
		in: make([]byte, encChunkSize+encTagSize+1), out: make([]byte, 0, encChunkSize)}, nil
}

func (d *decryptReader) Read(p []byte) (int, error) {
	for len(d.plain) == 0 {
		if d.err != nil {
			return 0, d.err
		}
		if d.done {
			return 0, io.EOF
		}
		d.err = d.next()
	}
	n := copy(p, d.plain)
	d.plain = d.plain[n:]
	return n, nil
}

// next reads and opens one chunk. It reads one byte past a full chunk to learn whether this is
// the last one; that byte is carried over as the start of the next chunk.
func (d *decryptReader) next() error {
	start := d.pos.n - int64(d.carried)
	n, err := io.ReadFull(d.r, d.in[d.carried:])
	n += d.carried
	last := false
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF):
		last = true
	case err != nil:
		return err
	}
	chunkLen := n
	if !last {
		chunkLen = encChunkSize + encTagSize
	}
	if chunkLen < encTagSize {
		return &CorruptError{Pos: start, Reason: fmt.Sprintf("encrypted chunk %d is truncated to %d bytes", d.counter, chunkLen)}
	}
	chunkNonce(d.nonce[:], d.counter, last)
	plain, oerr := d.aead.Open(d.out[:0], d.nonce[:], d.in[:chunkLen], d.aad)
	if oerr != nil {
		return &CorruptError{Pos: start, Reason: fmt.Sprintf("decrypt chunk %d", d.counter), Err: errAuth}
	}
	d.counter++
	d.plain = plain
	d.done = last
	d.carried = 0
	if !last {
		d.in[0] = d.in[chunkLen]
		d.carried = 1
	}
	return nil
}
