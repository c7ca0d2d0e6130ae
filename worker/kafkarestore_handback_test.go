package worker_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows/kafkarestore"
)

// A worker shutting down (SIGTERM: its Stop) hands a restore stream back at once: the stream
// stops reading, lets its records in flight land and completes with that checkpoint, and
// another worker goes on from there. Every record ends in the target once, in order. Before,
// the stream ran on until the worker's stop timeout cancelled it, and another worker took it
// over only after its heartbeat timeout.
func TestStoppingWorkerHandsBackARestoreStream(t *testing.T) {
	const records = 8000
	bootstrap := testenv.Kafka(t)
	dial := func(identity string) client.Client {
		c, err := client.Dial(client.Options{HostPort: testenv.Temporal(t), Namespace: "default", Identity: identity})
		require.NoError(t, err)
		t.Cleanup(c.Close)
		return c
	}
	first, second := dial("first-worker"), dial("second-worker")
	queue := fmt.Sprintf("arkive-test-%d", time.Now().UnixNano())
	opts := worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	w1 := worker.New(first, opts)
	require.NoError(t, w1.Start())
	stopped := false
	t.Cleanup(func() {
		if !stopped {
			w1.Stop()
		}
	})

	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	topic := testenv.Topic(t, "handback", 1, nil)
	base := time.UnixMilli(1_760_000_000_000)
	produceNumbered(t, bootstrap, topic, records, base)
	backupOnce(t, first, queue, bootstrap, storage, "default/handback", topic)

	// 400 records a second: the stream takes 20 s, more than the worker's stop timeout.
	target := topic + "-restored"
	wid := startRestore(t, first, queue, bootstrap, storage, "default/handback", kafkarestore.Spec{CreateTopics: true,
		RateLimit: kafkarestore.RateLimit{RecordsPerSecond: 400}, Topics: []kafkarestore.TopicMapping{{Source: topic, Target: target}}})
	require.Eventually(t, func() bool { return partitionEnd(bootstrap, target, 0) > 400 }, time.Minute, 20*time.Millisecond)
	stopping := time.Now()
	w1.Stop()
	stopped = true
	t.Logf("the first worker stopped in %s", time.Since(stopping).Round(time.Millisecond))
	w2 := worker.New(second, opts)
	require.NoError(t, w2.Start())
	t.Cleanup(w2.Stop)

	s := restoreStatus(t, first, wid)
	require.Equal(t, kafkarestore.PhaseDone, s.Phase, "%s %s", s.Reason, s.LastError)
	require.Equal(t, numbered(0, records-1), values(t, bootstrap, target), "every record once, in order")

	// The stopping worker's stream completed with a checkpoint part-way; the rest was
	// restored by the other worker.
	var handedBack *kafkarestore.Progress
	restoredBy := map[string]int64{}
	scheduled := map[int64]bool{} // Restore activities' scheduled event ids
	iter := first.GetWorkflowHistory(context.Background(), wid, "", false, 0)
	for iter.HasNext() {
		ev, err := iter.Next()
		require.NoError(t, err)
		if a := ev.GetActivityTaskScheduledEventAttributes(); a != nil && a.GetActivityType().GetName() == kafkarestore.ActivityRestore {
			scheduled[ev.GetEventId()] = true
		}
		a := ev.GetActivityTaskCompletedEventAttributes()
		if a == nil || !scheduled[a.GetScheduledEventId()] {
			continue
		}
		var p kafkarestore.Progress
		require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetResult(), &p))
		restoredBy[a.GetIdentity()] = p.Records
		if a.GetIdentity() == "first-worker" {
			handedBack = &p
		}
	}
	require.NotNil(t, handedBack, "the stopping worker's stream completed with a checkpoint (restored by: %v)", restoredBy)
	require.False(t, handedBack.Done)
	require.True(t, handedBack.HandedBack, "the checkpoint says its worker was stopping, so the workflow starts the stream again at once")
	require.Greater(t, handedBack.Records, int64(400))
	require.Less(t, handedBack.Records, int64(records))
	require.Equal(t, int64(records), restoredBy["second-worker"], "the other worker went on from the checkpoint to the end")
}
