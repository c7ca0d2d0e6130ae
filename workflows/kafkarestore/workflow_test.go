package kafkarestore

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/internal/temporaltest"
	"arkive.io/arkive/workflows"
)

// rounds says what streamRounds simulates.
type rounds struct {
	n      int // partitions of the one topic, a stream each (Same mapping)
	topics int // with more than 1, the n partitions are spread evenly over this many topics
	// topicBytes is the restore's Limits.TopicBytes (0: the default).
	topicBytes int
	legacy     bool // a run that began before the stream cap
	capV1      bool // a run that began at version 1 of the stream cap (legacyRunningStreams)
	// paged has the plan activity keep its streams in pages, as the real one does with more
	// than PageStreams; a map stands in for the storage.
	paged bool
	// groups gives one consumer group an offset on every partition.
	groups bool
	// twice has each stream stop halfway in its first activity and finish in its second.
	twice bool
	// oldFirstRun has the first run continue as new as runs before versionPageState did.
	oldFirstRun bool
	dc          *temporaltest.SizeCheckingConverter
}

// roundsResult is what streamRounds saw: the most Restore activities pending at once, the
// events of the longest run (counted as the server would: one when an activity is scheduled,
// two when it ends), how many runs it took, the largest status answer's size and list, and
// the group offsets committed.
type roundsResult struct {
	maxPending, longest, runs int
	statusBytes, statusListed int
	committed                 int
	runBytes                  int64   // the most payload bytes one run encoded
	eachRun                   []int64 // the payload bytes of each run
	eachRead                  []int   // the pages each run read
	fromPages                 int     // group commits read from pages
}

