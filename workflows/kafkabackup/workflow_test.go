package kafkabackup

import (
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/mock"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/temporaltest"
	"arkive.io/arkive/workflows"
)

// fakeCluster answers the activities like a cluster whose partitions grow by 100 records per
// capture, and keeps the committed offsets as the Commit activity would. It answers both the
// per-partition activities (runs started before sharding, legacy) and the sharded ones, whose
// catalog it plays too: offsets registered at discovery, staged captures merged at commit.
type fakeCluster struct {
	legacy    bool // GetVersion answers DefaultVersion: the per-partition captures
	hidden    atomic.Bool
	mu        sync.Mutex
	hwm       map[string]int64
	committed map[string]int64
	captures  []CaptureInput
	expected  []int64 // the committed offset of each capture's partition when it started
	commits   []CommitInput
	foldEvery int // commits after which the fake catalog asks for a fold (0: never)
	pending   int // commits since the last fold
	folds     int
	staged    map[string][]CaptureResult
	upto      map[string]map[string]int64 // run id → its high watermarks
	// groupCaptures counts consumer-group snapshots recorded (by a sharded discovery or a commit).
	groupCaptures int
	onDiscover    func(DiscoverInput) // called on the workflow's goroutine (the test env's)
	shardEach     bool                // a shard per partition (else one for all)
	// truncated is a partition's log end after a truncation: a capture from beyond it finds
	// the log truncated, as the real one does.
	truncated map[string]int64
}

func newFake() *fakeCluster {
	return &fakeCluster{hwm: map[string]int64{"orders/0": 1000, "orders/1": 500}, committed: map[string]int64{},
		staged: map[string][]CaptureResult{}, upto: map[string]map[string]int64{}}
}

// bothModes runs a test against the sharded captures and against the per-partition ones that
// runs started before sharding keep using.
func bothModes(t *testing.T, test func(t *testing.T, f *fakeCluster)) {
	for _, legacy := range []bool{false, true} {
		t.Run(map[bool]string{false: "sharded", true: "legacy"}[legacy], func(t *testing.T) {
			f := newFake()
			f.legacy = legacy
			test(t, f)
		})
	}
}

