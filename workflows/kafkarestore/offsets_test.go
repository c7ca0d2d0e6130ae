package kafkarestore

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestOffsetsJSON(t *testing.T) {
	dense := Offsets{5, 0, 7, 9}
	b, err := json.Marshal(dense)
	require.NoError(t, err)
	require.JSONEq(t, `[5,0,7,9]`, string(b), "short and dense lists stay the array earlier versions wrote")

	sparse := make(Offsets, 2000)
	sparse[17], sparse[1999] = 40213, -1
	b, err = json.Marshal(sparse)
	require.NoError(t, err)
	require.JSONEq(t, `{"len":2000,"at":[17,1999],"off":[40213,-1]}`, string(b))
	var back Offsets
	require.NoError(t, json.Unmarshal(b, &back))
	require.Equal(t, sparse, back)

	// What earlier versions wrote is read as it was.
	var old Offsets
	require.NoError(t, json.Unmarshal([]byte(`[0,0,3]`), &old))
	require.Equal(t, Offsets{0, 0, 3}, old)
	var null struct {
		T Offsets `json:"t"`
	}
	require.NoError(t, json.Unmarshal([]byte(`{"t":null}`), &null))
	require.Nil(t, null.T)

	for _, bad := range []string{`{"len":3,"at":[3],"off":[1]}`, `{"len":3,"at":[1,2],"off":[1]}`, `{"len":-1,"at":[],"off":[]}`, `{"len":3,"at":[-1],"off":[1]}`} {
		require.Error(t, json.Unmarshal([]byte(bad), &back), bad)
	}
}

// A Same-mapping stream of one topic with 20,000 partitions carries its own partition's
// baseline only: its input and checkpoint stay small however many partitions the topic has,
// where written in full each would hold 20,000 offsets.
func TestStreamTargetIsTheStreamsOwn(t *testing.T) {
	const partitions = 20_000
	full := TargetTopic{Name: "orders", Partitions: partitions, MaxMessageBytes: 1 << 20, Baseline: make(Offsets, partitions)}
	for i := range full.Baseline {
		full.Baseline[i] = 1_000_000_000 + int64(i)
	}
	s := Stream{Source: "orders", Target: "orders", Partitions: []StreamPartition{{Partition: 12_345, Upto: 99}}}
	own := StreamTarget(full, s, MappingSame)
	require.Len(t, own.Baseline, partitions)
	require.Equal(t, int64(1_000_012_345), own.Baseline[12_345])
	require.Equal(t, int64(1_000_000_000), full.Baseline[0], "the preflight's baseline is not changed")
	in, err := json.Marshal(RestoreInput{Stream: s, Target: own, Mapping: MappingSame, Resume: &Progress{Target: own.Baseline}})
	require.NoError(t, err)
	require.Less(t, len(in), 1024, "input of one stream: %d bytes", len(in))

	// Other mappings write every partition and need every baseline.
	require.Equal(t, full, StreamTarget(full, s, MappingKeyHash))
	all, err := json.Marshal(full.Baseline)
	require.NoError(t, err)
	require.Greater(t, len(all), 200_000)
}