// streamRounds restores one topic through the workflow with every activity mocked, each stream
// finishing in one 20-second activity, and continues as new until the restore is done; it
// checks that every partition was restored once and every group offset committed once.
func streamRounds(t *testing.T, o rounds) (res roundsResult) {
	t.Helper()
	n := o.n
	in := RunInput{Input: Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"},
		Spec: Spec{PartitionMapping: MappingSame, Topics: []TopicMapping{{Source: "orders", Target: "orders-restored"}}}}}
	in.Limits.TopicBytes = o.topicBytes
	topics := max(o.topics, 1)
	per := n / topics // partitions per topic
	require.Equal(t, n, per*topics, "partitions spread evenly")
	require.False(t, topics > 1 && o.groups, "group offsets on one topic only")
	name := func(i int) string { return "orders" }
	if topics > 1 {
		in.Spec.Topics = nil // every topic of the backup
		name = func(i int) string { return fmt.Sprintf("payments.settlement-events.eu-west-v2-%04d", i) }
	}
	index := map[string]int{} // a source topic's number
	full := Plan{Generation: 1, Records: 10 * int64(n)}
	var pre PreflightResult
	for i := range topics {
		index[name(i)] = i
		full.Topics = append(full.Topics, PlannedTopic{Source: name(i), Target: name(i) + "-restored", Partitions: int32(per),
			Configs: map[string]string{"cleanup.policy": "delete", "retention.ms": "604800000"}})
		pre.Targets = append(pre.Targets, TargetTopic{Name: name(i) + "-restored", Partitions: int32(per), MaxMessageBytes: 1 << 20, Baseline: make(Offsets, per)})
		for p := range int32(per) {
			full.Streams = append(full.Streams, Stream{Source: name(i), Target: name(i) + "-restored", Partitions: []StreamPartition{{Partition: p, Upto: 10}}, Records: 10})
			if o.groups {
				full.Groups = append(full.Groups, GroupOffset{Group: "billing", Topic: "orders", Partition: p, Offset: 7})
			}
		}
	}
	storage := map[string][]byte{} // what the page activities keep
	planFor := func(in PlanInput) (Plan, error) {
		if !o.paged || in.PageStreams == 0 || n <= in.PageStreams {
			return full, nil
		}
		plan := full
		// As pageTopics (activities/kafka): a paged plan's topics go to a page past TopicBytes.
		if b, _ := json.Marshal(full.Topics); in.TopicBytes > 0 && len(b) > in.TopicBytes {
			key := "restores/r/topics-0123456789abcdef.json"
			storage[key], _ = json.Marshal(Page{Topics: full.Topics})
			plan.TopicsPage, plan.TopicCount, plan.Topics = key, len(full.Topics), nil
		}
		plan.Streams, plan.Groups, plan.StreamCount, plan.GroupNames = nil, nil, n, []string{"billing"}
		if !o.oldFirstRun {
			plan.PageSize = in.PageStreams // plans paged before it was recorded lack it
		}
		for first := 0; first < n; first += in.PageStreams {
			page := Page{First: first, Streams: full.Streams[first:min(n, first+in.PageStreams)]}
			if o.groups {
				page.Groups = full.Groups[first:min(n, first+in.PageStreams)]
			}
			key := fmt.Sprintf("restores/r/plan-%04d.json", len(plan.Pages))
			storage[key], _ = json.Marshal(page)
			plan.Pages = append(plan.Pages, key)
		}
		return plan, nil
	}
	// As PreflightRestore: the targets of a plan whose topics are in a page go to a page too.
	preflight := func(in PreflightInput) (PreflightResult, error) {
		if in.Plan.TopicsPage == "" {
			return pre, nil
		}
		var page Page
		require.NoError(t, json.Unmarshal(storage[in.Plan.TopicsPage], &page))
		require.Len(t, page.Topics, topics, "the planned topics, from their page")
		key := "restores/r/targets-0123456789abcdef.json"
		storage[key], _ = json.Marshal(Page{Targets: pre.Targets})
		return PreflightResult{TargetsPage: key}, nil
	}
	targetPages := map[string]Page{} // decoded once, as a worker keeps them
	restored, committed := make([]int, n), make([]int, n)
	reads := 0     // pages read
	fromPages := 0 // RestoreGroupOffsetsFromPages activities
	for {
		res.runs++
		readsBefore := reads
		require.Less(t, res.runs, 40, "too many runs")
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		if o.dc != nil {
			env.SetDataConverter(o.dc)
		}
		// The test worker's own slots (1,000 by default) must not be what caps the streams.
		tuner, err := worker.NewFixedSizeTuner(worker.FixedSizeTunerOptions{NumActivitySlots: 2 * min(n, 1000)})
		require.NoError(t, err)
		env.SetWorkerOptions(worker.Options{Tuner: tuner})
		var mu sync.Mutex
		pending, events := 0, 10
		env.RegisterWorkflowWithOptions(KafkaRestore, workflow.RegisterOptions{Name: WorkflowName})
		env.RegisterActivityWithOptions(planFor, activity.RegisterOptions{Name: ActivityPlan})
		env.RegisterActivityWithOptions(preflight, activity.RegisterOptions{Name: ActivityPreflight})
		env.RegisterActivityWithOptions(func(UnpinInput) error { return nil }, activity.RegisterOptions{Name: ActivityUnpin})
		env.RegisterActivityWithOptions(func(in GroupsInput) error {
			mu.Lock()
			defer mu.Unlock()
			require.LessOrEqual(t, len(in.Groups), groupsPerRequest, "offsets in one request")
			for _, g := range in.Groups {
				committed[g.SourcePartition]++
			}
			return nil
		}, activity.RegisterOptions{Name: ActivityGroups})
		env.RegisterActivityWithOptions(func(in GroupPagesInput) error {
			mu.Lock()
			defer mu.Unlock()
			fromPages++
			for _, key := range in.Pages {
				var page Page
				require.NoError(t, json.Unmarshal(storage[key], &page), key)
				for _, p := range page.Progress {
					for _, g := range p.Groups {
						committed[g.SourcePartition]++
					}
				}
			}
			return nil
		}, activity.RegisterOptions{Name: ActivityGroupsFromPages})
		env.RegisterActivityWithOptions(func(in PageInput) (Page, error) {
			mu.Lock()
			defer mu.Unlock()
			reads++
			var page Page
			return page, json.Unmarshal(storage[in.Key], &page)
		}, activity.RegisterOptions{Name: ActivityReadPage})
		env.RegisterActivityWithOptions(func(in PageInput) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			key := "restores/r/" + in.Name + ".json"
			storage[key], _ = json.Marshal(in.Page)
			return key, nil
		}, activity.RegisterOptions{Name: ActivitySavePage})
		restore := func(in RestoreInput) (Progress, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(in.Stream.Partitions) == 0 {
				panic(fmt.Sprintf("run %d: empty stream %+v resume %+v", res.runs, in.Stream, in.Resume))
			}
			own := in.Stream.Partitions[0].Partition
			restored[index[in.Stream.Source]*per+int(own)]++
			tt := in.Target
			if in.TargetsPage != "" { // as pagedTarget (activities/kafka), which keeps what it read
				require.Empty(t, tt.Name, "a target inline beside the page")
				page, ok := targetPages[in.TargetsPage]
				if !ok {
					require.NoError(t, json.Unmarshal(storage[in.TargetsPage], &page))
					targetPages[in.TargetsPage] = page
				}
				i := slices.IndexFunc(page.Targets, func(t TargetTopic) bool { return t.Name == in.Stream.Target })
				require.GreaterOrEqual(t, i, 0, "target %s in the page", in.Stream.Target)
				tt = StreamTarget(page.Targets[i], in.Stream, in.Mapping)
			}
			require.Equal(t, in.Stream.Target, tt.Name)
			target := tt.Baseline
			if o.twice && in.Resume == nil {
				target[own] = 5
				return Progress{Part: 0, Next: 5, Index: 5, Target: target, Records: 5}, nil
			}
			if o.twice && (in.Resume.Next != 5 || in.Resume.Records != 5 || in.Resume.Target[own] != 5) {
				return Progress{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("partition %d resumed from %+v, not from its first activity's progress", own, in.Resume), ErrInvalidSpec, nil)
			}
			target[own] = 10
			p := Progress{Part: 0, Next: 10, Index: 10, Target: target, Records: 10, Done: true,
				OffsetMap: []OffsetRange{{Partition: own, SourceFrom: 0, TargetPartition: own, TargetFrom: 0, Count: 10}}}
			for _, g := range in.Groups {
				require.Equal(t, own, g.Partition, "a stream gets its own partitions' group offsets")
				p.Groups = append(p.Groups, TranslatedGroup{Group: g.Group, SourcePartition: own, SourceOffset: g.Offset, Topic: "orders-restored", Partition: own, Offset: g.Offset})
			}
			return p, nil
		}
		env.RegisterActivityWithOptions(restore, activity.RegisterOptions{Name: ActivityRestore})
		env.OnActivity(ActivityRestore, mock.Anything, mock.Anything).Return(restore).After(20 * time.Second)
		if o.legacy {
			env.OnGetVersion(versionStreamCap, workflow.DefaultVersion, 2).Return(workflow.DefaultVersion)
		}
		if o.capV1 {
			env.OnGetVersion(versionStreamCap, workflow.DefaultVersion, 2).Return(workflow.Version(1))
		}
		if o.oldFirstRun && res.runs == 1 {
			env.OnGetVersion(versionPageState, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		// Every activity's events count; only Restore activities count as streams pending.
		env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
			mu.Lock()
			defer mu.Unlock()
			events++
			env.SetCurrentHistoryLength(events)
			if info.ActivityType.Name == ActivityRestore {
				pending++
				res.maxPending = max(res.maxPending, pending)
			}
		})
		env.SetOnActivityCompletedListener(func(info *activity.Info, _ converter.EncodedValue, _ error) {
			mu.Lock()
			defer mu.Unlock()
			events += 2
			env.SetCurrentHistoryLength(events)
			if info.ActivityType.Name == ActivityRestore {
				pending--
			}
		})
		// The status, as the operator asks for it, halfway through a stream's run.
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(workflows.QueryStatus)
			require.NoError(t, err)
			var st Status
			require.NoError(t, v.Get(&st))
			b, _ := json.Marshal(st)
			res.statusBytes, res.statusListed = max(res.statusBytes, len(b)), max(res.statusListed, len(st.Partitions))
			if st.Phase == PhaseRestoring {
				require.Equal(t, n, st.Streams, "the status counts every stream")
			}
		}, 10*time.Second)
		var before int64
		if o.dc != nil {
			before = o.dc.Total()
		}
		env.ExecuteWorkflow(KafkaRestore, in)
		res.longest = max(res.longest, events)
		res.eachRead = append(res.eachRead, reads-readsBefore)
		if o.dc != nil {
			res.runBytes = max(res.runBytes, o.dc.Total()-before)
			res.eachRun = append(res.eachRun, o.dc.Total()-before)
		}
		var can *workflow.ContinueAsNewError
		if err := env.GetWorkflowError(); errors.As(err, &can) {
			in = RunInput{} // each run decodes its input afresh, as on the server
			require.NoError(t, converter.GetDefaultDataConverter().FromPayloads(can.Input, &in))
			require.Equal(t, Limits{PageStreams: PageStreams, LoadStreams: loadStreams, ResultRanges: maxResultRanges, PackPartitions: PackPartitions, TopicBytes: cmp.Or(o.topicBytes, InlineTopicBytes)}, in.Limits,
				"the limits a new restore fixed at its start, in every later run's input")
			continue
		} else {
			require.NoError(t, err)
		}
		var out Result
		require.NoError(t, env.GetWorkflowResult(&out))
		require.Equal(t, PhaseDone, out.Status.Phase)
		require.EqualValues(t, 10*n, out.Status.Records)
		require.Equal(t, n, out.Status.StreamsDone)
		if n <= maxResultRanges {
			require.Len(t, out.OffsetMaps, n, "the result carries every stream's offset map")
		} else {
			require.Empty(t, out.OffsetMaps)
			require.Equal(t, n, out.OffsetRanges, "the result counts the offset ranges it leaves out")
		}
		break
	}
	activities := 1
	if o.twice {
		activities = 2
	}
	for p, k := range restored {
		require.Equal(t, activities, k, "Restore activities of partition %d", p)
	}
	res.fromPages = fromPages
	for p, k := range committed {
		if o.groups {
			require.Equal(t, 1, k, "partition %d's group offset committed once", p)
			res.committed++
		}
	}
	return res
}