func (f *fakeCluster) discover(in DiscoverInput) (DiscoverResult, error) {
	if f.onDiscover != nil {
		f.onDiscover(in)
	}
	if f.hidden.Load() {
		return DiscoverResult{}, nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return DiscoverResult{Topics: []TopicInfo{{Name: "orders", Partitions: []PartitionInfo{
		{Partition: 0, LogStart: 0, HighWatermark: f.hwm["orders/0"]}, {Partition: 1, LogStart: 20, HighWatermark: f.hwm["orders/1"]}}}}}, nil
}

func (f *fakeCluster) capture(in CaptureInput) (CaptureResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.captures = append(f.captures, in)
	want, ok := f.committed[key(in.Topic, in.Partition)]
	if !ok {
		want = map[int32]int64{0: 0, 1: 20}[in.Partition] // log start offsets: nothing committed yet
	}
	f.expected = append(f.expected, want)
	if end, ok := f.truncated[key(in.Topic, in.Partition)]; ok && in.From > end {
		return CaptureResult{CaptureProgress: CaptureProgress{Start: in.From, Next: in.From}, Topic: in.Topic, Partition: in.Partition,
			Done: true, Truncated: true, LogEnd: end}, nil
	}
	next := in.From + 100
	if in.Until >= 0 {
		next = in.Until
	}
	seg := archive.SegmentRef{Key: "k", FirstOffset: in.From, LastOffset: next - 1, Count: next - in.From}
	return CaptureResult{CaptureProgress: CaptureProgress{Start: in.From, Next: next, Segments: []archive.SegmentRef{seg}},
		Topic: in.Topic, Partition: in.Partition, Done: in.Until >= 0, Records: next - in.From}, nil
}

// discoverShards registers new partitions at their log start, records a run's high watermarks
// and puts every partition in one shard.
func (f *fakeCluster) discoverShards(in DiscoverShardsInput) (DiscoverShardsResult, error) {
	found, _ := f.discover(in.DiscoverInput)
	f.mu.Lock()
	defer f.mu.Unlock()
	var sh Shard
	res := DiscoverShardsResult{Groups: in.CaptureGroups}
	upto := map[string]int64{}
	for _, t := range found.Topics {
		st := ShardTopic{Topic: t.Name}
		for _, p := range t.Partitions {
			if _, ok := f.committed[key(t.Name, p.Partition)]; !ok {
				f.committed[key(t.Name, p.Partition)] = p.LogStart
			}
			upto[key(t.Name, p.Partition)] = p.HighWatermark
			st.Partitions = append(st.Partitions, p.Partition)
			res.Partitions++
		}
		sh.Topics = append(sh.Topics, st)
	}
	switch {
	case f.shardEach:
		for _, t := range sh.Topics {
			for _, p := range t.Partitions {
				res.Shards = append(res.Shards, Shard{Topics: []ShardTopic{{Topic: t.Topic, Partitions: []int32{p}}}})
			}
		}
	case len(sh.Topics) > 0:
		res.Shards = []Shard{sh}
	}
	if in.Run != nil {
		f.upto[in.Run.ID] = upto
		res.UptoKey = "upto/" + in.Run.ID
	}
	if in.CaptureGroups {
		f.groupCaptures++
	}
	return res, nil
}

// captureShard captures each partition from its committed offset (to the run's high watermark)
// and stages the results.
func (f *fakeCluster) captureShard(in CaptureShardInput) (CaptureShardResult, error) {
	res := CaptureShardResult{Done: true}
	var results []CaptureResult
	for _, t := range in.Shard.Topics {
		for _, p := range t.Partitions {
			f.mu.Lock()
			from, until := f.committed[key(t.Topic, p)], int64(-1)
			if in.Run != "" {
				until = f.upto[in.Run][key(t.Topic, p)]
			}
			f.mu.Unlock()
			if until >= 0 && from >= until {
				continue
			}
			r, _ := f.capture(CaptureInput{Topic: t.Topic, Partition: p, From: from, Until: until, RateLimit: in.RateLimit})
			results = append(results, r)
			res.Records += r.Records
			res.Done = res.Done && r.Done
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	res.Staged = fmt.Sprintf("staged/%d", len(f.staged))
	f.staged[res.Staged] = results
	return res, nil
}

func (f *fakeCluster) commit(in CommitInput) (CommitResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, k := range in.Staged {
		in.Captures = append(in.Captures, f.staged[k]...)
	}
	if in.Groups != nil {
		f.groupCaptures++
	}
	if in.Run != nil && in.Run.UptoKey == "" && f.upto[in.Run.ID] != nil {
		return CommitResult{}, fmt.Errorf("run %s lost its upto key", in.Run.ID)
	}
	f.commits = append(f.commits, in)
	var res CommitResult
	for _, c := range in.Captures {
		f.committed[key(c.Topic, c.Partition)] = c.Next
		if c.Truncated && in.Sharded {
			res.Truncated = append(res.Truncated, c.Truncation())
		}
	}
	for _, p := range []struct {
		t string
		p int32
	}{{"orders", 0}, {"orders", 1}} {
		if n, ok := f.committed[key(p.t, p.p)]; ok {
			if in.Sharded {
				res.Partitions = append(res.Partitions, PartitionStatus{Topic: p.t, Partition: p.p, Committed: n, Lag: max(0, f.hwm[key(p.t, p.p)]-n)})
				res.Lag += max(0, f.hwm[key(p.t, p.p)]-n)
			} else {
				res.Next = append(res.Next, PartitionState{Topic: p.t, Partition: p.p, Next: n})
			}
		}
	}
	res.PartitionCount = len(res.Partitions)
	res.Generation = int64(len(f.commits))
	f.pending++
	res.FoldDue = f.foldEvery > 0 && f.pending >= f.foldEvery
	return res, nil
}

func (f *fakeCluster) fold(FoldInput) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pending = 0
	f.folds++
	return nil
}

// newEnv is the workflow's test environment with f's activities. first registers mocks that
// take precedence over the default ones.
func newEnv(t *testing.T, f *fakeCluster, first ...func(*testsuite.TestWorkflowEnvironment)) *testsuite.TestWorkflowEnvironment {
	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.RegisterWorkflowWithOptions(KafkaBackup, workflow.RegisterOptions{Name: WorkflowName})
	env.RegisterActivityWithOptions(f.discover, activity.RegisterOptions{Name: ActivityDiscover})
	env.RegisterActivityWithOptions(f.capture, activity.RegisterOptions{Name: ActivityCapture})
	env.RegisterActivityWithOptions(f.discoverShards, activity.RegisterOptions{Name: ActivityDiscoverShards})
	env.RegisterActivityWithOptions(f.captureShard, activity.RegisterOptions{Name: ActivityCaptureShard})
	env.RegisterActivityWithOptions(f.commit, activity.RegisterOptions{Name: ActivityCommit})
	env.RegisterActivityWithOptions(f.fold, activity.RegisterOptions{Name: ActivityFold})
	for _, register := range first {
		register(env)
	}
	// A capture takes workflow time, as the real one runs for about a segment interval.
	env.OnActivity(ActivityCapture, mock.Anything, mock.Anything).Return(
		func(in CaptureInput) (CaptureResult, error) { return f.capture(in) }).After(30 * time.Second)
	env.OnActivity(ActivityCaptureShard, mock.Anything, mock.Anything).Return(
		func(in CaptureShardInput) (CaptureShardResult, error) { return f.captureShard(in) }).After(30 * time.Second)
	if f.legacy {
		env.OnGetVersion(versionSharded, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
	}
	return env
}

// runUpto is a run's high watermarks, inline (legacy) or as the sharded discovery recorded them.
func runUpto(f *fakeCluster, r archive.Run) map[string]int64 {
	if r.Upto != nil {
		return r.Upto
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.upto[r.ID]
}

func spec(mode string) Spec {
	return Spec{Enabled: true, Streams: []Stream{{Topic: "orders", Enabled: true}}, Mode: mode, Schedule: "0 2 * * *",
		Compression: Compression{Codec: "zstd"}, MaxSegmentBytes: 1 << 20, MaxSegmentInterval: 30 * time.Second, DiscoveryInterval: time.Minute}
}

func query(t *testing.T, env *testsuite.TestWorkflowEnvironment) Status {
	v, err := env.QueryWorkflow(workflows.QueryStatus)
	require.NoError(t, err)
	var s Status
	require.NoError(t, v.Get(&s))
	return s
}

func TestFoldsTheCatalogWhenACommitSaysItIsDue(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		f.foldEvery = 3
		env := newEnv(t, f)
		env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 30*time.Minute)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)})
		require.True(t, env.IsWorkflowCompleted())
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Greater(t, len(f.commits), 6)
		require.Equal(t, len(f.commits)/3, f.folds, "one fold per three commits, as the fake catalog asks")
		require.Less(t, f.pending, 3)
	})
}

