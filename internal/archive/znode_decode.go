package archive

import (
	"bytes"
	"encoding/base64"
	"math"
	"unicode/utf8"
)

// decodeZNodeLine reads one node line as the snapshot writer writes it (json.Marshal of a
// ZNode): its fields in their order, no spaces, strings without escapes. It is what a restore
// spends its CPU on (two passes over every node: the plan and the apply), and encoding/json's
// reflection took four times as long. Anything else (an escape, another field order, an
// unknown field, a number out of range) gives false and the caller decodes the line with
// encoding/json, so this changes how fast a line is read, never what it means;
// TestZNodeLinesDecodeAsEncodingJSONDoes holds it to that.
func decodeZNodeLine(l []byte, n *ZNode) bool {
	d := lineDecoder{b: l, ok: true}
	d.lit(`{"path":`)
	n.Path = d.str()
	d.lit(`,"data":`)
	n.Data = d.base64()
	d.lit(`,"acl":`)
	if !d.null() {
		d.lit("[")
		n.ACL = []ZACL{}
		for d.ok && !d.peek(']') {
			if len(n.ACL) > 0 {
				d.lit(",")
			}
			var a ZACL
			d.lit(`{"perms":`)
			a.Perms = d.int32()
			d.lit(`,"scheme":`)
			a.Scheme = d.str()
			d.lit(`,"id":`)
			a.ID = d.str()
			d.lit("}")
			n.ACL = append(n.ACL, a)
		}
		d.lit("]")
	}
	d.lit(`,"type":`)
	n.Type = d.str()
	if d.has(`,"ttlMs":`) {
		n.TTLMillis = d.int64()
	}
	s := &n.Stat
	d.lit(`,"stat":{"czxid":`)
	s.Czxid = d.int64()
	d.lit(`,"mzxid":`)
	s.Mzxid = d.int64()
	d.lit(`,"ctime":`)
	s.Ctime = d.int64()
	d.lit(`,"mtime":`)
	s.Mtime = d.int64()
	d.lit(`,"version":`)
	s.Version = d.int32()
	d.lit(`,"cversion":`)
	s.Cversion = d.int32()
	d.lit(`,"aversion":`)
	s.Aversion = d.int32()
	d.lit(`,"ephemeralOwner":`)
	s.EphemeralOwner = d.int64()
	d.lit(`,"dataLength":`)
	s.DataLength = d.int32()
	d.lit(`,"numChildren":`)
	s.NumChildren = d.int32()
	d.lit(`,"pzxid":`)
	s.Pzxid = d.int64()
	d.lit("}}")
	return d.ok && len(d.b) == 0
}

// lineDecoder consumes a line from the front; the first surprise clears ok and every later
// call does nothing.
type lineDecoder struct {
	b  []byte
	ok bool
}

func (d *lineDecoder) fail() { d.ok, d.b = false, nil }

func (d *lineDecoder) has(s string) bool {
	if len(d.b) >= len(s) && string(d.b[:len(s)]) == s {
		d.b = d.b[len(s):]
		return true
	}
	return false
}

func (d *lineDecoder) lit(s string) {
	if !d.has(s) {
		d.fail()
	}
}

func (d *lineDecoder) peek(c byte) bool { return len(d.b) > 0 && d.b[0] == c }

func (d *lineDecoder) null() bool { return d.has("null") }

// raw returns a string's bytes: no escape and no control character (encoding/json would
// translate them), valid UTF-8 (encoding/json would replace what is not).
func (d *lineDecoder) raw() []byte {
	if !d.has(`"`) {
		d.fail()
		return nil
	}
	ascii := true
	for i, c := range d.b {
		if c == '"' {
			s := d.b[:i]
			if !ascii && !utf8.Valid(s) {
				break
			}
			d.b = d.b[i+1:]
			return s
		}
		if c == '\\' || c < 0x20 {
			break
		}
		if c >= 0x80 {
			ascii = false
		}
	}
	d.fail()
	return nil
}

func (d *lineDecoder) str() string { return string(d.raw()) }

// base64 reads []byte as encoding/json writes it: null, or standard base64 with padding.
func (d *lineDecoder) base64() []byte {
	if d.null() {
		return nil
	}
	// Most of a line is its data: the end is found with one IndexByte, not a byte loop.
	// Escapes and non-ASCII bytes need no look: they are not base64, so Decode refuses them.
	// Only raw CR and LF does Decode skip where encoding/json refuses them.
	if !d.has(`"`) {
		d.fail()
		return nil
	}
	end := bytes.IndexByte(d.b, '"')
	if end < 0 || bytes.IndexByte(d.b[:end], '\r') >= 0 || bytes.IndexByte(d.b[:end], '\n') >= 0 {
		d.fail()
		return nil
	}
	s := d.b[:end]
	d.b = d.b[end+1:]
	out := make([]byte, base64.StdEncoding.DecodedLen(len(s)))
	n, err := base64.StdEncoding.Decode(out, s)
	if err != nil {
		d.fail()
		return nil
	}
	return out[:n]
}

// int64 reads an integer as encoding/json writes one: an optional minus, no leading zero, no
// fraction or exponent.
func (d *lineDecoder) int64() int64 {
	neg := d.has("-")
	i := 0
	var v uint64
	for i < len(d.b) && d.b[i] >= '0' && d.b[i] <= '9' {
		if v > (math.MaxUint64-9)/10 {
			d.fail()
			return 0
		}
		v = v*10 + uint64(d.b[i]-'0')
		i++
	}
	if i == 0 || (i > 1 && d.b[0] == '0') || (i < len(d.b) && (d.b[i] == '.' || d.b[i] == 'e' || d.b[i] == 'E')) {
		d.fail()
		return 0
	}
	d.b = d.b[i:]
	switch {
	case !neg && v <= math.MaxInt64:
		return int64(v)
	case neg && v <= math.MaxInt64+1:
		return int64(-v)
	}
	d.fail()
	return 0
}

func (d *lineDecoder) int32() int32 {
	v := d.int64()
	if v < math.MinInt32 || v > math.MaxInt32 {
		d.fail()
		return 0
	}
	return int32(v)
}
