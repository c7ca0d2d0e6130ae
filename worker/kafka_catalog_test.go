package worker_test

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

var updateV1Backup = flag.Bool("update-v1-backup", false, "rewrite testdata/v1backup (a version 1 Kafka backup) and fail")

// The fixture testdata/v1backup is a Kafka backup whose manifest is format version 1 (every
// segment inline), as builds before the catalog wrote it: backup default/v1-fixture, topic
// v1topic (one partition), records k<i>/v<i> at v1Base+i seconds for i in 0..199, in four zstd
// segments of 50. The test renames v1topic to a fresh topic that it fills with the same
// records, so the backup's offsets are the broker's.
const (
	v1Backup  = "default/v1-fixture"
	v1Topic   = "v1topic"
	v1Records = 200
)

var v1Base = time.UnixMilli(1_750_000_000_000).UTC()

func writeV1Fixture(t *testing.T, dir string) {
	require.NoError(t, os.RemoveAll(dir))
	store, err := blobstore.OpenURL(context.Background(), "file://"+mkdir(t, dir))
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(v1Backup)
	require.NoError(t, err)
	p := archive.Partition{Partition: 0, NextOffset: v1Records}
	for first := int64(0); first < v1Records; first += 50 {
		var buf bytes.Buffer
		w, err := archive.NewSegmentWriter(&buf, archive.WriterOptions{Compression: archive.Compression{Codec: archive.CodecZstd}})
		require.NoError(t, err)
		var maxRecord int64
		for i := first; i < first+50; i++ {
			r := &archive.Record{Offset: i, Timestamp: v1Base.Add(time.Duration(i) * time.Second).UnixMilli(),
				Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, "v%d", i)}
			maxRecord = max(maxRecord, int64(len(r.Key)+len(r.Value)))
			require.NoError(t, w.Append(r))
		}
		footer, err := w.Close()
		require.NoError(t, err)
		key, err := layout.Segment(v1Topic, 0, first, first+49)
		require.NoError(t, err)
		require.NoError(t, store.Put(context.Background(), key, buf.Bytes()))
		p.Segments = append(p.Segments, archive.SegmentRef{Key: key, FirstOffset: first, LastOffset: first + 49, Count: footer.Count,
			MinTimestamp: footer.MinTimestamp, MaxTimestamp: footer.MaxTimestamp, StoredBytes: int64(buf.Len()), PayloadBytes: footer.PayloadBytes,
			MaxRecordBytes: maxRecord, ContentCRC: footer.ContentCRC, Codec: "zstd"})
	}
	m := &archive.Manifest{Version: archive.ManifestVersionInline, Backup: v1Backup, Generation: 4, CommittedAt: v1Base.Add(time.Hour),
		Topics: []archive.Topic{{Name: v1Topic, Partitions: 1, Data: []archive.Partition{p}}}}
	data, err := archive.MarshalManifest(m)
	require.NoError(t, err)
	require.NoError(t, store.Put(context.Background(), layout.Manifest(), data))
	t.Fatalf("rewrote %s; run again without -update-v1-backup", dir)
}

func mkdir(t *testing.T, dir string) string {
	require.NoError(t, os.MkdirAll(dir, 0o755))
	abs, err := filepath.Abs(dir)
	require.NoError(t, err)
	return abs
}

// copyV1Fixture copies the fixture into dir with v1topic renamed to topic, in keys and paths.
func copyV1Fixture(t *testing.T, dir, topic string) {
	src := filepath.Join("testdata", "v1backup")
	require.NoError(t, filepath.WalkDir(src, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if strings.HasSuffix(rel, "manifest.json") {
			data = bytes.ReplaceAll(data, []byte(v1Topic), []byte(topic))
		}
		out := filepath.Join(dir, strings.ReplaceAll(rel, v1Topic, topic))
		if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
			return err
		}
		return os.WriteFile(out, data, 0o644)
	}))
}