func TestContinuousCapturesFromCommittedOffsetsAndPauses(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		env := newEnv(t, f)
		var streaming, paused, resumed Status
		var capturesAtPause int
		env.RegisterDelayedCallback(func() { streaming = query(t, env); env.SignalWorkflow(workflows.SignalPause, nil) }, 95*time.Second)
		env.RegisterDelayedCallback(func() {
			paused = query(t, env)
			f.mu.Lock()
			capturesAtPause = len(f.captures)
			f.mu.Unlock()
		}, 10*time.Minute)
		env.RegisterDelayedCallback(func() {
			f.mu.Lock()
			require.Equal(t, capturesAtPause, len(f.captures), "no capture while paused")
			f.mu.Unlock()
			env.SignalWorkflow(workflows.SignalResume, nil)
		}, 20*time.Minute)
		env.RegisterDelayedCallback(func() { resumed = query(t, env); env.CancelWorkflow() }, 22*time.Minute)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)})
		require.True(t, env.IsWorkflowCompleted())
		var canceled *temporal.CanceledError
		require.ErrorAs(t, env.GetWorkflowError(), &canceled, "the workflow ran until the test cancelled it")

		require.Equal(t, PhaseStreaming, streaming.Phase)
		require.Equal(t, PhasePaused, paused.Phase)
		require.Equal(t, "PausedBySignal", paused.Reason)
		require.Equal(t, PhaseStreaming, resumed.Phase)

		// Partition 1 starts at its log start offset; every capture continues where the last commit ended.
		for i, c := range f.captures {
			require.Equal(t, f.expected[i], c.From, "capture %d of %s/%d must start at the committed offset", i, c.Topic, c.Partition)
			require.Equal(t, int64(-1), c.Until, "continuous captures have no end offset")
		}
		require.GreaterOrEqual(t, len(f.captures), 6)
		require.NotEmpty(t, resumed.Partitions)
	})
}

func TestScheduledRunCapturesUpToStartHighWatermarks(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		env := newEnv(t, f)
		start := time.Date(2026, 11, 21, 0, 0, 0, 0, time.UTC)
		env.SetStartTime(start)
		var status Status
		env.RegisterDelayedCallback(func() {
			f.mu.Lock()
			f.hwm["orders/0"] = 5000 // grows after the first run started: the next run's concern
			f.mu.Unlock()
		}, 2*time.Hour+time.Second)
		env.RegisterDelayedCallback(func() { status = query(t, env); env.CancelWorkflow() }, 30*time.Hour)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeScheduled)})

		require.Len(t, status.Runs, 2, "runs at 02:00 on two days")
		first := status.Runs[0]
		require.Equal(t, start.Add(2*time.Hour), first.Start.UTC())
		require.Equal(t, "Succeeded", first.Outcome)
		require.Equal(t, map[string]int64{"orders/0": 1000, "orders/1": 500}, runUpto(f, first))
		require.Equal(t, map[string]int64{"orders/0": 5000, "orders/1": 500}, runUpto(f, status.Runs[1]))
		require.Equal(t, PhaseCompleted, status.Phase)
		for _, c := range f.captures {
			require.GreaterOrEqual(t, c.Until, int64(0), "scheduled captures stop at the run's high watermark")
		}
	})
}

func TestScheduledTriggerRunsNow(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		env := newEnv(t, f)
		var status Status
		env.RegisterDelayedCallback(func() { env.SignalWorkflow(workflows.SignalTrigger, nil) }, time.Minute)
		env.RegisterDelayedCallback(func() { status = query(t, env); env.CancelWorkflow() }, 5*time.Minute)
		s := spec(ModeScheduled)
		s.Schedule = "@yearly"
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: s})
		require.Len(t, status.Runs, 1)
		require.Equal(t, "Succeeded", status.Runs[0].Outcome)
	})
}

func TestLongBackupContinuesAsNewWithItsOffsets(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		env := newEnv(t, f)
		// The test environment does not count events; say the history has grown long after a few cycles.
		env.RegisterDelayedCallback(func() { env.SetCurrentHistoryLength(continueAfterEvents + 1) }, 3*time.Minute)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)})
		err := env.GetWorkflowError()
		var can *workflow.ContinueAsNewError
		require.True(t, errors.As(err, &can), "want continue-as-new, got %v", err)
		var next Input
		require.NoError(t, converterFromEnv().FromPayloads(can.Input, &next))
		require.NotNil(t, next.State)
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.legacy {
			require.Empty(t, next.State.Next, "offsets live in the catalog, not in the workflow's state")
			require.NotZero(t, f.committed["orders/0"])
			return
		}
		require.Equal(t, f.committed["orders/0"], stateNext(next.State, "orders", 0), "the new run continues from the committed offset")
	})
}

