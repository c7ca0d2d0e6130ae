package archive

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
)

// randomZNode draws a node with the shapes a snapshot holds and the ones that push a decoder:
// null, empty and binary data, no ACL, an empty one and several, paths with quotes,
// backslashes, control characters, HTML characters (json.Marshal escapes them), multi-byte and
// invalid UTF-8, TTLs, and numbers at their limits.
func randomZNode(rng *rand.Rand) ZNode {
	pick := func(xs ...string) string { return xs[rng.IntN(len(xs))] }
	n := ZNode{Path: pick("/a", "/brokers/ids/1", `/q"uote`, `/back\slash`, "/tab\there", "/<html>&", "/zürich/日本", "/bad\xffutf8", "/", "/x/y/z0000000012")}
	switch rng.IntN(4) {
	case 0:
	case 1:
		n.Data = []byte{}
	default:
		n.Data = make([]byte, rng.IntN(3000))
		for i := range n.Data {
			n.Data[i] = byte(rng.UintN(256))
		}
	}
	switch rng.IntN(3) {
	case 0:
	case 1:
		n.ACL = []ZACL{}
	default:
		for range 1 + rng.IntN(3) {
			n.ACL = append(n.ACL, ZACL{Perms: rng.Int32N(32), Scheme: pick("world", "digest", "sasl", "ip"), ID: pick("anyone", "user:hash=", `we"ird`, "10.0.0.0/8")})
		}
	}
	n.Type = pick(ZNodePersistent, ZNodeEphemeral, ZNodeContainer, "ttl", "persistent_sequential")
	if rng.IntN(3) == 0 {
		n.TTLMillis = rng.Int64N(1 << 40)
	}
	i64 := func() int64 {
		return []int64{0, 1, -1, math.MaxInt64, math.MinInt64, rng.Int64(), -rng.Int64()}[rng.IntN(7)]
	}
	i32 := func() int32 {
		return []int32{0, 1, -1, math.MaxInt32, math.MinInt32, rng.Int32(), -rng.Int32()}[rng.IntN(7)]
	}
	n.Stat = ZStat{Czxid: i64(), Mzxid: i64(), Ctime: i64(), Mtime: i64(), Version: i32(), Cversion: i32(), Aversion: i32(),
		EphemeralOwner: i64(), DataLength: i32(), NumChildren: i32(), Pzxid: i64()}
	return n
}

// decodeBoth decodes a line with the fast path (falling back as DecodeZNodeChunk does) and
// with encoding/json alone, and requires the same outcome.
func decodeBoth(t *testing.T, line []byte) (fast bool) {
	t.Helper()
	var want ZNode
	wantErr := json.Unmarshal(line, &want)
	var got ZNode
	fast = decodeZNodeLine(line, &got)
	if !fast {
		return false
	}
	require.NoError(t, wantErr, "the fast path took a line encoding/json refuses: %s", line)
	require.Equal(t, want, got, "%s", line)
	// nil and empty differ for data and ACLs (null against "" or []): require.Equal does not
	// tell them apart.
	require.Equal(t, want.Data == nil, got.Data == nil, "%s", line)
	require.Equal(t, want.ACL == nil, got.ACL == nil, "%s", line)
	return true
}

func TestZNodeLinesDecodeAsEncodingJSONDoes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 20_000 {
		node := randomZNode(rng)
		line, err := json.Marshal(node)
		require.NoError(t, err)
		// Every line without an escape takes the fast path (most of a snapshot's lines).
		require.Equal(t, !bytes.Contains(line, []byte(`\`)), decodeBoth(t, line), "%s", line)
		// Lines no writer of ours wrote, which must decode as encoding/json decodes them or
		// be left to it: cut short, spaced, a field renamed or moved, a byte changed.
		decodeBoth(t, line[:rng.IntN(len(line))])
		decodeBoth(t, bytes.Replace(line, []byte(`,"`), []byte(`, "`), 1))
		decodeBoth(t, bytes.Replace(line, []byte(`"type"`), []byte(`"Type"`), 1))
		decodeBoth(t, bytes.Replace(line, []byte(`"czxid":`), []byte(`"czxid":0`), 1))
		decodeBoth(t, append(bytes.TrimSuffix(line, []byte("}")), []byte(`,"extra":1}`)...))
		decodeBoth(t, bytes.Replace(line, []byte(`"data":"`), []byte("\"data\":\"\r"), 1)) // base64 skips CR, JSON does not
		mutated := bytes.Clone(line)
		const alphabet = "0-9e.\"\\,:{}[]an \r\t\x80"
		mutated[rng.IntN(len(mutated))] = alphabet[rng.IntN(len(alphabet))]
		decodeBoth(t, mutated)
	}
}

func FuzzZNodeLine(f *testing.F) {
	rng := rand.New(rand.NewPCG(3, 4))
	for range 20 {
		line, err := json.Marshal(randomZNode(rng))
		require.NoError(f, err)
		f.Add(line)
	}
	f.Fuzz(func(t *testing.T, line []byte) { decodeBoth(t, line) })
}
