package worker_test

import (
	"context"
	"flag"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/sdk/client"
	sdklog "go.temporal.io/sdk/log"
	sdkworker "go.temporal.io/sdk/worker"
	"google.golang.org/protobuf/encoding/protojson"

	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows/check"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

var recordHistories = flag.Bool("record-histories", false, "write the histories of the end-to-end tests to testdata/histories")

const historiesDir = "testdata/histories"

// recordHistory keeps a workflow's (last run's) history as a replay fixture when
// -record-histories is set (go test ./worker -record-histories -run '<the tests that call it>').
func recordHistory(t *testing.T, c client.Client, wid, name string) {
	t.Helper()
	if *recordHistories {
		writeHistory(t, runHistory(t, c, wid, ""), name)
	}
}

func writeHistory(t *testing.T, h *historypb.History, name string) {
	t.Helper()
	b, err := protojson.MarshalOptions{Multiline: true}.Marshal(h)
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(historiesDir, 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(historiesDir, name+".json"), b, 0o644))
}

// runHistory is one run's history ("": the last run).
func runHistory(t *testing.T, c client.Client, wid, runID string) *historypb.History {
	t.Helper()
	iter := c.GetWorkflowHistory(context.Background(), wid, runID, false, 0)
	h := &historypb.History{}
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		h.Events = append(h.Events, ev)
	}
	require.NotEmpty(t, h.Events, "history of %s run %q", wid, runID)
	return h
}

// runHistories is the history of every run of a workflow that continued as new, first run
// first (each run's start names the run it continues).
func runHistories(t *testing.T, c client.Client, wid string) []*historypb.History {
	t.Helper()
	var runs []*historypb.History
	for runID := ""; ; {
		h := runHistory(t, c, wid, runID)
		runs = append([]*historypb.History{h}, runs...)
		if runID = h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); runID == "" {
			return runs
		}
	}
}

// Every checked-in history (real runs of every workflow kind on the dev server) replays against
// the current code: a change that would break running workflows fails here, and must go
// through workflow.GetVersion.
func TestReplayCheckedInHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(historiesDir, "*.json"))
	require.NoError(t, err)
	kinds := map[string]bool{}
	for _, f := range files {
		r := sdkworker.NewWorkflowReplayer()
		worker.RegisterWorkflows(r)
		require.NoError(t, r.ReplayWorkflowHistoryFromJSONFile(sdklog.NewStructuredLogger(slog.New(slog.DiscardHandler)), f), "replay %s", f)
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		var h historypb.History
		require.NoError(t, protojson.Unmarshal(b, &h), f)
		require.NotEmpty(t, h.Events, f)
		kinds[h.Events[0].GetWorkflowExecutionStartedEventAttributes().GetWorkflowType().GetName()] = true
	}
	for _, k := range []string{check.WorkflowName, kafkabackup.WorkflowName, kafkarestore.WorkflowName, schemabackup.WorkflowName, schemarestore.WorkflowName,
		resourcebackup.WorkflowName, resourcerestore.WorkflowName, zookeeperbackup.WorkflowName, zookeeperrestore.WorkflowName} {
		require.True(t, kinds[k], "no checked-in history of %s in %s", k, historiesDir)
	}
}