func stateNext(s *State, topic string, p int32) int64 {
	for _, n := range s.Next {
		if n.Topic == topic && n.Partition == p {
			return n.Next
		}
	}
	return -1
}

// Deleting a resource cancels its workflow; a paused backup must stop too, not wait forever.
func TestCancelStopsAPausedBackup(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		env := newEnv(t, f)
		env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, time.Hour)
		s := spec(ModeContinuous)
		s.Enabled = false
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: s})
		require.True(t, env.IsWorkflowCompleted())
		var canceled *temporal.CanceledError
		require.ErrorAs(t, env.GetWorkflowError(), &canceled)
		require.Empty(t, f.captures, "a paused backup captures nothing")
	})
}

func TestCommitBatchesStayBelowTheSegmentLimit(t *testing.T) {
	withSegments := func(counts ...int) []CaptureResult {
		var rs []CaptureResult
		for i, n := range counts {
			rs = append(rs, CaptureResult{Partition: int32(i), CaptureProgress: CaptureProgress{Segments: make([]archive.SegmentRef, n)}})
		}
		return rs
	}
	sizes := func(batches [][]CaptureResult) [][]int32 {
		var out [][]int32
		for _, b := range batches {
			var ps []int32
			for _, r := range b {
				ps = append(ps, r.Partition)
			}
			out = append(out, ps)
		}
		return out
	}
	require.Equal(t, [][]int32{{0, 1, 2}}, sizes(commitBatches(withSegments(100, 100, 100))))
	require.Equal(t, [][]int32{{0}, {1}, {2}, {3}}, sizes(commitBatches(withSegments(300, 300, 600, 10))), "a capture over the limit goes alone")
	require.Len(t, commitBatches(nil), 1, "an empty commit still records topics and runs")
}

// A simulated multi-day continuous backup of 16 partitions by a run started before sharding
// (per-partition captures), whose source keeps losing data to
// retention (so warnings pile up): every run continues as new below 10,000 events and no payload
// reaches 256 KB. The test environment does not count history events, so the test counts them
// as the server records them (an activity: scheduled, started, completed, and the workflow task
// its completion causes: scheduled, started, completed; a timer: started, fired, and its task)
// and feeds that count back as the history length.
func TestMultiDayBackupStaysWithinHistoryLimits(t *testing.T) {
	const partitions = 16
	var events atomic.Int64
	hwm := map[int32]int64{}
	var mu sync.Mutex
	dc := temporaltest.NewSizeCheckingConverter()
	in := Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)}
	in.Spec.MaxSegmentInterval = 5 * time.Minute
	var simulated time.Duration
	runs := 0
	for simulated < 3*24*time.Hour {
		runs++
		require.Less(t, runs, 200, "too many runs")
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetDataConverter(dc)
		events.Store(6) // started, signalled/first task
		act := func() { events.Add(6) }
		env.RegisterWorkflowWithOptions(KafkaBackup, workflow.RegisterOptions{Name: WorkflowName})
		env.OnGetVersion(versionSharded, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		env.RegisterActivityWithOptions(func(DiscoverInput) (DiscoverResult, error) {
			act()
			mu.Lock()
			defer mu.Unlock()
			ti := TopicInfo{Name: "orders"}
			for p := range int32(partitions) {
				hwm[p] += 100_000
				ti.Partitions = append(ti.Partitions, PartitionInfo{Partition: p, HighWatermark: hwm[p]})
			}
			return DiscoverResult{Topics: []TopicInfo{ti}}, nil
		}, activity.RegisterOptions{Name: ActivityDiscover})
		capture := func(in CaptureInput) (CaptureResult, error) {
			act()
			next := in.From + 10_000
			gaps := []archive.Gap{{From: in.From, To: in.From, Reason: archive.GapRetention}} // the source keeps deleting
			segs := []archive.SegmentRef{{Key: "k", FirstOffset: in.From + 1, LastOffset: next - 1, Count: next - in.From - 1}}
			return CaptureResult{CaptureProgress: CaptureProgress{Start: in.From, Next: next, Segments: segs, Gaps: gaps},
				Topic: in.Topic, Partition: in.Partition, Records: 10_000}, nil
		}
		env.RegisterActivityWithOptions(capture, activity.RegisterOptions{Name: ActivityCapture})
		env.RegisterActivityWithOptions(func(in CommitInput) (CommitResult, error) {
			act()
			var res CommitResult
			for _, c := range in.Captures {
				res.Next = append(res.Next, PartitionState{Topic: c.Topic, Partition: c.Partition, Next: c.Next})
			}
			return res, nil
		}, activity.RegisterOptions{Name: ActivityCommit})
		// A capture runs for a segment interval of workflow time, as the real one does.
		env.OnActivity(ActivityCapture, mock.Anything, mock.Anything).Return(capture).After(5 * time.Minute)
		// Feed the count back every simulated 5 minutes, a cycle (callbacks run on the
		// workflow's goroutine).
		for m := 1; m < 24*12; m++ {
			env.RegisterDelayedCallback(func() { env.SetCurrentHistoryLength(int(events.Load())) }, time.Duration(m)*5*time.Minute)
		}
		started := env.Now()
		env.ExecuteWorkflow(KafkaBackup, in)
		simulated += env.Now().Sub(started)
		require.Less(t, events.Load(), int64(10_000), "run %d: history stays below 10,000 events", runs)
		var can *workflow.ContinueAsNewError
		require.True(t, errors.As(env.GetWorkflowError(), &can), "run %d ends in continue-as-new: %v", runs, env.GetWorkflowError())
		require.NoError(t, dc.FromPayloads(can.Input, &in))
		require.NotNil(t, in.State)
		require.Len(t, in.State.Next, partitions, "offsets carried over")
		require.LessOrEqual(t, len(in.State.Warnings), maxWarnings)
	}
	require.Empty(t, dc.TooBig(), "payloads of 256 KB or more")
	t.Logf("%d runs over %s of simulated time; largest payload %d bytes", runs, simulated.Round(time.Hour), dc.Largest())
}

