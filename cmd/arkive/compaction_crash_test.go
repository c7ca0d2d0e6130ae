package main

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

const (
	compactPartitions = 48
	compactDeltas     = catalog.FoldAfter // enough pending deltas that the backup's first commit makes the fold due
	compactPerSegment = 60
	compactKills      = 3
)

// Issue 17, acceptance 3: the worker process is SIGKILLed three times while a fold merges small
// segments (each kill after it has written some merged segments, before it wrote the root), and
// restarted; afterwards `arkive verify --deep` passes, and the catalog names every offset exactly
// once, each record with its own value.
//
// The small segments are written here, as twelve commits of a quiet partition's captures would
// leave them (one segment per partition per commit, the deltas not folded yet); Kafka holds the
// same offsets, so the backup workflow started on them captures nothing new and its first
// commit makes the fold due.
func TestCompactionSurvivesWorkerSIGKILLs(t *testing.T) {
	if testing.Short() {
		t.Skip("long crash test")
	}
	t.Parallel() // mostly waiting for heartbeat timeouts and restarts: overlapped with the other fault tests
	ctx := context.Background()
	bootstrap := testenv.Kafka(t)
	temporal := testenv.Temporal(t)
	topic := testenv.Topic(t, "compactcrash", compactPartitions, nil)
	total := compactPartitions * compactDeltas * compactPerSegment
	seq := make([]int, compactPartitions)
	produceSequence(t, bootstrap, topic, seq, total)
	bin := buildArkive(t)

	dir := t.TempDir()
	name := "compactcrash" + strconv.FormatInt(time.Now().UnixNano()%1e9, 10)
	in := volumeBackupInput(t, bootstrap, topic, dir, name, 64<<20)
	require.True(t, in.Spec.Compaction.Enabled, "compaction is on by default")

	store, err := blobstore.OpenURL(ctx, "file://"+dir)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(in.Backup)
	require.NoError(t, err)
	writeSmallSegments(t, store, layout, in.Backup, topic)
	root := func() *archive.Manifest {
		c, err := catalog.Open(ctx, store, layout)
		require.NoError(t, err)
		return c.Root()
	}
	require.Len(t, root().Deltas, compactDeltas)

	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	queue := "crash-" + name
	wid := workflows.WorkflowID("KafkaBackup", "default", name)
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, kafkabackup.WorkflowName, in)
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") }()
	startWorker := func() *exec.Cmd { return startKafkaWorker(t, bin, temporal, queue) }
	// A merged segment spans all of a partition's small ones.
	mergedName := fmt.Sprintf("%020d-%020d.seg", 0, compactDeltas*compactPerSegment-1)
	mergedSince := func(since time.Time) int {
		n := 0
		require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != mergedName {
				return err
			}
			if info, err := d.Info(); err == nil && info.ModTime().After(since) {
				n++
			}
			return nil
		}))
		return n
	}
	var atKill []int
	for k := range compactKills {
		started := time.Now()
		w := startWorker()
		deadline := time.Now().Add(3 * time.Minute)
		for mergedSince(started) < 2 {
			if !time.Now().Before(deadline) {
				v, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
				var st map[string]any
				if err == nil {
					_ = v.Get(&st)
				}
				r := root()
				m, _ := catalog.Read(ctx, store, layout)
				var segs []string
				for _, s := range m.Topics[0].Data[0].Segments {
					segs = append(segs, fmt.Sprintf("%s %d", filepath.Base(s.Key), s.StoredBytes))
				}
				t.Fatalf("kill %d: no merged segment written; phase %v %v %v; root generation %d deltas %d; p0 %v", k+1, st["phase"], st["reason"], st["lastError"], r.Generation, len(r.Deltas), segs)
			}
			time.Sleep(5 * time.Millisecond) // polling the storage
		}
		require.NoError(t, w.Process.Signal(syscall.SIGKILL))
		_ = w.Wait()
		atKill = append(atKill, mergedSince(started))
		require.NotEmpty(t, root().Deltas, "kill %d landed after the fold wrote its root", k+1)
	}
	final := startWorker()
	defer func() { _ = final.Process.Kill(); _ = final.Wait() }()
	deadline := time.Now().Add(5 * time.Minute)
	for len(root().Deltas) > 0 {
		require.True(t, time.Now().Before(deadline), "the fold did not finish after the kills")
		time.Sleep(200 * time.Millisecond) // polling the storage
	}
	require.NoError(t, c.TerminateWorkflow(ctx, wid, "", "compacted"))
	require.NoError(t, final.Process.Kill())
	_ = final.Wait()
	t.Logf("merged segments written by each killed worker: %v", atKill)

	out, err := exec.Command(bin, "verify", "--storage", "file://"+dir, "--backup", in.Backup, "--deep").CombinedOutput()
	var exit *exec.ExitError
	require.False(t, errors.As(err, &exit), "verify --deep failed: %s", out)
	require.NoError(t, err)
	require.Contains(t, string(out), "is whole")

	m, err := catalog.Read(ctx, store, layout)
	require.NoError(t, err)
	require.Len(t, m.Topics, 1)
	require.Len(t, m.Topics[0].Data, compactPartitions)
	read := 0
	for _, part := range m.Topics[0].Data {
		require.Len(t, part.Segments, 1, "partition %d: its %d small segments are one", part.Partition, compactDeltas)
		require.Equal(t, int64(seq[part.Partition]), part.NextOffset)
		read += readBackSequence(t, store, part)
	}
	require.Equal(t, total, read)
}