// A restore of 2,500 partitions keeps at most maxRunningStreams streams pending (Temporal's
// default limit is 2,000 per workflow), starts the next as one ends, and continues as new
// before its history passes 10,000 events; every stream runs exactly once. (The cap is 300
// here: the SDK's test environment cannot hold many more than 1,000 activities at once.)
func TestRestoreOfManyPartitionsCapsItsStreams(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	r := streamRounds(t, rounds{n: 2500})
	require.Equal(t, 300, r.maxPending, "streams pending at once")
	require.Less(t, r.longest, 10_000, "events in a run")
	require.Greater(t, r.runs, 1, "the restore continued as new")
	t.Logf("%d runs, at most %d streams pending, longest run %d events", r.runs, r.maxPending, r.longest)
}

// A new run keeps at most maxRunningStreams (256) pending; a run that began at version 1 of
// the cap keeps the 1,000 it kept then.
func TestRestoreStreamCapByVersion(t *testing.T) {
	r := streamRounds(t, rounds{n: 600})
	require.Equal(t, 256, r.maxPending, "streams pending at once")
	r = streamRounds(t, rounds{n: 1100, capV1: true})
	require.Equal(t, 1000, r.maxPending, "streams pending at once in a run at version 1")
}

// A run that began before the cap starts every stream at once, as it did then.
func TestRestoreBeforeTheCapStartsEveryStream(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	r := streamRounds(t, rounds{n: 800, legacy: true})
	require.Equal(t, 800, r.maxPending, "streams pending at once")
}