// Issue 18, acceptance 1: a simulated continuous backup of 20,000 partitions (100 topics of
// 200) over 3 days. Every run stays below 10,000 history events (counted as in the test above),
// no cycle has more than MaxShards captures pending at once, and no payload (inputs, results,
// the continue-as-new state, the status query) reaches 256 KB.
func TestShardedBackupOf20000PartitionsStaysWithinTemporalLimits(t *testing.T) {
	_, stored := simulateShardedBackup(t, 100, 200, "orders-%03d", 3*24*time.Hour)
	require.False(t, stored, "a hundred topics' shards travel inline")
}

// The same 20,000 partitions as 5,000 topics of 4, with names as long as real ones often are:
// the shards name every topic, about 80 bytes each, so the discovery's result alone would be
// over 256 KB (and over Temporal's 2 MB limit at about 26,000 topics). The discovery stores
// the list (storeShards in activities/kafka, emulated here) and the workflow carries
// stand-ins; each capture finds its own shard in the stored list.
func TestShardedBackupOfThousandsOfTopicsStaysWithinTemporalLimits(t *testing.T) {
	list, stored := simulateShardedBackup(t, 5000, 4, "payments.settlement-events.eu-west-v2-%04d", 24*time.Hour)
	require.Greater(t, list, 256<<10, "inline, the discovery's result would pass 256 KB")
	require.True(t, stored, "the shard list is stored")
}