// writeSmallSegments commits compactDeltas times one segment of compactPerSegment records per
// partition: values are the offsets (as Kafka holds them), keys 6 KiB of random bytes, so each
// segment is a few hundred KiB, far below the compaction threshold.
func writeSmallSegments(t *testing.T, store *blobstore.Store, layout blobstore.KafkaLayout, backup, topic string) {
	ctx := context.Background()
	now := time.Now()
	comp := archive.Compression{Codec: archive.CodecZstd}
	for d := range compactDeltas {
		segs := make([]archive.SegmentRef, compactPartitions)
		for p := range compactPartitions {
			first := int64(d * compactPerSegment)
			last := first + compactPerSegment - 1
			key, err := layout.Segment(topic, int32(p), first, last)
			require.NoError(t, err)
			w, err := store.NewWriter(ctx, key, nil)
			require.NoError(t, err)
			sw, err := archive.NewSegmentWriter(w, archive.WriterOptions{Compression: comp})
			require.NoError(t, err)
			for o := first; o <= last; o++ {
				k := make([]byte, 6<<10)
				_, _ = rand.Read(k)
				require.NoError(t, sw.Append(&archive.Record{Offset: o, Timestamp: now.UnixMilli(), Key: k, Value: []byte(strconv.FormatInt(o, 10))}))
			}
			footer, err := sw.Close()
			require.NoError(t, err)
			require.NoError(t, w.Close())
			segs[p] = archive.SegmentRef{Key: key, FirstOffset: first, LastOffset: last, Count: footer.Count,
				MinTimestamp: footer.MinTimestamp, MaxTimestamp: footer.MaxTimestamp, StoredBytes: sw.StoredBytes(),
				PayloadBytes: footer.PayloadBytes, MaxRecordBytes: 6<<10 + 8, ContentCRC: footer.ContentCRC, Codec: comp.Codec.String()}
		}
		cat, err := catalog.Open(ctx, store, layout)
		require.NoError(t, err)
		_, err = cat.Commit(ctx, backup, now, func(m *archive.Manifest) error {
			if len(m.Topics) == 0 {
				m.Topics = []archive.Topic{{Name: topic, Partitions: compactPartitions}}
				for p := range compactPartitions {
					m.Topics[0].Data = append(m.Topics[0].Data, archive.Partition{Partition: int32(p)})
				}
			}
			for p := range compactPartitions {
				part := &m.Topics[0].Data[p]
				part.Segments = append(part.Segments, segs[p])
				part.NextOffset = segs[p].LastOffset + 1
			}
			m.Generation++
			return nil
		})
		require.NoError(t, err)
	}
}
