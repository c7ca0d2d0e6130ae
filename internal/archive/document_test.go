package archive

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestDocumentRoundTripAndDamage(t *testing.T) {
	key := bytes.Repeat([]byte{7}, KeySize)
	doc := bytes.Repeat([]byte(`{"subject":"orders-value","schema":"{\"type\":\"string\"}"}`), 5000)
	for name, k := range map[string][]byte{"plain": nil, "encrypted": key} {
		t.Run(name, func(t *testing.T) {
			obj, err := EncodeDocument(doc, k)
			require.NoError(t, err)
			require.Less(t, len(obj), len(doc)/10, "compressed")
			got, err := DecodeDocument("x", obj, k)
			require.NoError(t, err)
			require.Equal(t, doc, got)

			for _, pos := range []int{0, 5, len(obj) / 2, len(obj) - 10, len(obj) - 1} {
				bad := bytes.Clone(obj)
				bad[pos] ^= 0x40
				_, err := DecodeDocument("x", bad, k)
				var ce *CorruptError
				require.ErrorAs(t, err, &ce, "flipped byte %d", pos)
			}
			_, err = DecodeDocument("x", obj[:len(obj)-20], k)
			require.Error(t, err, "truncated")
		})
	}
	obj, err := EncodeDocument(doc, key)
	require.NoError(t, err)
	_, err = DecodeDocument("x", obj, bytes.Repeat([]byte{8}, KeySize))
	require.True(t, errors.Is(err, ErrWrongKey), "%v", err)
	_, err = DecodeDocument("x", obj, nil)
	require.True(t, errors.Is(err, ErrWrongKey), "%v", err)
}

func TestSchemaSnapshotHashIgnoresIDAndTime(t *testing.T) {
	s := &SchemaSnapshot{Format: SchemaSnapshotFormat, ID: "a", Time: time.Unix(1, 0), SchemaContent: SchemaContent{Compatibility: "BACKWARD",
		Subjects: []SubjectSnapshot{{Name: "s", Versions: []SchemaVersion{{Version: 1, ID: 1, Type: "AVRO", Schema: `"string"`}}}}}}
	h1, err := s.ContentHash()
	require.NoError(t, err)
	s2 := *s
	s2.ID, s2.Time = "b", time.Unix(2, 0)
	h2, _ := s2.ContentHash()
	require.Equal(t, h1, h2)
	s2.Subjects = []SubjectSnapshot{{Name: "s", Versions: []SchemaVersion{{Version: 1, ID: 1, Type: "AVRO", Schema: `"string"`, Deleted: true}}}}
	h3, _ := s2.ContentHash()
	require.NotEqual(t, h1, h3, "a soft delete is a change")

	obj, hash, err := EncodeSchemaSnapshot(s, nil)
	require.NoError(t, err)
	require.Equal(t, h1, hash)
	back, err := DecodeSchemaSnapshot("k", obj, nil)
	require.NoError(t, err)
	require.Equal(t, s.ID, back.ID)
	require.True(t, s.Time.Equal(back.Time))
	require.Equal(t, s.SchemaContent, back.SchemaContent)
}

// Schema snapshots of format 1 (before idRank) stay readable.
func TestSchemaSnapshotFormat1StaysReadable(t *testing.T) {
	doc := []byte(`{"format":1,"id":"20261101T000000Z-000001","time":"2026-11-01T00:00:00Z","compatibility":"BACKWARD","mode":"READWRITE",` +
		`"subjects":[{"name":"a","versions":[{"version":1,"id":7,"type":"AVRO","schema":"\"string\""}]}]}`)
	obj, err := EncodeDocument(doc, nil)
	require.NoError(t, err)
	s, err := DecodeSchemaSnapshot("old", obj, nil)
	require.NoError(t, err)
	require.Equal(t, 1, s.Format)
	require.Equal(t, []SchemaVersion{{Version: 1, ID: 7, Type: "AVRO", Schema: `"string"`}}, s.Subjects[0].Versions)

	// Format 2 (idRank, no config fields or version fields) reads as written.
	doc = []byte(`{"format":2,"id":"20261120T000000Z-000002","time":"2026-11-20T00:00:00Z","compatibility":"BACKWARD","mode":"READWRITE",` +
		`"subjects":[{"name":"a","compatibility":"FULL","versions":[{"version":1,"id":7,"type":"AVRO","schema":"\"string\"","idRank":2}]}]}`)
	obj, err = EncodeDocument(doc, nil)
	require.NoError(t, err)
	s, err = DecodeSchemaSnapshot("format2", obj, nil)
	require.NoError(t, err)
	require.Equal(t, 2, s.Format)
	require.Equal(t, []SubjectSnapshot{{Name: "a", Compatibility: "FULL",
		Versions: []SchemaVersion{{Version: 1, ID: 7, Type: "AVRO", Schema: `"string"`, IDRank: 2}}}}, s.Subjects)

	obj, err = EncodeDocument([]byte(`{"format":4,"subjects":[]}`), nil)
	require.NoError(t, err)
	_, err = DecodeSchemaSnapshot("new", obj, nil)
	require.ErrorContains(t, err, "unsupported format 4")
}

// Format 3 keeps config and version fields verbatim through encoding and decoding, and they
// count in the content hash: a registry whose metadata changed is a new snapshot.
func TestSchemaSnapshotFormat3KeepsFields(t *testing.T) {
	s := &SchemaSnapshot{Format: SchemaSnapshotFormat, ID: "a", Time: time.Unix(1, 0), SchemaContent: SchemaContent{Compatibility: "BACKWARD",
		Config: map[string]json.RawMessage{"normalize": json.RawMessage(`true`)},
		Subjects: []SubjectSnapshot{{Name: "s", Config: map[string]json.RawMessage{"compatibilityGroup": json.RawMessage(`"app"`)},
			Versions: []SchemaVersion{{Version: 1, ID: 1, Type: "AVRO", Schema: `"string"`,
				Fields: map[string]json.RawMessage{"metadata": json.RawMessage(`{"properties":{"owner":"a"}}`), "x-new": json.RawMessage(`[1,2]`)}}}}}}}
	obj, hash, err := EncodeSchemaSnapshot(s, nil)
	require.NoError(t, err)
	back, err := DecodeSchemaSnapshot("k", obj, nil)
	require.NoError(t, err)
	require.Equal(t, s.SchemaContent, back.SchemaContent)

	s.Subjects[0].Versions[0].Fields["metadata"] = json.RawMessage(`{"properties":{"owner":"b"}}`)
	other, err := s.ContentHash()
	require.NoError(t, err)
	require.NotEqual(t, hash, other)
}