// simulateShardedBackup runs a continuous backup of topics topics of perTopic partitions each
// (named by nameFormat and their number) for the simulated time given, and checks Temporal's
// limits as TestShardedBackupOf20000PartitionsStaysWithinTemporalLimits says. It returns the
// size of the encoded shard list and whether the discovery stored it.
func simulateShardedBackup(t *testing.T, topics, perTopic int, nameFormat string, span time.Duration) (listBytes int, stored bool) {
	var events atomic.Int64
	dc := temporaltest.NewSizeCheckingConverter()
	in := Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)}
	in.Spec.Streams = []Stream{{Topic: "*", Enabled: true}}
	in.Spec.MaxSegmentInterval = 5 * time.Minute
	in.Spec.DiscoveryInterval = 10 * time.Minute
	var infos []TopicInfo
	for i := range topics {
		ti := TopicInfo{Name: fmt.Sprintf(nameFormat, i)}
		for p := range int32(perTopic) {
			ti.Partitions = append(ti.Partitions, PartitionInfo{Partition: p})
		}
		infos = append(infos, ti)
	}
	// What DiscoverShards answers: the shards, or, past InlineShardBytes, stand-ins for the
	// list it stored (kept here by key, as the storage would).
	shards := SplitShards(infos)
	lists := map[string][]Shard{}
	list, err := json.Marshal(StoredShards{Version: StoredShardsVersion, Shards: shards})
	require.NoError(t, err)
	discovered := shards
	if len(list) > InlineShardBytes {
		key := "kafka/ns/b/shards/0123456789abcdef0123456789abcdef.json"
		lists[key], discovered = shards, RefShards(key, shards)
	}
	seen := map[string]int{} // per topic, the partitions captured, over all cycles
	var mu sync.Mutex
	pending, maxPending, captured, cycles := 0, 0, 0, 0
	var simulated time.Duration
	runs := 0
	for simulated < span {
		runs++
		require.Less(t, runs, 200, "too many runs")
		var s testsuite.WorkflowTestSuite
		env := s.NewTestWorkflowEnvironment()
		env.SetDataConverter(dc)
		events.Store(6)
		act := func() { events.Add(6) }
		env.RegisterWorkflowWithOptions(KafkaBackup, workflow.RegisterOptions{Name: WorkflowName})
		env.RegisterActivityWithOptions(func(DiscoverShardsInput) (DiscoverShardsResult, error) {
			act()
			return DiscoverShardsResult{Shards: discovered, Partitions: topics * perTopic}, nil
		}, activity.RegisterOptions{Name: ActivityDiscoverShards})
		capture := func(in CaptureShardInput) (CaptureShardResult, error) {
			act()
			mu.Lock()
			defer mu.Unlock()
			pending++
			maxPending = max(maxPending, pending)
			captured += in.Shard.Len()
			sh := in.Shard
			if ref := sh.Ref; ref != nil {
				sh = lists[ref.Key][ref.Index] // what storedShard reads
				require.Equal(t, ref.Partitions, sh.Len())
			}
			for _, st := range sh.Topics {
				seen[st.Topic] += len(st.Partitions)
			}
			return CaptureShardResult{Staged: fmt.Sprintf("kafka/ns/b/staging/%032x.json", captured), Records: int64(in.Shard.Len()) * 10_000}, nil
		}
		env.RegisterActivityWithOptions(capture, activity.RegisterOptions{Name: ActivityCaptureShard})
		env.RegisterActivityWithOptions(func(in CommitInput) (CommitResult, error) {
			act()
			mu.Lock()
			defer mu.Unlock()
			require.True(t, in.Sharded)
			if len(in.Staged) > 0 {
				cycles++
			}
			pending = 0 // every capture of the cycle has ended
			// What the real commit answers for this many partitions: the most lagging
			// MaxStatusPartitions, the totals, and at most 20 retention warnings.
			res := CommitResult{PartitionCount: topics * perTopic, Lag: 1_000_000}
			for i := range MaxStatusPartitions {
				res.Partitions = append(res.Partitions, PartitionStatus{Topic: infos[i/perTopic].Name, Partition: int32(i % perTopic), Committed: 1 << 40, Lag: 1000})
			}
			for i := range 20 {
				res.Warnings = append(res.Warnings, fmt.Sprintf("%s/%d: offsets %d-%d were deleted by the source before they were backed up", infos[i].Name, i, 1<<40, 1<<40+5))
			}
			return res, nil
		}, activity.RegisterOptions{Name: ActivityCommit})
		env.OnActivity(ActivityCaptureShard, mock.Anything, mock.Anything).Return(capture).After(5 * time.Minute)
		for m := 1; m < 24*12; m++ {
			env.RegisterDelayedCallback(func() { env.SetCurrentHistoryLength(int(events.Load())) }, time.Duration(m)*5*time.Minute)
		}
		var st Status
		env.RegisterDelayedCallback(func() { st = query(t, env) }, 12*time.Minute)
		started := env.Now()
		env.ExecuteWorkflow(KafkaBackup, in)
		simulated += env.Now().Sub(started)
		require.Less(t, events.Load(), int64(10_000), "run %d: history stays below 10,000 events", runs)
		var can *workflow.ContinueAsNewError
		require.True(t, errors.As(env.GetWorkflowError(), &can), "run %d ends in continue-as-new: %v", runs, env.GetWorkflowError())
		require.NoError(t, dc.FromPayloads(can.Input, &in))
		require.NotNil(t, in.State)
		require.Empty(t, in.State.Next, "no per-partition state is carried")
		require.Equal(t, topics*perTopic, st.PartitionCount, "the status counts every partition")
		require.Len(t, st.Partitions, MaxStatusPartitions)
	}
	require.Empty(t, dc.TooBig(), "payloads of 256 KB or more")
	require.LessOrEqual(t, maxPending, MaxShards, "captures pending at once")
	require.Equal(t, MaxShards, len(SplitShards(infos)), "20,000 partitions fill every shard")
	require.Equal(t, cycles*topics*perTopic, captured, "every cycle captures every partition")
	require.Len(t, seen, topics, "every topic captured")
	for name, n := range seen {
		require.Equal(t, cycles*perTopic, n, "topic %s: every partition in every cycle", name)
	}
	t.Logf("%d runs, %d cycles over %s of simulated time; at most %d captures pending; largest payload %d bytes; shard list %d bytes, stored: %v",
		runs, cycles, simulated.Round(time.Hour), maxPending, dc.Largest(), len(list), len(lists) > 0)
	return len(list), len(lists) > 0
}

func TestSplitShards(t *testing.T) {
	topic := func(name string, n int) TopicInfo {
		ti := TopicInfo{Name: name}
		for p := range int32(n) {
			ti.Partitions = append(ti.Partitions, PartitionInfo{Partition: p})
		}
		return ti
	}
	require.Empty(t, SplitShards(nil))
	small := SplitShards([]TopicInfo{topic("a", 3), topic("b", 2)})
	require.Equal(t, []Shard{{Topics: []ShardTopic{{Topic: "a", Partitions: []int32{0, 1, 2}}, {Topic: "b", Partitions: []int32{0, 1}}}}}, small)
	two := SplitShards([]TopicInfo{topic("a", ShardPartitions+1)})
	require.Len(t, two, 2)
	require.Equal(t, ShardPartitions, two[0].Len())
	require.Equal(t, []ShardTopic{{Topic: "a", Partitions: []int32{ShardPartitions}}}, two[1].Topics)
	// Beyond MaxShards full shards, shards grow instead of multiplying.
	many := SplitShards([]TopicInfo{topic("a", MaxShards*ShardPartitions*3+5)})
	require.Len(t, many, MaxShards)
	seen := 0
	for _, sh := range many {
		require.LessOrEqual(t, sh.Len(), ShardPartitions*3+1)
		for _, p := range sh.Topics[0].Partitions {
			require.Equal(t, int32(seen), p, "every partition once, in order")
			seen++
		}
	}
	require.Equal(t, MaxShards*ShardPartitions*3+5, seen)
}

