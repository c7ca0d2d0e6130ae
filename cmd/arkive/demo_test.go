package main

import (
	"bytes"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/testenv"
)

// The README's first command, as a newcomer runs it but without a terminal: `make demo` installs
// what it lacks, starts its own Temporal and Kafka, backs up and restores through Temporal,
// verifies, stops everything and exits 0.
func TestDemoEndToEnd(t *testing.T) {
	testenv.Temporal(t) // the demo needs what the test bed installs; in CI it is there
	cmd := exec.Command("make", "-C", "../..", "demo")
	cmd.Env = append(os.Environ(), "ARKIVE_DEMO_RUN="+t.TempDir(),
		// Ports of its own, so the demo does not meet the test bed's servers.
		"ARKIVE_DEMO_TEMPORAL_PORT=27233", "ARKIVE_DEMO_UI_PORT=28233", "ARKIVE_DEMO_KAFKA_PORT=29092")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &out, &out, nil
	start := time.Now()
	err := cmd.Run()
	t.Logf("make demo took %s", time.Since(start).Round(time.Second))
	require.NoError(t, err, "make demo failed:\n%s", out.String())
	text := out.String()
	require.Contains(t, text, "verified: 60000 restored records equal the originals")
	require.Contains(t, text, "/namespaces/default/workflows/arkive%2Fkafkarestore%2Fdemo%2F")
	require.Contains(t, text, "stopping kafka", "the demo stops what it started")
	require.NotContains(t, text, "Press Ctrl-C", "without a terminal the demo does not wait")
}

// The verification step fails on any difference: value, null versus empty key, a header, a
// timestamp, a missing record.
func TestDemoVerificationCatchesDifferences(t *testing.T) {
	msg := func(key, value []byte, ts int64, hv []byte) *sarama.ConsumerMessage {
		return &sarama.ConsumerMessage{Key: key, Value: value, Timestamp: time.UnixMilli(ts),
			Headers: []*sarama.RecordHeader{{Key: []byte("h"), Value: hv}}}
	}
	orig := map[int32][]*sarama.ConsumerMessage{0: {msg([]byte("k"), []byte("v"), 1, []byte("x")), msg(nil, nil, 2, nil)}}
	n, err := compareRecords("a", "b", orig, orig)
	require.NoError(t, err)
	require.Equal(t, 2, n)
	for name, changed := range map[string]map[int32][]*sarama.ConsumerMessage{
		"value":     {0: {msg([]byte("k"), []byte("w"), 1, []byte("x")), msg(nil, nil, 2, nil)}},
		"empty key": {0: {msg([]byte("k"), []byte("v"), 1, []byte("x")), msg([]byte{}, nil, 2, nil)}},
		"header":    {0: {msg([]byte("k"), []byte("v"), 1, []byte("y")), msg(nil, nil, 2, nil)}},
		"timestamp": {0: {msg([]byte("k"), []byte("v"), 5, []byte("x")), msg(nil, nil, 2, nil)}},
		"missing":   {0: {msg([]byte("k"), []byte("v"), 1, []byte("x"))}},
	} {
		_, err := compareRecords("a", "b", orig, changed)
		require.Error(t, err, name)
		require.True(t, strings.Contains(err.Error(), "a/0"), name)
	}
}
