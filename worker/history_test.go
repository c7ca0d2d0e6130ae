package worker_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"google.golang.org/protobuf/proto"
)

// requireNotInHistory reads a workflow's whole history in its binary encoding, where payload
// bytes appear as they are (JSON renderings would show them base64-encoded), and fails if
// secret occurs anywhere. visible must occur: it proves payloads were searched.
func requireNotInHistory(t *testing.T, c client.Client, wid, runID, secret, visible string) {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), wid, runID, false, 0)
	var h bytes.Buffer
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		b, err := proto.Marshal(ev)
		require.NoError(t, err)
		h.Write(b)
	}
	require.True(t, bytes.Contains(h.Bytes(), []byte(visible)), "%q not found: the history's payloads were not searched", visible)
	require.False(t, bytes.Contains(h.Bytes(), []byte(secret)), "a secret leaked into the history of %s", wid)
}