// A restore of 20,000 partitions with a consumer group on each stays within Temporal's limits:
// its plan and, between runs, its progress live in pages in the storage, so no payload (plan,
// inputs, results, the continue-as-new state, the status answer) reaches 256 KB; every run
// stays below 10,000 events with at most maxRunningStreams (here 300) streams pending, and
// below 10 MB of payloads, no more than a run of a quarter of the partitions; every partition
// is restored once and every group offset committed once, in bounded requests.
func TestRestoreOf20000PartitionsStaysWithinTemporalLimits(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	dc := temporaltest.NewSizeCheckingConverter()
	r := streamRounds(t, rounds{n: 20_000, paged: true, groups: true, dc: dc})
	require.Empty(t, dc.TooBig(), "payloads of 256 KB or more")
	require.LessOrEqual(t, r.maxPending, 300, "streams pending at once")
	require.Less(t, r.longest, 10_000, "events in a run")
	// Temporal warns at a history of 10 MB (and fails at 50 MB): a run's payloads are about its
	// size. Each run reads and writes only the pages of unfinished streams, and the last commits
	// the group offsets of pages finished before from the pages (before, every run read every
	// page and wrote all progress: 16.3 MB at most in a run, 154 MB in all).
	require.Less(t, r.runBytes, int64(10<<20), "payload bytes in a run")
	require.Less(t, dc.Total(), int64(40<<20), "payload bytes in all runs")
	// A run reads the pages under way and about loadStreams streams more, whatever the plan
	// holds: its payloads do not grow with the partitions (before, 16.3 MB at 20,000 against
	// 4.5 MB at 5,000).
	r5 := streamRounds(t, rounds{n: 5_000, paged: true, groups: true, dc: temporaltest.NewSizeCheckingConverter()})
	require.Less(t, r.runBytes, r5.runBytes*3/2, "payload bytes in a run at 20,000 partitions against 5,000 (%d)", r5.runBytes)
	require.Equal(t, maxStatusStreams, r.statusListed, "streams the status lists")
	require.Equal(t, 20_000, r.committed)
	require.Positive(t, r.fromPages, "group offsets committed from pages")
	t.Logf("%d runs, at most %d streams pending, longest run %d events, largest payload %d bytes, status %d bytes, at most %d payload bytes in a run (%d in all: %v; at 5,000 partitions at most %d: %v)",
		r.runs, r.maxPending, r.longest, dc.Largest(), r.statusBytes, r.runBytes, dc.Total(), r.eachRun, r5.runBytes, r5.eachRun)
}