// A backup's rate limit is for the whole resource: the captures of a cycle share it.
func TestRateLimitIsSharedAmongCaptures(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		env := newEnv(t, f)
		env.RegisterDelayedCallback(func() { env.CancelWorkflow() }, 40*time.Second)
		sp := spec(ModeContinuous)
		sp.RateLimit = RateLimit{BytesPerSecond: 1000, RecordsPerSecond: 101}
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: sp})
		f.mu.Lock()
		defer f.mu.Unlock()
		require.NotEmpty(t, f.captures)
		for _, c := range f.captures {
			require.Equal(t, RateLimit{BytesPerSecond: 500, RecordsPerSecond: 50}, c.RateLimit, "two partitions, half each")
		}
	})
}

// Issue 22, point 12: "no topic matches" goes from the status as soon as a topic matches, not
// at the first commit after it.
func TestNoMatchingTopicsErrorClearsWhenATopicAppears(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		f.hidden.Store(true)
		env := newEnv(t, f)
		var waiting, capturing Status
		env.RegisterDelayedCallback(func() { waiting = query(t, env); f.hidden.Store(false) }, 30*time.Second)
		env.RegisterDelayedCallback(func() { capturing = query(t, env); env.CancelWorkflow() }, 75*time.Second)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)})
		require.True(t, env.IsWorkflowCompleted())

		require.Equal(t, PhaseReady, waiting.Phase)
		require.Contains(t, waiting.LastError, "no topic matches")
		require.Equal(t, PhaseStreaming, capturing.Phase)
		require.Empty(t, capturing.LastError, "the cause is gone")
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Len(t, f.commits, 1, "queried before the first commit with data: only the empty commit at start")
	})
}

// Issue 22, point 1: spec.consumerGroups.interval thins group captures out: offsets ride along
// with a discovery only once the interval has passed since the last capture.
func TestGroupOffsetsAreCapturedAtTheirInterval(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		type call struct {
			at     time.Time
			groups bool
		}
		var calls []call
		env := newEnv(t, f)
		f.onDiscover = func(in DiscoverInput) { calls = append(calls, call{env.Now(), in.CaptureGroups}) }
		env.RegisterDelayedCallback(env.CancelWorkflow, 12*time.Minute)
		sp := spec(ModeContinuous)
		sp.CaptureGroups, sp.GroupsInterval = true, 3*time.Minute
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: sp})
		require.True(t, env.IsWorkflowCompleted())

		var captured []time.Time
		skipped := 0
		for _, c := range calls {
			if c.groups {
				captured = append(captured, c.at)
			} else {
				skipped++
			}
		}
		require.GreaterOrEqual(t, len(captured), 3, "discoveries %v", calls)
		require.Positive(t, skipped, "some discoveries leave the groups alone")
		for i := 1; i < len(captured); i++ {
			require.GreaterOrEqual(t, captured[i].Sub(captured[i-1]), 3*time.Minute, "captures %v", captured)
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Equal(t, len(captured), f.groupCaptures, "each capture is recorded once")
	})
}

// A shard whose attempts all fail for a cause that may pass (partition 1's leader away) does not
// hold back the others: they finish their cycle and are committed, the status says why
// partition 1 is behind, and the next cycle starts at once and captures it again. Runs that
// began before the change cancel the other shards at the failure, commit nothing of theirs
// and wait RetryPause.
func TestFailingShardDoesNotHoldBackTheOthers(t *testing.T) {
	for _, before := range []bool{false, true} {
		f := newFake()
		f.shardEach = true
		var failures atomic.Int32
		env := newEnv(t, f, func(env *testsuite.TestWorkflowEnvironment) {
			// Partition 1's first three attempts fail after a second each.
			env.OnActivity(ActivityCaptureShard, mock.MatchedBy(func(in CaptureShardInput) bool {
				return in.Shard.Topics[0].Partitions[0] == 1 && failures.Load() < 3
			})).Return(func(CaptureShardInput) (CaptureShardResult, error) {
				failures.Add(1)
				return CaptureShardResult{}, temporal.NewApplicationError("orders/1: leader not available", "Transient")
			}).After(time.Second)
		})
		if before {
			env.OnGetVersion(versionShardFailsAlone, workflow.DefaultVersion, 1).Return(workflow.DefaultVersion)
		}
		var during, after, recovered Status
		env.RegisterDelayedCallback(func() { during = query(t, env) }, 20*time.Second)
		env.RegisterDelayedCallback(func() { after = query(t, env) }, 45*time.Second)
		env.RegisterDelayedCallback(func() { recovered = query(t, env); env.CancelWorkflow() }, 150*time.Second)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)})
		var canceled *temporal.CanceledError
		require.ErrorAs(t, env.GetWorkflowError(), &canceled)
		require.Equal(t, int32(3), failures.Load())

		// The first cycle's commit (after the one that seeds the offsets): partition 0's
		// capture is in it, unless the run cancelled it.
		f.mu.Lock()
		var commits [][]int32
		for _, c := range f.commits {
			var captured []int32
			for _, k := range c.Staged {
				for _, c := range f.staged[k] {
					captured = append(captured, c.Partition)
				}
			}
			commits = append(commits, captured)
		}
		captured := commits[1]
		partition0 := 0
		for _, c := range f.captures {
			if c.Partition == 0 {
				partition0++
			}
		}
		f.mu.Unlock()
		require.Equal(t, status.Retrying, during.Reason, "before %v", before)
		require.Contains(t, during.LastError, "leader not available")
		require.Empty(t, recovered.LastError, "a cycle with every shard committed clears it")
		t.Logf("before the change %v: commits %v, partition 0 captured %d times", before, commits, partition0)
		if before {
			require.Empty(t, captured, "partition 0 cancelled with the round")
			continue
		}
		require.Equal(t, []int32{0}, captured, "partition 0 committed in the first cycle")
		// At 45 s the second cycle (from 30 s) captures both; the status still names the cause.
		require.Contains(t, after.LastError, "leader not available")
		require.Equal(t, PhaseStreaming, after.Phase)
	}
}