// Acceptance (catalog, compatibility): a backup written as format version 1 continues under
// the catalog without its segments being rewritten, and restores exactly: the fixture's 200
// records and the 100 the continued backup adds.
func TestVersion1BackupContinuesUnderTheCatalog(t *testing.T) {
	fixture := filepath.Join("testdata", "v1backup")
	if *updateV1Backup {
		writeV1Fixture(t, fixture)
	}
	bootstrap := testenv.Kafka(t)
	c, queue := startWorker(t, secrets.Map{})
	dir := t.TempDir()
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
	topic := testenv.Topic(t, "v1cont", 1, nil)
	copyV1Fixture(t, dir, topic)

	store, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(v1Backup)
	require.NoError(t, err)
	before, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	require.Equal(t, archive.ManifestVersionInline, before.Version, "the fixture is a version 1 manifest")
	fixtureSegs := before.Topics[0].Data[0].Segments
	require.Len(t, fixtureSegs, 4)
	segBytes := map[string][]byte{}
	for _, s := range fixtureSegs {
		segBytes[s.Key], err = os.ReadFile(filepath.Join(dir, s.Key))
		require.NoError(t, err)
	}

	produceNumbered(t, bootstrap, topic, v1Records+100, v1Base) // the fixture's 200 records, then 100 more
	backupOnce(t, c, queue, bootstrap, storage, v1Backup, topic)

	cat, err := catalog.Open(context.Background(), store, layout)
	require.NoError(t, err)
	require.Equal(t, archive.ManifestVersion, cat.Root().Version, "the first commit migrated the manifest")
	after, err := cat.View(context.Background(), catalog.Filter{})
	require.NoError(t, err)
	p := after.Topics[0].Data[0]
	require.Equal(t, int64(v1Records+100), p.NextOffset)
	require.Empty(t, p.Holes())
	require.Equal(t, fixtureSegs, p.Segments[:4], "the version 1 segments, as they were")
	for key, data := range segBytes {
		now, err := os.ReadFile(filepath.Join(dir, key))
		require.NoError(t, err)
		require.Equal(t, data, now, "%s was not rewritten", key)
	}

	target := topic + "-restored"
	wid := startRestore(t, c, queue, bootstrap, storage, v1Backup, kafkarestore.Spec{CreateTopics: true,
		Topics: []kafkarestore.TopicMapping{{Source: topic, Target: target}}})
	s := restoreStatus(t, c, wid)
	require.Equal(t, kafkarestore.PhaseDone, s.Phase, "%s %s", s.Reason, s.LastError)
	requireSameRecords(t, kcatRead(t, bootstrap, topic), kcatRead(t, bootstrap, target), "v1 backup continued under v2")
	require.Equal(t, numbered(0, v1Records+99), values(t, bootstrap, target))
}

