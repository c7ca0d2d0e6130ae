package kafkarestore

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Offsets holds one offset per partition of a target topic, indexed by partition.
//
// A stream with Same mapping writes only its own partitions of the target, so the workflow
// gives it the baseline of those alone and zeros elsewhere (StreamTarget). Written out in
// full, every stream's input and checkpoint would carry an offset for every partition: for
// one topic of P partitions, P streams of P offsets in the workflow's history and state,
// which passes Temporal's payload and history limits at a few thousand partitions. So when
// most entries are zero, the JSON form lists only the others:
//
//	{"len": 2000, "at": [17, 18], "off": [40213, 40188]}
//
// A mostly non-zero list stays a plain array, the form every earlier version wrote and which
// is still read.
type Offsets []int64

type sparseOffsets struct {
	Len int     `json:"len"`
	At  []int   `json:"at"`
	Off []int64 `json:"off"`
}

// sparseFrom is the length from which the sparse form is considered: a short array costs little.
const sparseFrom = 16

// MarshalJSON writes the sparse form when fewer than a quarter of the offsets are non-zero.
func (o Offsets) MarshalJSON() ([]byte, error) {
	if o == nil {
		return []byte("null"), nil
	}
	nonZero := 0
	for _, v := range o {
		if v != 0 {
			nonZero++
		}
	}
	if len(o) < sparseFrom || nonZero*4 >= len(o) {
		return json.Marshal([]int64(o))
	}
	s := sparseOffsets{Len: len(o), At: make([]int, 0, nonZero), Off: make([]int64, 0, nonZero)}
	for i, v := range o {
		if v != 0 {
			s.At = append(s.At, i)
			s.Off = append(s.Off, v)
		}
	}
	return json.Marshal(s)
}

// UnmarshalJSON reads either form.
func (o *Offsets) UnmarshalJSON(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		var a []int64
		if err := json.Unmarshal(data, &a); err != nil {
			return err
		}
		*o = a
		return nil
	}
	var s sparseOffsets
	if err := json.Unmarshal(data, &s); err != nil {
		return err
	}
	if s.Len < 0 || len(s.At) != len(s.Off) {
		return fmt.Errorf("offsets: %d positions for %d offsets in a list of %d", len(s.At), len(s.Off), s.Len)
	}
	out := make(Offsets, s.Len)
	for k, i := range s.At {
		if i < 0 || i >= s.Len {
			return fmt.Errorf("offsets: position %d outside a list of %d", i, s.Len)
		}
		out[i] = s.Off[k]
	}
	*o = out
	return nil
}

// StreamTarget is the target topic as stream s needs it. With Same mapping a stream writes only
// its own partitions, and the baseline of every other partition is left out (zero), so that
// the stream's input and checkpoints grow with its partitions, not with the topic's.
func StreamTarget(t TargetTopic, s Stream, mapping string) TargetTopic {
	if mapping != MappingSame || t.Baseline == nil {
		return t
	}
	own := make(Offsets, len(t.Baseline))
	for _, p := range s.Partitions {
		if p.Partition >= 0 && int(p.Partition) < len(own) {
			own[p.Partition] = t.Baseline[p.Partition]
		}
	}
	t.Baseline = own
	return t
}
