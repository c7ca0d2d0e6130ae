package main

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// An `arkive worker` process collects garbage at worker.IdleGCPercent while it captures
// nothing and at worker.GCPercent once it captures (read from its own go_gc_gogc_percent).
func TestWorkerProcessGCTargetFollowsItsCaptures(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	temporal := testenv.Temporal(t)
	topic := testenv.Topic(t, "gc", 2, nil)
	produceSequence(t, bootstrap, topic, make([]int, 2), 100)
	bin := buildArkive(t)

	name := "gc" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	queue := "gc-" + name
	port := strconv.Itoa(testenv.FreePort(t))
	t.Setenv("GOGC", "") // the worker's own choice, whatever this process runs with
	cmd := startKafkaWorker(t, bin, temporal, queue, "--metrics-port", port)
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })

	// gogc reads the worker's GC target from its metrics (-1 while they do not answer yet).
	gogc := func() int {
		v, err := readMetric(port, "go_gc_gogc_percent")
		if err != nil {
			return -1
		}
		return int(v)
	}
	waitFor := func(want int, what string) {
		var got int
		for deadline := time.Now().Add(90 * time.Second); ; time.Sleep(50 * time.Millisecond) { // polling interval
			if got = gogc(); got == want {
				return
			}
			require.True(t, time.Now().Before(deadline), "%s: the worker's GC target is %d, want %d", what, got, want)
		}
	}
	waitFor(worker.IdleGCPercent, "before any work")

	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	in := volumeBackupInput(t, bootstrap, topic, t.TempDir(), name, 256<<10)
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") }()
	waitFor(worker.GCPercent, fmt.Sprintf("capturing %s", topic))
}
