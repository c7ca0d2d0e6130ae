package archive

import "bytes"

// TimestampType says where a record's timestamp came from, as Kafka defines it.
type TimestampType uint8

const (
	// CreateTime: the producer set the timestamp.
	CreateTime TimestampType = 0
	// LogAppendTime: the broker set the timestamp when it appended the record.
	LogAppendTime TimestampType = 1
)

func (t TimestampType) String() string {
	if t == LogAppendTime {
		return "LogAppendTime"
	}
	return "CreateTime"
}

// Header is one Kafka record header. Keys may repeat within a record; order is kept.
// A nil Value is a null header value, distinct from an empty one.
type Header struct {
	Key   string
	Value []byte
}

// Record is one Kafka record as a backup keeps it. A nil Key or Value is null (a tombstone,
// for Value); a non-nil empty slice is an empty key or value. Timestamp is in Unix milliseconds.
type Record struct {
	Offset        int64
	Timestamp     int64
	TimestampType TimestampType
	Key           []byte
	Value         []byte
	Headers       []Header
}

// Clone returns a deep copy that does not alias r's slices (the reader reuses its buffers).
func (r *Record) Clone() *Record {
	c := *r
	c.Key = cloneBytes(r.Key)
	c.Value = cloneBytes(r.Value)
	if r.Headers != nil {
		c.Headers = make([]Header, len(r.Headers))
		for i, h := range r.Headers {
			c.Headers[i] = Header{Key: h.Key, Value: cloneBytes(h.Value)}
		}
	}
	return &c
}

// Equal reports whether two records are identical, null-ness included.
func (r *Record) Equal(o *Record) bool {
	if r.Offset != o.Offset || r.Timestamp != o.Timestamp || r.TimestampType != o.TimestampType ||
		!bytesEqualNull(r.Key, o.Key) || !bytesEqualNull(r.Value, o.Value) || len(r.Headers) != len(o.Headers) {
		return false
	}
	for i := range r.Headers {
		if r.Headers[i].Key != o.Headers[i].Key || !bytesEqualNull(r.Headers[i].Value, o.Headers[i].Value) {
			return false
		}
	}
	return true
}

func bytesEqualNull(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }

func cloneBytes(b []byte) []byte {
	if b == nil {
		return nil
	}
	return append(make([]byte, 0, len(b)), b...)
}

// Size is the record's key, value and header bytes: what SegmentRef.MaxRecordBytes records.
func (r *Record) Size() int64 {
	n := int64(len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}