// A restore of every topic of a backup of 5,000 topics (20,000 partitions, four each, with
// names as long as real ones often are and two configs each). Inline, the plan's topics alone
// take 1.1 MB and the preflight's targets 0.7 MB, and the state carried from run to run holds
// both: near Temporal's 2 MB limit, which about 5,500 such topics would pass. The plan
// keeps its topics in a page, the preflight its targets in another, and each Restore activity
// takes its stream's target from that page; every payload stays below 256 KB. With the pages
// turned off (Limits.TopicBytes past any plan), 2,000 topics already pass it.
func TestRestoreOfThousandsOfTopicsStaysWithinTemporalLimits(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	dc := temporaltest.NewSizeCheckingConverter()
	r := streamRounds(t, rounds{n: 20_000, topics: 5_000, paged: true, dc: dc})
	require.Empty(t, dc.TooBig(), "payloads of 256 KB or more")
	require.Less(t, r.runBytes, int64(10<<20), "payload bytes in a run")
	require.LessOrEqual(t, r.maxPending, 300, "streams pending at once")
	require.Less(t, r.longest, 10_000, "events in a run")
	t.Logf("%d runs, largest payload %d bytes, at most %d payload bytes in a run", r.runs, dc.Largest(), r.runBytes)

	inline := temporaltest.NewSizeCheckingConverter()
	streamRounds(t, rounds{n: 2_000, topics: 2_000, paged: true, dc: inline, topicBytes: 1 << 30})
	require.NotEmpty(t, inline.TooBig(), "payloads of 256 KB or more with the topics inline")
	t.Log(inline.TooBig()[0])
}

// Streams that need two activities each resume, run after run, from the progress kept in their
// page's progress (the pages of finished streams are not read again), also when the first run
// continued as new as runs before versionPageState did, keeping every stream's progress in
// one list of pages.
func TestPagedRestoreResumesStreamsAcrossRuns(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	for _, old := range []bool{false, true} {
		t.Run(fmt.Sprintf("old-first-run-%v", old), func(t *testing.T) {
			r := streamRounds(t, rounds{n: 3000, paged: true, groups: true, twice: true, oldFirstRun: old})
			require.Greater(t, r.runs, 2, "runs")
			t.Logf("%d runs, pages read in each: %v", r.runs, r.eachRead)
		})
	}
}

// Without pages (a plan from before them, or storage the restore may only read) the limits
// catch even a tenth of that restore: its plan and continue-as-new state pass 256 KB.
func TestRestoreWithoutPagesIsWhatTheLimitsCatch(t *testing.T) {
	defer func(c int) { maxRunningStreams = c }(maxRunningStreams)
	maxRunningStreams = 300
	dc := temporaltest.NewSizeCheckingConverter()
	streamRounds(t, rounds{n: 2000, groups: true, dc: dc})
	require.NotEmpty(t, dc.TooBig(), "payloads of 256 KB or more")
	t.Log(dc.TooBig())
}

// The workflow sizes progress pages by encodedBound, which must not undercount: a page it
// thinks small would reach Temporal's limits.
func TestEncodedBoundIsAnUpperBound(t *testing.T) {
	big := int64(1) << 62
	full := &Progress{Part: 1 << 30, Next: big, Index: big, Records: big, Bytes: big, Verified: big, Done: true, OffsetMapTruncated: true}
	for i := range 100 {
		full.Target = append(full.Target, big+int64(i))
		full.OffsetMap = append(full.OffsetMap, OffsetRange{Partition: 1 << 30, SourceFrom: big, TargetPartition: 1 << 30, TargetFrom: big, Count: big})
		full.Groups = append(full.Groups, TranslatedGroup{Group: "billing-" + strconv.Itoa(i), SourcePartition: 1 << 30, SourceOffset: big,
			Topic: "orders", Partition: 1 << 30, Offset: big, Metadata: strings.Repeat("m", i)})
		full.Skipped = append(full.Skipped, SkippedRange{Topic: "orders", Partition: 1 << 30, From: big, To: big, Object: "kafka/b/topics/orders/1/x.seg", Reason: `checksum "mismatch"`})
	}
	for _, p := range []*Progress{nil, {}, {Target: make(Offsets, 50)}, full} {
		b, err := json.Marshal(p)
		require.NoError(t, err)
		require.GreaterOrEqual(t, encodedBound(p), len(b))
	}
}