// Acceptance (catalog, compaction): a quiet partition's small segments are merged as the catalog
// folds, every offset stays named exactly once, and a restore that started before the merge and
// finishes after it restores exactly.
func TestCompactionMergesSmallSegmentsUnderARunningRestore(t *testing.T) {
	t.Parallel() // waits on intervals and timeouts, nearly idle: overlapped with the other waiting tests
	bootstrap := testenv.Kafka(t)
	c, queue := startWorker(t, secrets.Map{})
	dir := t.TempDir()
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
	topic := testenv.Topic(t, "compact", 1, nil)
	const backup = "default/compaction"

	// A quiet producer: a few records at a time, so every 1 s segment is small.
	ctx, stop := context.WithCancel(context.Background())
	produced := make(chan int)
	go func() {
		n := 0
		defer func() { produced <- n }()
		for ctx.Err() == nil {
			_ = sendNumbered(bootstrap, topic, n, 20, v1Base) // a failure shows as missing records below
			n += 20
			select {
			case <-ctx.Done():
			case <-time.After(300 * time.Millisecond): // the producer's pace, not synchronisation
			}
		}
	}()
	defer func() { stop(); <-produced }()

	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: backup,
		Kafka: specJSON(t, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}), Storage: specJSON(t, storage)},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeContinuous,
			Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 4 << 20, MaxSegmentInterval: time.Second,
			Compaction:        kafkabackup.Compaction{Enabled: true, MinSegmentBytes: 1 << 20},
			DiscoveryInterval: time.Minute}}
	wid := workflows.WorkflowID("KafkaBackup", "default", "compaction-"+topic)
	_, err := c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })

	store, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(backup)
	require.NoError(t, err)
	view := func() *archive.Manifest {
		m, err := catalog.Read(context.Background(), store, layout)
		require.NoError(t, err)
		return m
	}

	// Two commits in: small segments, not folded yet. A restore of what is committed plans
	// from them, then waits (paused) until the fold has merged them.
	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool { return s.Generation >= 3 })
	before := view().Topics[0].Data[0]
	require.Greater(t, len(before.Segments), 5, "one small segment a second")
	upto := before.NextOffset - 1
	rwid := startRestore(t, c, queue, bootstrap, storage, backup, kafkarestore.Spec{CreateTopics: true,
		Topics: []kafkarestore.TopicMapping{{Source: topic, Target: topic + "-restored"}},
		Window: kafkarestore.Window{ToOffset: &upto}})
	require.NoError(t, c.SignalWorkflow(context.Background(), rwid, "", workflows.SignalPause, nil))
	paused := waitForStatus(t, c, rwid, func(s kafkarestore.Status) bool {
		return s.Reason == status.PausedBySignal || s.Phase == kafkarestore.PhaseDone || s.Phase == kafkarestore.PhaseFailed
	})
	require.Equal(t, status.PausedBySignal, paused.Reason, "paused after planning, before writing")
	require.NotNil(t, paused.Plan)
	require.Equal(t, upto+1, paused.Plan.Records, "planned from the small segments")

	// The fold after the 12th commit (the root's generation 13) merges what it places; the
	// small segments are retired. Twelve 10 s cycles: wait up to four minutes.
	deadline := time.Now().Add(4 * time.Minute)
	for {
		cat, err := catalog.Open(context.Background(), store, layout)
		require.NoError(t, err)
		if cat.Root().Topics[0].Data[0].Index != nil {
			break
		}
		require.True(t, time.Now().Before(deadline), "no fold after %d commits", cat.Root().Generation)
		time.Sleep(500 * time.Millisecond) // polling the storage, not synchronisation
	}
	after := view().Topics[0].Data[0]
	require.Empty(t, after.Holes(), "every offset named")
	var planned, records int64
	for _, s := range after.Segments {
		records += s.Count
		if s.FirstOffset <= upto {
			planned++
		}
	}
	require.Equal(t, int64(1), planned, "the %d segments the restore planned from are one now", len(before.Segments))
	require.Less(t, len(after.Segments), len(before.Segments), "fewer segments after the fold than before it")
	// Every offset exactly once: records counted in segments match the offsets covered.
	require.Equal(t, after.NextOffset-after.StartOffset, records)

	require.NoError(t, c.SignalWorkflow(context.Background(), rwid, "", workflows.SignalResume, nil))
	st := restoreStatus(t, c, rwid)
	require.Equal(t, kafkarestore.PhaseDone, st.Phase, "%s %s", st.Reason, st.LastError)
	require.Equal(t, numbered(0, int(upto)), values(t, bootstrap, topic+"-restored"), "exactly the planned records")
}

// Acceptance (catalog, retention): a restore that planned before retention removed what it
// planned, and writes after, restores exactly: its plan pinned the catalog generation, so the
// dropped segments stay stored until it ends (then its pin goes). When the pin is lost (it
// expired: the restore was idle longer than catalog.PinFor), the restore fails naming the
// offsets (reason RemovedByRetention) instead of ending Done with fewer records.
func TestRestoreAcrossRetention(t *testing.T) {
	for _, pinLost := range []bool{false, true} {
		name := "pinned"
		if pinLost {
			name = "pin-lost"
		}
		t.Run(name, func(t *testing.T) { restoreAcrossRetention(t, pinLost) })
	}
}