// A commit that says a topic was deleted from the source makes the next cycle discover again,
// before the discovery interval has passed, so the deleted topic's shards are not started
// again; its warning stays in the status.
func TestDeletedTopicIsDiscoveredAwayAtOnce(t *testing.T) {
	for _, deleted := range []bool{false, true} {
		f := newFake()
		var discoveries atomic.Int32
		f.onDiscover = func(DiscoverInput) { discoveries.Add(1) }
		const warning = "topic old-orders was deleted from the source during the backup: what was backed up before stays in the backup"
		said := false
		env := newEnv(t, f, func(env *testsuite.TestWorkflowEnvironment) {
			env.OnActivity(ActivityCommit, mock.Anything, mock.Anything).Return(func(in CommitInput) (CommitResult, error) {
				res, err := f.commit(in)
				if deleted && len(in.Staged) > 0 && !said {
					said = true // the first cycle's commit
					res.DeletedTopics, res.Warnings = []string{"old-orders"}, []string{warning}
				}
				return res, err
			})
		})
		sp := spec(ModeContinuous)
		sp.DiscoveryInterval = time.Hour
		var st Status
		env.RegisterDelayedCallback(func() { st = query(t, env); env.CancelWorkflow() }, 100*time.Second)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: sp})
		var canceled *temporal.CanceledError
		require.ErrorAs(t, env.GetWorkflowError(), &canceled)
		if !deleted {
			require.Equal(t, int32(1), discoveries.Load(), "one discovery an hour")
			continue
		}
		require.Equal(t, int32(2), discoveries.Load(), "the cycle after the deletion discovers again")
		require.Contains(t, st.Warnings, warning)
	}
}

// A capture finds its partition's log truncated below the backup's next offset: the cycle's
// captures are committed first (the other partition's too), then the backup stops in Failed
// with LogTruncated naming the partition and both offsets; a resume looks again and stops
// again rather than reading on from the backup's offset.
func TestTruncatedLogStopsTheBackupOnceCommitted(t *testing.T) {
	bothModes(t, func(t *testing.T, f *fakeCluster) {
		f.truncated = map[string]int64{"orders/1": 50} // the first capture reads 20-119, the next finds the log ending at 50
		env := newEnv(t, f)
		var failed, again Status
		var committedAtFailure int64
		env.RegisterDelayedCallback(func() {
			failed = query(t, env)
			f.mu.Lock()
			committedAtFailure = f.committed["orders/0"]
			f.mu.Unlock()
			env.SignalWorkflow(workflows.SignalResume, nil)
		}, 5*time.Minute)
		env.RegisterDelayedCallback(func() { again = query(t, env); env.CancelWorkflow() }, 10*time.Minute)
		env.ExecuteWorkflow(KafkaBackup, Input{Connection: Connection{Namespace: "ns", Backup: "ns/b"}, Spec: spec(ModeContinuous)})

		const says = "orders/1: the source's log was truncated at offset 50, below offset 120 up to which the backup holds its records"
		require.Equal(t, PhaseFailed, failed.Phase)
		require.Equal(t, ErrLogTruncated, failed.Reason)
		require.Contains(t, failed.LastError, says)
		require.Equal(t, int64(200), committedAtFailure, "the other partition's capture of the same cycle is committed")
		require.Equal(t, PhaseFailed, again.Phase, "resumed, the backup finds the truncation again")
		require.Equal(t, ErrLogTruncated, again.Reason)
		f.mu.Lock()
		defer f.mu.Unlock()
		require.Equal(t, int64(120), f.committed["orders/1"], "nothing read past the truncation")
		require.Equal(t, int64(300), f.committed["orders/0"], "the resumed cycle ran")
	})
}