// A negative limit fails the restore before it plans (no plan activity is registered), naming
// the field.
func TestNegativeLimitIsInvalidSpec(t *testing.T) {
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(func(context.Context, UnpinInput) error { return nil }, activity.RegisterOptions{Name: ActivityUnpin})
	env.ExecuteWorkflow(KafkaRestore, RunInput{Input: Input{Limits: Limits{PageStreams: 4, LoadStreams: -3}}})
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, env.GetWorkflowError(), &appErr)
	require.Equal(t, ErrInvalidSpec, appErr.Type())
	require.Contains(t, appErr.Error(), "limits.loadStreams: -3 is negative")
}

// A restore paused and then cancelled (its resource deleted) ends cancelled and releases its
// pin; no stream starts while it is paused.
func TestPausedRestoreEndsWhenCancelled(t *testing.T) {
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	plan := Plan{Generation: 1, Topics: []PlannedTopic{{Source: "orders", Target: "orders", Partitions: 1}}, Records: 10,
		Streams: []Stream{{Source: "orders", Target: "orders", Partitions: []StreamPartition{{Partition: 0, Upto: 10}}, Records: 10}}}
	env.RegisterActivityWithOptions(func(PlanInput) (Plan, error) { return plan, nil }, activity.RegisterOptions{Name: ActivityPlan})
	env.RegisterActivityWithOptions(func(PreflightInput) (PreflightResult, error) {
		return PreflightResult{Targets: []TargetTopic{{Name: "orders", Partitions: 1, MaxMessageBytes: 1 << 20, Baseline: make(Offsets, 1)}}}, nil
	}, activity.RegisterOptions{Name: ActivityPreflight})
	unpinned := 0
	env.RegisterActivityWithOptions(func(UnpinInput) error { unpinned++; return nil }, activity.RegisterOptions{Name: ActivityUnpin})
	env.RegisterActivityWithOptions(func(RestoreInput) (Progress, error) {
		t.Error("a stream started while the restore was paused")
		return Progress{Done: true}, nil
	}, activity.RegisterOptions{Name: ActivityRestore})
	env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalPause, nil) }, 0)
	env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Hour)
	env.ExecuteWorkflow(KafkaRestore, RunInput{Input: Input{Spec: Spec{PartitionMapping: MappingSame}}})
	require.True(t, env.IsWorkflowCompleted())
	var canceled *temporal.CanceledError
	require.ErrorAs(t, env.GetWorkflowError(), &canceled)
	require.Equal(t, 1, unpinned, "the pin released")
}

// A release run (the operator's, after a restore was terminated by hand and its resource
// deleted) releases the pin and pages the terminated run kept, and plans and writes nothing.
func TestReleaseRunOnlyReleases(t *testing.T) {
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	env.RegisterActivityWithOptions(func(PlanInput) (Plan, error) {
		t.Error("a release run planned")
		return Plan{}, nil
	}, activity.RegisterOptions{Name: ActivityPlan})
	env.RegisterActivityWithOptions(func(RestoreInput) (Progress, error) {
		t.Error("a release run restored")
		return Progress{Done: true}, nil
	}, activity.RegisterOptions{Name: ActivityRestore})
	var released []UnpinInput
	env.RegisterActivityWithOptions(func(in UnpinInput) error { released = append(released, in); return nil }, activity.RegisterOptions{Name: ActivityUnpin})
	conn := Connection{Namespace: "kafka", Backup: "kafka/orders", Kafka: json.RawMessage(`{}`), Storage: json.RawMessage(`{"volume":{"path":"/backups"}}`)}
	env.ExecuteWorkflow(KafkaRestore, RunInput{Input: Input{Connection: conn, Spec: Spec{PartitionMapping: MappingSame}}, Release: true})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	require.Equal(t, []UnpinInput{{Connection: conn}}, released)
	var res Result
	require.NoError(t, env.GetWorkflowResult(&res))
	require.Equal(t, PhaseFailed, res.Status.Phase)
	require.Equal(t, status.Released, res.Status.Reason)
}

