package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gocloud.dev/blob"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// signal sends a signal the way an operator would: with the temporal command line.
func signal(t *testing.T, wid, name string) {
	out, err := exec.Command(testenv.TemporalCLI(t), "workflow", "signal", "--address", testenv.Temporal(t),
		"--namespace", "default", "--workflow-id", wid, "--name", name).CombinedOutput()
	require.NoError(t, err, "temporal workflow signal --name %s: %s", name, out)
}

func countSegments(t *testing.T, store *blobstore.Store, prefix string) int {
	n := 0
	it := store.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(context.Background())
		if err != nil {
			return n
		}
		if !obj.IsDir {
			n++
		}
	}
}

func committed(s kafkabackup.Status) int64 {
	var n int64
	for _, p := range s.Partitions {
		n += p.Committed
	}
	return n
}

// topicCommitted is the committed offset of topic's first partition in the status, or -1 when
// the status does not list the topic.
func topicCommitted(s kafkabackup.Status, topic string) int64 {
	for _, p := range s.Partitions {
		if p.Topic == topic {
			return p.Committed
		}
	}
	return -1
}

// pause, resume and trigger sent with `temporal workflow signal` steer a running backup.
func TestSignalsFromTheTemporalCLI(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	ctx := context.Background()
	topic := testenv.Topic(t, "signals", 1, nil)

	// A steady trickle of records, so a paused backup would have something to capture.
	p, err := sarama.NewSyncProducer([]string{bootstrap}, saramaConfig())
	require.NoError(t, err)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond): // production pace
				_, _, _ = p.SendMessage(&sarama.ProducerMessage{Topic: topic, Value: sarama.StringEncoder(fmt.Sprint(i))})
			}
		}
	}()
	defer func() { close(stop); wg.Wait(); _ = p.Close() }()

	dir := t.TempDir()
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
	c, queue := startWorker(t, secrets.Map{})
	kj, _ := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	sj, _ := json.Marshal(storage)
	spec := kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeContinuous,
		Compression: kafkabackup.Compression{Codec: "s2"}, MaxSegmentBytes: 1 << 20, MaxSegmentInterval: time.Second, DiscoveryInterval: time.Minute}
	name := fmt.Sprintf("sig%d", time.Now().UnixNano()%1e9)
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: "default/" + name, Kafka: kj, Storage: sj}, Spec: spec}
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })

	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return s.Phase == kafkabackup.PhaseStreaming && committed(s) > 0 })

	signal(t, wid, workflows.SignalPause)
	paused := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return s.Phase == kafkabackup.PhasePaused })
	require.Equal(t, "PausedBySignal", paused.Reason)
	store, err := blobstore.Open(ctx, storage, nil)
	require.NoError(t, err)
	defer store.Close()
	layout, _ := blobstore.Kafka("default/" + name)
	segmentsAtPause := countSegments(t, store, layout.Root()+"topics/")
	// The assertion window: three roll intervals (maxSegmentInterval is 1 s) with records arriving.
	time.Sleep(3500 * time.Millisecond)
	require.Equal(t, segmentsAtPause, countSegments(t, store, layout.Root()+"topics/"), "a paused backup wrote a segment")
	still := waitForStatus(t, c, wid, func(kafkabackup.Status) bool { return true })
	require.Equal(t, committed(paused), committed(still), "a paused backup committed offsets")
	require.Equal(t, kafkabackup.PhasePaused, still.Phase)

	signal(t, wid, workflows.SignalResume)
	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return committed(s) > committed(paused)+50 })
	m, err := catalog.Read(ctx, store, layout)
	require.NoError(t, err)
	require.Empty(t, m.Topics[0].Data[0].Holes(), "resume continues from the checkpoint, leaving no hole")

	// trigger: a scheduled backup far from its next tick runs now.
	sched := in
	sched.Spec.Mode, sched.Spec.Schedule = kafkabackup.ModeScheduled, "@yearly"
	sched.Backup = "default/" + name + "-sched"
	swid := wid + "-sched"
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: swid, TaskQueue: queue}, kafkabackup.WorkflowName, sched)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), swid, "", "test done") })
	waitForStatus(t, c, swid, func(s kafkabackup.Status) bool { return s.Reason == "WaitingForSchedule" })
	signal(t, swid, workflows.SignalTrigger)
	done := waitForStatus(t, c, swid, func(s kafkabackup.Status) bool { return len(s.Runs) == 1 })
	require.Equal(t, "Succeeded", done.Runs[0].Outcome)
	require.Greater(t, done.Runs[0].Records, int64(0))
	recordHistory(t, c, wid, "kafkabackup-continuous-pause-resume")
	recordHistory(t, c, swid, "kafkabackup-scheduled-trigger")
}
