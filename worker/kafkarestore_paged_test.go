package worker_test

import (
	"context"
	"fmt"
	"io/fs"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkarestore"
)

// A restore whose plan lives in pages and whose runs continue as new, on the real server:
// Limits make three topics of four partitions what thousands of partitions are by default
// (pages of 4 streams, a run reads about 4 unfinished streams, offset maps stay out of the
// result). Each run reads only the page it restores, every record lands exactly, the group
// offsets of a page finished in an earlier run are committed from its progress page, and the
// restore leaves nothing in the storage. Its runs are the replay fixtures kafkarestore-paged-*.
func TestPagedRestoreContinuesAsNewOnTheServer(t *testing.T) {
	pr := startPagedRestore(t)
	s := restoreStatus(t, pr.c, pr.wid)
	requireRestoredExactly(t, pr.bootstrap, pr.topics, s)
	require.Len(t, s.Plan.Pages, 3, "a page per topic")
	require.Equal(t, 12, s.StreamsDone)

	// Fresh target topics with no gaps: the translated offsets are the source's.
	admin, err := sarama.NewClusterAdmin([]string{pr.bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	for source, offsets := range pr.committed {
		target := source + "-restored"
		got, err := admin.ListConsumerGroupOffsets(pr.group, map[string][]int32{target: {0, 1, 2, 3}})
		require.NoError(t, err)
		for p := range int32(4) {
			want, ok := offsets[p]
			if !ok {
				want = -1 // none committed
			}
			require.Equal(t, want, got.GetBlock(target, p).Offset, "group offset on %s/%d", target, p)
		}
	}

	// Three runs, each reading the one plan page it restores and no progress page (the pages
	// finished before it are known from the state), and the last committing the first page's
	// offsets from that page's progress.
	runs := runHistories(t, pr.c, pr.wid)
	require.Equal(t, 3, len(runs), "runs of the restore")
	read := map[string]int{}
	scheduled := map[string]int{}
	for i, h := range runs {
		for _, ev := range h.Events {
			a := ev.GetActivityTaskScheduledEventAttributes()
			if a == nil {
				continue
			}
			scheduled[a.GetActivityType().GetName()]++
			if a.GetActivityType().GetName() == kafkarestore.ActivityReadPage {
				var in kafkarestore.PageInput
				require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in))
				read[in.Key]++
				require.Contains(t, in.Key, "plan-", "run %d read a progress page", i+1)
			}
		}
		if i < len(runs)-1 {
			require.NotNil(t, h.Events[len(h.Events)-1].GetWorkflowExecutionContinuedAsNewEventAttributes(), "run %d ends continuing as new", i+1)
		}
	}
	for _, key := range s.Plan.Pages {
		require.Equal(t, 1, read[key], "reads of the plan's page %s", key)
	}
	require.Equal(t, 2, scheduled[kafkarestore.ActivitySavePage], "progress pages written: one per run that continued as new")
	require.Equal(t, 1, scheduled[kafkarestore.ActivityGroupsFromPages], "group offsets committed from the first page's progress")
	require.Equal(t, 1, scheduled[kafkarestore.ActivityGroups], "group offsets of the last run's own page")

	require.Empty(t, storedUnder(t, pr.dir, "/restores/"), "the restore's pages left in the storage")

	if *recordHistories {
		for i, h := range runs {
			writeHistory(t, h, fmt.Sprintf("kafkarestore-paged-run%d", i+1))
		}
	}
}

// pagedRestore is a restore of three topics of four partitions with Limits that make it page
// and continue as new, started on a worker of its own.
type pagedRestore struct {
	c              client.Client
	bootstrap, dir string
	topics         []kafkarestore.TopicMapping
	group          string
	committed      map[string]map[int32]int64 // the group's offsets on the source topics
	wid            string
}

// startPagedRestore backs up three topics of four partitions (a consumer group with offsets on
// the first and the last) to a volume and starts their restore into new topics, pages of 4
// streams and runs of about 4; before opts change its input.
func startPagedRestore(t *testing.T, opts ...func(*kafkarestore.Input)) pagedRestore {
	t.Helper()
	pr := pagedRestore{bootstrap: testenv.Kafka(t), dir: t.TempDir()}
	var queue string
	pr.c, queue = startWorker(t, secrets.Map{})
	storage := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: pr.dir}}
	prefix := fmt.Sprintf("pg%d", time.Now().UnixNano())
	var sources []string
	for _, name := range []string{"a", "b", "c"} {
		topic := testenv.Topic(t, prefix+"-"+name, 4, nil)
		sources = append(sources, topic)
		producePartitions(t, pr.bootstrap, topic, 4)
	}
	// The group has offsets on the first topic (the first page, finished two runs before the
	// last) and on the last (the last run's own page).
	pr.group = prefix + "-g"
	pr.committed = map[string]map[int32]int64{sources[0]: {0: 5, 1: 7}, sources[2]: {2: 3, 3: 11}}
	for topic, offsets := range pr.committed {
		commitGroup(t, pr.bootstrap, pr.group, topic, offsets)
	}
	backupOnce(t, pr.c, queue, pr.bootstrap, storage, "default/pg", prefix+"-*")
	for _, s := range sources {
		pr.topics = append(pr.topics, kafkarestore.TopicMapping{Source: s, Target: s + "-restored"})
	}
	limits := kafkarestore.Limits{PageStreams: 4, LoadStreams: 4, ResultRanges: 1, PackPartitions: 1} // a stream per partition
	pr.wid = startRestore(t, pr.c, queue, pr.bootstrap, storage, "default/pg",
		kafkarestore.Spec{Topics: pr.topics, CreateTopics: true, ConsumerGroups: []string{pr.group}},
		append([]func(*kafkarestore.Input){func(in *kafkarestore.Input) { in.Limits = limits }}, opts...)...)
	return pr
}