// A release run that cannot reach the storage fails, saying so, after the activity's attempts.
func TestReleaseRunFailsWhenItCannotRelease(t *testing.T) {
	env := (&testsuite.WorkflowTestSuite{}).NewTestWorkflowEnvironment()
	attempts := 0
	env.RegisterActivityWithOptions(func(UnpinInput) error {
		attempts++
		return errors.New("storage unreachable")
	}, activity.RegisterOptions{Name: ActivityUnpin})
	env.ExecuteWorkflow(KafkaRestore, RunInput{Input: Input{Spec: Spec{PartitionMapping: MappingSame}}, Release: true})
	require.True(t, env.IsWorkflowCompleted())
	require.ErrorContains(t, env.GetWorkflowError(), "storage unreachable")
	require.Equal(t, 3, attempts)
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(t, err)
	var st Status
	require.NoError(t, v.Get(&st))
	require.Equal(t, status.Released, st.Reason)
	require.Contains(t, st.LastError, "could not be released: storage unreachable")
}

// A stream whose worker hands it back (it was shutting down) starts again at once from its
// checkpoint, within the round, rather than after the round's other streams finish their run
// time; a run that began before that change waits for the next round, as it did. Every record
// is restored once either way.
func TestHandedBackStreamStartsAgainAtOnce(t *testing.T) {
	for _, before := range []bool{false, true} {
		env, in, starts := twoStreams(t)
		var mu sync.Mutex
		records := make([]int64, 2)
		restore := func(in RestoreInput) (Progress, error) {
			mu.Lock()
			defer mu.Unlock()
			own := in.Stream.Partitions[0].Partition
			target := in.Target.Baseline
			if own == 0 && in.Resume == nil { // its worker stops halfway: hands back at 5
				target[0] = 5
				records[0] += 5
				return Progress{Next: 5, Index: 5, Target: target, Records: 5, HandedBack: true}, nil
			}
			from := int64(0)
			if in.Resume != nil {
				from = in.Resume.Next
				require.False(t, in.Resume.HandedBack, "the flag is the activity's word to the workflow, not kept")
			}
			records[own] += 10 - from
			target[own] = 10
			return Progress{Next: 10, Index: 10, Target: target, Records: 10, Done: true,
				OffsetMap: []OffsetRange{{Partition: own, TargetPartition: own, Count: 10}}}, nil
		}
		env.RegisterActivityWithOptions(restore, activity.RegisterOptions{Name: ActivityRestore})
		// Partition 0's first activity ends after 2 s (handed back); every other one takes 25 s.
		env.OnActivity(ActivityRestore, mock.MatchedBy(func(in RestoreInput) bool {
			return in.Stream.Partitions[0].Partition == 0 && in.Resume == nil
		})).Return(restore).After(2 * time.Second)
		env.OnActivity(ActivityRestore, mock.Anything).Return(restore).After(25 * time.Second)
		if before {
			env.OnGetVersion(versionHandBack, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		env.ExecuteWorkflow(KafkaRestore, in)
		require.NoError(t, env.GetWorkflowError())
		var out Result
		require.NoError(t, env.GetWorkflowResult(&out))
		require.Equal(t, PhaseDone, out.Status.Phase)
		require.Equal(t, []int64{10, 10}, records, "records restored per partition")
		t.Logf("before the change %v: %v", before, starts.list)
		require.Len(t, starts.list, 3)
		again := "p0 from 5 at 2s"
		if before {
			again = "p0 from 5 at 25s" // the next round, once partition 1's run time is over
		}
		require.Contains(t, starts.list, again)
	}
}

// A stream whose attempts all fail for a cause that may pass (here its worker's broker
// connection, three attempts) waits RetryPause and starts again from its checkpoint, while the
// round's other streams run on untouched; the status says why meanwhile. Runs that began
// before the change cancel the whole round and start every stream again after the pause.
func TestFailedStreamIsRetriedAlone(t *testing.T) {
	for _, before := range []bool{false, true} {
		env, in, starts := twoStreams(t)
		var mu sync.Mutex
		failures := 0
		restore := func(in RestoreInput) (Progress, error) {
			mu.Lock()
			defer mu.Unlock()
			own := in.Stream.Partitions[0].Partition
			if own == 0 && failures < 3 {
				failures++
				return Progress{}, temporal.NewApplicationError("connect to [broker:9092]: connection refused", "Transient")
			}
			target := in.Target.Baseline
			target[own] = 10
			return Progress{Next: 10, Index: 10, Target: target, Records: 10, Done: true,
				OffsetMap: []OffsetRange{{Partition: own, TargetPartition: own, Count: 10}}}, nil
		}
		env.RegisterActivityWithOptions(restore, activity.RegisterOptions{Name: ActivityRestore})
		// Partition 0's attempts end after 2 s each; partition 1's activity takes 90 s.
		env.OnActivity(ActivityRestore, mock.MatchedBy(func(in RestoreInput) bool { return in.Stream.Partitions[0].Partition == 0 })).
			Return(restore).After(2 * time.Second)
		env.OnActivity(ActivityRestore, mock.Anything).Return(restore).After(90 * time.Second)
		if before {
			env.OnGetVersion(versionRetryAlone, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		var waiting Status
		env.RegisterDelayedCallback(func() {
			v, err := env.QueryWorkflow(workflows.QueryStatus)
			require.NoError(t, err)
			require.NoError(t, v.Get(&waiting))
		}, 30*time.Second)
		env.ExecuteWorkflow(KafkaRestore, in)
		require.NoError(t, env.GetWorkflowError())
		var out Result
		require.NoError(t, env.GetWorkflowResult(&out))
		require.Equal(t, PhaseDone, out.Status.Phase)
		require.Empty(t, out.Status.LastError)
		require.Equal(t, status.Retrying, waiting.Reason, "while partition 0 waits")
		require.Contains(t, waiting.LastError, "connection refused")
		t.Logf("before the change %v: %v", before, starts.list)
		// Three attempts at 0, 3 and 7 s (the activity's own retries, 1 and 2 s apart), then
		// RetryPause after the third failed at 9 s.
		want := []string{"p0 from 0 at 0s", "p1 from 0 at 0s", "p0 from 0 at 3s", "p0 from 0 at 7s", "p0 from 0 at 39s"}
		if before {
			want = append(want, "p1 from 0 at 39s") // cancelled at 9 s with the round, and started again
		}
		require.ElementsMatch(t, want, starts.list)
	}
}

// startLog is each Restore activity's start: partition, resumed from, at (workflow time since
// the first Restore).
type startLog struct {
	mu    sync.Mutex
	first time.Time
	list  []string
}

// twoStreams is a test environment restoring two streams of a partition each (orders/0 and
// orders/1, ten records each) with the plan, preflight and unpin activities answered, and
// the log of the Restore activities' starts; the caller registers the Restore activity.
func twoStreams(t *testing.T) (*testsuite.TestWorkflowEnvironment, RunInput, *startLog) {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	in := RunInput{Input: Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"},
		Spec: Spec{PartitionMapping: MappingSame, Topics: []TopicMapping{{Source: "orders", Target: "orders-restored"}}}}}
	plan := Plan{Generation: 1, Topics: []PlannedTopic{{Source: "orders", Target: "orders-restored", Partitions: 2}}, Records: 20}
	for p := range int32(2) {
		plan.Streams = append(plan.Streams, Stream{Source: "orders", Target: "orders-restored", Partitions: []StreamPartition{{Partition: p, Upto: 10}}, Records: 10})
	}
	pre := PreflightResult{Targets: []TargetTopic{{Name: "orders-restored", Partitions: 2, MaxMessageBytes: 1 << 20, Baseline: make(Offsets, 2)}}}
	env.RegisterWorkflowWithOptions(KafkaRestore, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(func(PlanInput) (Plan, error) { return plan, nil }, activity.RegisterOptions{Name: ActivityPlan})
	env.RegisterActivityWithOptions(func(PreflightInput) (PreflightResult, error) { return pre, nil }, activity.RegisterOptions{Name: ActivityPreflight})
	env.RegisterActivityWithOptions(func(UnpinInput) error { return nil }, activity.RegisterOptions{Name: ActivityUnpin})
	starts := &startLog{}
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, args converter.EncodedValues) {
		if info.ActivityType.Name != ActivityRestore {
			return
		}
		var in RestoreInput
		require.NoError(t, args.Get(&in))
		starts.mu.Lock()
		defer starts.mu.Unlock()
		if starts.first.IsZero() {
			starts.first = env.Now()
		}
		from := int64(0)
		if in.Resume != nil {
			from = in.Resume.Next
		}
		starts.list = append(starts.list, fmt.Sprintf("p%d from %d at %s", in.Stream.Partitions[0].Partition, from, env.Now().Sub(starts.first).Round(time.Second)))
	})
	return env, in, starts
}