func restoreAcrossRetention(t *testing.T, pinLost bool) {
	bootstrap := testenv.Kafka(t)
	c, queue := startWorker(t, secrets.Map{})
	dir := t.TempDir()
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
	topic := testenv.Topic(t, "retained", 1, nil)
	const backup = "default/retained"
	require.NoError(t, sendNumbered(bootstrap, topic, 0, 100, v1Base))
	in := kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: "default", Backup: backup,
		Kafka: specJSON(t, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}), Storage: specJSON(t, storage)},
		Spec: kafkabackup.Spec{Enabled: true, Streams: []kafkabackup.Stream{{Topic: topic, Enabled: true}}, Mode: kafkabackup.ModeScheduled,
			Schedule: "@yearly", Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20,
			MaxSegmentInterval: 10 * time.Second, DiscoveryInterval: time.Minute, KeepLast: 1}}
	wid := workflows.WorkflowID("KafkaBackup", "default", "retained-"+topic)
	_, err := c.SignalWithStartWorkflow(context.Background(), wid, workflows.SignalTrigger, nil,
		client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	first := waitForStatus(t, c, wid, func(s kafkabackup.Status) bool {
		return len(s.Runs) == 1 && s.Runs[0].Outcome != "" && s.Reason == "WaitingForSchedule"
	})

	// The restore plans the first run's 100 records, then waits (paused).
	rwid := startRestore(t, c, queue, bootstrap, storage, backup, kafkarestore.Spec{CreateTopics: true,
		Topics: []kafkarestore.TopicMapping{{Source: topic, Target: topic + "-restored"}}})
	require.NoError(t, c.SignalWorkflow(context.Background(), rwid, "", workflows.SignalPause, nil))
	paused := waitForStatus(t, c, rwid, func(s kafkarestore.Status) bool {
		return s.Reason == status.PausedBySignal || s.Phase == kafkarestore.PhaseDone || s.Phase == kafkarestore.PhaseFailed
	})
	require.Equal(t, status.PausedBySignal, paused.Reason)
	require.Equal(t, int64(100), paused.Plan.Records)
	require.Empty(t, paused.Plan.Warnings, "the plan pinned its generation")
	pins := func() []string {
		var out []string
		for _, k := range listFiles(t, dir) {
			if strings.Contains(k, "/catalog/pins/") {
				out = append(out, k)
			}
		}
		return out
	}
	require.Len(t, pins(), 1, "one pin, the restore's")
	if pinLost {
		for _, k := range pins() {
			require.NoError(t, os.Remove(k)) // as an expired pin is removed
		}
	}

	// A second run; keepLast 1 removes the first run's data from the catalog.
	require.NoError(t, sendNumbered(bootstrap, topic, 100, 50, v1Base))
	require.NoError(t, c.SignalWorkflow(context.Background(), wid, "", workflows.SignalTrigger, nil))
	waitForStatus(t, c, wid, func(s kafkabackup.Status) bool {
		return len(s.Runs) == 1 && s.Runs[0].ID != first.Runs[0].ID && s.Reason == "WaitingForSchedule"
	})
	store, err := blobstore.OpenURL(context.Background(), "file://"+dir)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(backup)
	require.NoError(t, err)
	m, err := catalog.Read(context.Background(), store, layout)
	require.NoError(t, err)
	require.Equal(t, int64(100), m.Topics[0].Data[0].StartOffset, "retention removed the planned records from the catalog")

	require.NoError(t, c.SignalWorkflow(context.Background(), rwid, "", workflows.SignalResume, nil))
	st := restoreStatus(t, c, rwid)
	if pinLost {
		require.Equal(t, kafkarestore.PhaseFailed, st.Phase, "not Done with fewer records: %+v", st)
		require.Equal(t, kafkarestore.ErrRemovedByRetention, st.Reason)
		require.Contains(t, st.LastError, fmt.Sprintf("%s/0: offsets 0-99 were planned", topic))
		return
	}
	require.Equal(t, kafkarestore.PhaseDone, st.Phase, "%s %s", st.Reason, st.LastError)
	require.Equal(t, numbered(0, 99), values(t, bootstrap, topic+"-restored"), "exactly the planned records")
	require.Empty(t, pins(), "the finished restore released its pin")
}

// listFiles lists every file under dir (a volume storage), as paths.
func listFiles(t *testing.T, dir string) []string {
	var out []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			out = append(out, path)
		}
		return err
	}))
	return out
}