// storedUnder lists the files under dir whose path holds part.
func storedUnder(t *testing.T, dir, part string) []string {
	t.Helper()
	var found []string
	require.NoError(t, filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(filepath.ToSlash(path), part) {
			found = append(found, path)
		}
		return err
	}))
	return found
}

// A paged restore paused and then cancelled (its KafkaRestore deleted) ends cancelled, and
// takes its pages and its pin on the backup's catalog with it. (Before, a cancelled paused
// restore spun in its workflow task until the deadlock detector failed it, again and again.)
func TestPausedPagedRestoreCancelledLeavesNothing(t *testing.T) {
	pr := startPagedRestore(t)
	require.NoError(t, pr.c.SignalWorkflow(context.Background(), pr.wid, "", workflows.SignalPause, nil))
	s := waitForStatus(t, pr.c, pr.wid, func(s kafkarestore.Status) bool {
		return s.Reason == status.PausedBySignal && s.Plan != nil && len(s.Plan.Pages) == 3
	})
	require.Less(t, s.StreamsDone, 12, "paused before it finished")
	require.NotEmpty(t, storedUnder(t, pr.dir, "/restores/"), "the plan's pages while it is paused")
	require.NotEmpty(t, storedUnder(t, pr.dir, "/pins/"), "its pin while it is paused")

	require.NoError(t, pr.c.CancelWorkflow(context.Background(), pr.wid, ""))
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	err := pr.c.GetWorkflow(ctx, pr.wid, "").Get(ctx, nil)
	var canceled *temporal.CanceledError
	require.ErrorAs(t, err, &canceled, "the restore ends cancelled")
	require.Empty(t, storedUnder(t, pr.dir, "/restores/"), "the restore's pages left in the storage")
	require.Empty(t, storedUnder(t, pr.dir, "/pins/"), "the restore's pin left in the storage")
}

// producePartitions writes 20+3p records to each partition p of topic.
func producePartitions(t *testing.T, bootstrap, topic string, partitions int32) {
	t.Helper()
	var msgs []*sarama.ProducerMessage
	for part := range partitions {
		for i := range 20 + 3*int(part) {
			msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Partition: part,
				Key: sarama.StringEncoder(fmt.Sprintf("k%d-%d", part, i)), Value: sarama.StringEncoder(fmt.Sprintf("v%d-%d", part, i))})
		}
	}
	sendAsGiven(t, bootstrap, msgs)
}

// The same restore with Limits.TopicBytes making its three topics what thousands are by
// default: the plan keeps its topics in a page, the preflight its targets in another, each
// Restore activity gets the page instead of its target and takes the target from it, every
// record lands exactly, and the restore leaves nothing in the storage.
func TestRestoreOfManyTopicsKeepsTopicsAndTargetsInPages(t *testing.T) {
	pr := startPagedRestore(t, func(in *kafkarestore.Input) { in.Limits.TopicBytes = 1 })
	s := restoreStatus(t, pr.c, pr.wid)
	requireRestoredExactly(t, pr.bootstrap, pr.topics, s)
	require.NotEmpty(t, s.Plan.TopicsPage, "the planned topics are in a page")
	require.Empty(t, s.Plan.Topics)
	require.Equal(t, 3, s.Plan.TopicCount)
	streams := 0
	for _, h := range runHistories(t, pr.c, pr.wid) {
		for _, ev := range h.Events {
			a := ev.GetActivityTaskScheduledEventAttributes()
			if a == nil || a.GetActivityType().GetName() != kafkarestore.ActivityRestore {
				continue
			}
			var in kafkarestore.RestoreInput
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(a.GetInput(), &in))
			require.Contains(t, in.TargetsPage, "/targets-", "stream %s/%d", in.Stream.Source, in.Stream.Partitions[0].Partition)
			require.Empty(t, in.Target.Name, "no target inline beside the page")
			streams++
		}
	}
	require.Equal(t, 12, streams, "Restore activities")
	require.Empty(t, storedUnder(t, pr.dir, "/restores/"), "the restore's pages left in the storage")
}
