package kafkabackup

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/robfig/cron/v3"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows"
)

// WorkflowName is the registered name of the KafkaBackup workflow.
const WorkflowName = "arkive.KafkaBackup"

// Modes and phases, as the KafkaBackup API names them.
const (
	ModeContinuous = "Continuous"
	ModeScheduled  = "Scheduled"
	ModeOnce       = "Once"

	PhaseDraft     = status.Draft
	PhaseReady     = status.Ready
	PhaseStreaming = status.Streaming
	PhasePaused    = status.Paused
	PhaseFailed    = status.Failed
	PhaseCompleted = status.Completed
)

// continueAfterEvents bounds a run's history well below Temporal's 10k-event warning.
const continueAfterEvents = 4000

// maxWarnings bounds the warnings the status (and the carried state) keeps.
const maxWarnings = 20

// Stream selects topics by name or glob.
type Stream struct {
	Topic   string `json:"topic"`
	Enabled bool   `json:"enabled"`
}

// Spec is what the workflow acts on: the KafkaBackup spec in plain types.
type Spec struct {
	Enabled         bool        `json:"enabled"`
	Streams         []Stream    `json:"streams,omitempty"`
	Exclude         []string    `json:"exclude,omitempty"`
	Mode            string      `json:"mode"`
	Schedule        string      `json:"schedule,omitempty"`
	StartFromLatest bool        `json:"startFromLatest,omitempty"`
	Compression     Compression `json:"compression"`
	MaxSegmentBytes int64       `json:"maxSegmentBytes"`
	// Compaction merges small segments as the catalog folds (zero: off).
	Compaction          Compaction    `json:"compaction,omitzero"`
	MaxSegmentInterval  time.Duration `json:"maxSegmentInterval"`
	DiscoveryInterval   time.Duration `json:"discoveryInterval"`
	CaptureTopicConfigs bool          `json:"captureTopicConfigs"`
	// KeepLast keeps the data of this many successful scheduled runs (0: no limit).
	KeepLast int `json:"keepLast,omitempty"`
	// MaxAge drops data whose newest record is older (0: no limit).
	MaxAge time.Duration `json:"maxAge,omitempty"`
	// CaptureGroups records consumer-group offsets with a discovery, at most once per
	// GroupsInterval (0: at every discovery); Groups (names or globs) narrows them, empty
	// meaning every group.
	CaptureGroups  bool          `json:"captureGroups,omitempty"`
	Groups         []string      `json:"groups,omitempty"`
	GroupsInterval time.Duration `json:"groupsInterval,omitempty"`
	// RateLimit caps the whole backup's throughput.
	RateLimit RateLimit `json:"rateLimit,omitzero"`
}

// Input starts (or continues, with State) a KafkaBackup workflow.
type Input struct {
	Connection
	Spec  Spec   `json:"spec"`
	State *State `json:"state,omitempty"`
}

// State is what survives continue-as-new.
type State struct {
	Next           []PartitionState `json:"next,omitempty"`
	Runs           []archive.Run    `json:"runs,omitempty"`
	LastSuccess    time.Time        `json:"lastSuccess,omitzero"`
	PausedBySignal bool             `json:"pausedBySignal,omitempty"`
	Warnings       []string         `json:"warnings,omitempty"`
	RunSeq         int              `json:"runSeq,omitempty"` // numbers runs, so ids are unique
	// LastGroups is when consumer-group offsets were last captured.
	LastGroups time.Time `json:"lastGroups,omitzero"`
	// Triggers are the ids of the last trigger signals applied (workflows.Signals.Triggers).
	Triggers []string `json:"triggers,omitempty"`
}

// Status answers the status query.
type Status struct {
	Phase       string            `json:"phase"`
	Reason      string            `json:"reason,omitempty"`
	Partitions  []PartitionStatus `json:"partitions,omitempty"`
	LastSuccess time.Time         `json:"lastSuccess,omitzero"`
	CurrentRun  *archive.Run      `json:"currentRun,omitempty"`
	// NextRun is the cron tick a Scheduled backup waits for (zero while running or unscheduled).
	NextRun    time.Time     `json:"nextRun,omitzero"`
	Runs       []archive.Run `json:"runs,omitempty"`
	LastError  string        `json:"lastError,omitempty"`
	Warnings   []string      `json:"warnings,omitempty"`
	Generation int64         `json:"generation,omitempty"`
	// A sharded backup lists at most MaxStatusPartitions partitions; these cover all of them
	// (zero count: Partitions lists every partition).
	PartitionCount int   `json:"partitionCount,omitempty"`
	Lag            int64 `json:"lag,omitempty"`
}

// PartitionStatus is one partition's committed offset and how far the source is ahead.
type PartitionStatus struct {
	Topic     string `json:"topic"`
	Partition int32  `json:"partition"`
	Committed int64  `json:"committed"`
	Lag       int64  `json:"lag"`
}

type backup struct {
	in            Input
	state         State
	status        Status
	hwm           map[string]int64 // topic/partition → high watermark at the last discovery
	topics        []TopicInfo
	lastDiscovery time.Time
	groups        *archive.GroupOffsetsSnapshot // captured at the last discovery, not yet committed
	sig           *workflows.Signals
	lastRetention time.Time
	triggered     bool // a trigger signal asked for a scheduled run now
	specChanged   bool // an update arrived during the current cycle

	// sharded: captures run as one activity per shard and the catalog, not State.Next, holds
	// every partition's offset (sharded.go). Runs started before it existed keep the
	// per-partition captures until they continue as new.
	sharded bool
	shards  []Shard
	// unfinished counts the shards of the current scheduled run that have not reached its Upto
	// (shardDone says which have).
	unfinished int
	shardDone  []bool
	// passing is why a shard of the last captureShards failed while the others went on ("":
	// none did); it stays in the status after their commit.
	passing string
}

// KafkaBackup keeps a backup of the selected topics in step with the source: forever in
// continuous mode, on a cron schedule in scheduled mode.
func KafkaBackup(ctx workflow.Context, in Input) error {
	b := &backup{in: in, hwm: map[string]int64{}, sig: workflows.NewSignals(ctx)}
	b.sharded = workflow.GetVersion(ctx, versionSharded, workflow.DefaultVersion, 1) == 1
	b.handleSignals()
	if in.State != nil {
		b.state = *in.State
	}
	if b.sharded {
		b.state.Next = nil // a run before sharding carried offsets the catalog holds too
	}
	b.sig.Triggers = &b.state.Triggers
	b.status.Runs, b.status.LastSuccess, b.status.Warnings = b.state.Runs, b.state.LastSuccess, b.state.Warnings
	if err := workflows.ServeStatus(ctx, b.snapshot, func() (string, string) {
		return b.status.Phase, workflows.Details(b.status.Phase, b.status.Reason, b.status.LastError)
	}); err != nil {
		return err
	}
	if in.State == nil {
		// A first run, or a workflow started again after it was terminated: continue from what
		// the manifest holds, never from the start of the topics.
		if err := b.resumeFromManifest(ctx); err != nil {
			return err
		}
	}
	for {
		if ctx.Err() != nil {
			return ctx.Err() // cancelled (the resource was deleted): stop cleanly
		}
		b.sig.Drain(ctx)
		if reason := b.inactiveReason(); reason != "" {
			b.setPhase(inactivePhase(reason), reason)
			b.sig.Wait(ctx)
			continue
		}
		var err error
		if b.in.Spec.Mode == ModeScheduled || b.in.Spec.Mode == ModeOnce {
			err = b.scheduled(ctx)
		} else {
			err = b.continuous(ctx)
		}
		if err != nil {
			if ctx.Err() != nil {
				return err // the workflow itself was cancelled (the resource was deleted): stop
			}
			if appErr, permanent := workflows.Permanent(err); permanent {
				// A cause a person must fix: stop, say why, and wait for an update or resume.
				b.failed(ctx, appErr)
				continue
			}
			// A cause that may pass (broker or storage unreachable): say so in the status, wait,
			// and try again; capture resumes from the last commit.
			b.retrying(workflows.RootMessage(err))
			b.sig.Sleep(ctx, workflows.RetryPause)
			continue
		}
		if workflow.GetInfo(ctx).GetCurrentHistoryLength() > continueAfterEvents {
			b.sig.Drain(ctx)
			next := b.in
			st := b.state
			next.State = &st
			return workflow.NewContinueAsNewError(ctx, KafkaBackup, next)
		}
	}
}

// resumeFromManifest seeds the offsets from the backup's manifest with an empty commit (which
// creates the manifest of a new backup), retrying a passing cause with the reason in the status.
func (b *backup) resumeFromManifest(ctx workflow.Context) error {
	for {
		last := b.state.LastSuccess
		err := b.sig.Attempt(ctx, func() error {
			err := b.commit(ctx, nil, nil)
			b.state.LastSuccess, b.status.LastSuccess = last, last // no data was backed up yet
			return err
		}, b.retrying)
		appErr, permanent := workflows.Permanent(err)
		if !permanent || ctx.Err() != nil {
			return err
		}
		b.failed(ctx, appErr)
	}
}

// failed shows a cause a person must fix and waits for the signal (update, resume) that may
// fix it.
func (b *backup) failed(ctx workflow.Context, appErr *temporal.ApplicationError) {
	b.status.LastError = appErr.Message()
	b.setPhase(PhaseFailed, appErr.Type())
	b.sig.Wait(ctx)
}

func (b *backup) retrying(cause string) { b.status.LastError, b.status.Reason = cause, status.Retrying }

// showPassing keeps a shard's failure in the status after the commit of the shards that
// went on (a commit clears LastError); the next cycle captures that shard again.
func (b *backup) showPassing() {
	if b.passing != "" {
		b.retrying(b.passing)
	}
}

// inactiveReason says why nothing should run now, or "" when the backup should run.
func (b *backup) inactiveReason() string {
	switch {
	case len(b.in.Spec.Streams) == 0:
		return status.NoStreams
	case b.state.PausedBySignal:
		return status.PausedBySignal
	case !b.in.Spec.Enabled:
		return status.PausedBySpec
	case !slices.ContainsFunc(b.in.Spec.Streams, func(s Stream) bool { return s.Enabled }):
		return status.AllStreamsDisabled
	}
	return ""
}

func inactivePhase(reason string) string {
	if reason == status.NoStreams {
		return PhaseDraft
	}
	return PhasePaused
}

func (b *backup) setPhase(phase, reason string) { b.status.Phase, b.status.Reason = phase, reason }

// handleSignals says what each signal does to the backup.
func (b *backup) handleSignals() {
	b.sig.OnPause = func() { b.state.PausedBySignal = true }
	b.sig.OnResume = func() { b.state.PausedBySignal = false }
	b.sig.OnTrigger = func() { b.triggered = true }
	b.sig.OnUpdate = func(ctx workflow.Context, c workflow.ReceiveChannel) {
		var s Spec
		c.Receive(ctx, &s)
		b.in.Spec = s // offsets live in state, so a new spec keeps every checkpoint
		b.specChanged = true
		b.status.LastError = ""
	}
}

func (b *backup) snapshot() Status {
	s := b.status
	if b.sharded {
		return s // the last commit set the partitions and totals
	}
	s.Partitions = nil
	for _, p := range b.state.Next {
		lag := max(0, b.hwm[key(p.Topic, p.Partition)]-p.Next)
		s.Partitions = append(s.Partitions, PartitionStatus{Topic: p.Topic, Partition: p.Partition, Committed: p.Next, Lag: lag})
	}
	return s
}

func key(topic string, partition int32) string { return fmt.Sprintf("%s/%d", topic, partition) }

func (b *backup) activityCtx(ctx workflow.Context, timeout time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		// Captures heartbeat every second (also while uploading), so a dead worker is noticed
		// within seconds and its partitions move on.
		HeartbeatTimeout:    10 * time.Second,
		WaitForCancellation: true,
		// Three attempts, then the workflow sees the error and shows it in the status instead of
		// retrying in silence (a storage or broker outage shows within about half a minute); it
		// tries again after RetryPause.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts:        3,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrTopicNotFound, ErrAuthentication, ErrStorageAccessDenied}},
	})
}

// discover refreshes the topic list when the discovery interval has passed (or force is set).
func (b *backup) discover(ctx workflow.Context, force bool) error {
	now := workflow.Now(ctx)
	if !force && !b.lastDiscovery.IsZero() && now.Sub(b.lastDiscovery) < b.in.Spec.DiscoveryInterval {
		return nil
	}
	sel, groups := b.selection(now)
	var res DiscoverResult
	err := workflow.ExecuteActivity(b.activityCtx(ctx, 2*time.Minute), ActivityDiscover, sel).Get(ctx, &res)
	if err != nil {
		return err
	}
	b.topics, b.lastDiscovery = res.Topics, now
	if groups {
		b.groups = &archive.GroupOffsetsSnapshot{Time: now, Groups: res.Groups}
		b.state.LastGroups = now
	}
	for _, t := range res.Topics {
		for _, p := range t.Partitions {
			b.hwm[key(t.Name, p.Partition)] = p.HighWatermark
			if !slices.ContainsFunc(b.state.Next, func(s PartitionState) bool { return s.Topic == t.Name && s.Partition == p.Partition }) {
				// A new partition starts where the spec says; later ones continue from the checkpoint.
				from := p.LogStart
				if b.in.Spec.StartFromLatest {
					from = p.HighWatermark
				}
				b.state.Next = append(b.state.Next, PartitionState{Topic: t.Name, Partition: p.Partition, Next: from})
			}
		}
	}
	return nil
}

// anySelected reports whether the last discovery selected any partition.
func (b *backup) anySelected() bool {
	if b.sharded {
		return len(b.shards) > 0
	}
	return slices.ContainsFunc(b.state.Next, func(p PartitionState) bool { return b.selected(p.Topic) })
}

// selected reports whether a partition's topic is still selected by the last discovery.
func (b *backup) selected(topic string) bool {
	return slices.ContainsFunc(b.topics, func(t TopicInfo) bool { return t.Name == topic })
}

// continuous runs one cycle: capture every selected partition for about one segment interval,
// then commit what was written. A pause or update signal cancels the captures early.
func (b *backup) continuous(ctx workflow.Context) error {
	force := b.specChanged // new streams must be looked up now
	b.specChanged = false
	if b.sharded {
		if err := b.discoverShards(ctx, force, nil); err != nil {
			return err
		}
	} else if err := b.discover(ctx, force); err != nil {
		return err
	}
	if !b.anySelected() {
		// Streams match no topic yet: look again after the discovery interval, not in a loop.
		b.setPhase(PhaseReady, status.NoMatchingTopics)
		var names []string
		for _, st := range b.in.Spec.Streams {
			if st.Enabled {
				names = append(names, st.Topic)
			}
		}
		b.status.LastError = fmt.Sprintf("no topic matches the streams %v", names)
		b.sig.Sleep(ctx, b.in.Spec.DiscoveryInterval)
		return nil
	}
	if b.status.Reason == status.NoMatchingTopics {
		b.status.LastError = "" // its cause is gone: a topic matches now
	}
	b.setPhase(PhaseStreaming, "")
	runFor := max(b.in.Spec.MaxSegmentInterval, 10*time.Second)
	if b.sharded {
		staged, err := b.captureShards(ctx, runFor, nil)
		if err != nil {
			return err
		}
		if err := b.commitSharded(ctx, staged, nil); err != nil {
			return err
		}
		b.showPassing()
		return b.retainByAge(ctx)
	}
	results, err := b.captureAll(ctx, runFor, nil)
	if err != nil {
		return err
	}
	if err := b.commit(ctx, results, nil); err != nil {
		return err
	}
	return b.retainByAge(ctx)
}

// retainByAge applies age-based retention, at most once per discovery interval.
func (b *backup) retainByAge(ctx workflow.Context) error {
	if b.in.Spec.MaxAge > 0 && workflow.Now(ctx).Sub(b.lastRetention) >= b.in.Spec.DiscoveryInterval {
		b.lastRetention = workflow.Now(ctx)
		return b.retain(ctx)
	}
	return nil
}

// commitBatches splits capture results so that no batch names more than maxSegmentsPerCommit
// segments (a capture with more goes alone). There is always at least one batch, so topic
// metadata and run entries are committed even when nothing was captured.
func commitBatches(results []CaptureResult) [][]CaptureResult {
	batches := [][]CaptureResult{nil}
	n := 0
	for i := range results {
		segs := len(results[i].Segments)
		if n > 0 && n+segs > maxSegmentsPerCommit {
			batches = append(batches, nil)
			n = 0
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], results[i])
		n += segs
	}
	return batches
}

// captureAll runs one Capture activity per selected partition, in parallel, and returns their
// results, including the progress of captures cancelled by a signal. It is the per-partition
// path of runs started before sharding (captureShards is its sharded twin) and stays as it is,
// so their histories replay; it goes when no such run is left.
func (b *backup) captureAll(ctx workflow.Context, runFor time.Duration, until map[string]int64) ([]CaptureResult, error) {
	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	stopped := false // set when a signal cancels the captures on purpose
	actx := b.activityCtx(cctx, runFor+5*time.Minute)
	type pending struct {
		p PartitionState
		f workflow.Future
	}
	var inputs []CaptureInput
	var parts []PartitionState
	for _, p := range b.state.Next {
		if !b.selected(p.Topic) {
			continue
		}
		u := int64(-1)
		if until != nil {
			var ok bool
			if u, ok = until[key(p.Topic, p.Partition)]; !ok || p.Next >= u {
				continue
			}
		}
		inputs = append(inputs, CaptureInput{Namespace: b.in.Namespace, Backup: b.in.Backup, Kafka: b.in.Kafka, Storage: b.in.Storage,
			Topic: p.Topic, Partition: p.Partition, From: p.Next, Until: u, Compression: b.in.Spec.Compression,
			MaxSegmentBytes: b.in.Spec.MaxSegmentBytes, MaxSegmentInterval: b.in.Spec.MaxSegmentInterval, MaxRunTime: runFor})
		parts = append(parts, p)
	}
	// The spec's rate limit is for the whole backup: each capture gets its share.
	share := b.in.Spec.RateLimit.Share(len(inputs))
	var running []pending
	for i, in := range inputs {
		in.RateLimit = share
		// The Temporal UI lists activities by this summary.
		opts := workflow.GetActivityOptions(actx)
		opts.Summary = fmt.Sprintf("capture %s/%d from offset %s", in.Topic, in.Partition, workflows.Thousands(in.From))
		running = append(running, pending{parts[i], workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), ActivityCapture, in)})
	}
	results := make([]CaptureResult, 0, len(running))
	var firstErr error
	left := len(running)
	sel := workflow.NewSelector(ctx)
	for _, r := range running {
		sel.AddFuture(r.f, func(f workflow.Future) {
			left--
			var res CaptureResult
			err := f.Get(ctx, &res)
			var canceled *temporal.CanceledError
			switch {
			case err == nil:
				results = append(results, res)
			case errors.As(err, &canceled) && stopped:
				// Cancelled on purpose: keep what it reports as uploaded; without details the
				// next cycle simply captures from the last committed offset again.
				var prog CaptureProgress
				if canceled.HasDetails() && canceled.Details(&prog) == nil {
					results = append(results, CaptureResult{CaptureProgress: prog, Topic: r.p.Topic, Partition: r.p.Partition})
				}
			case firstErr == nil:
				firstErr = err
				cancel()
			}
		})
	}
	// A pause or a new spec ends the captures early; their progress is still committed.
	b.sig.Add(ctx, sel, func() {
		if b.state.PausedBySignal || b.specChanged {
			stopped = true
			cancel()
		}
	})
	for left > 0 {
		sel.Select(ctx)
	}
	if firstErr != nil {
		// Commit what did get written before reporting the failure.
		if err := b.commit(ctx, results, nil); err != nil {
			return nil, err
		}
		return nil, firstErr
	}
	return results, nil
}

// maxSegmentsPerCommit keeps a Commit's input well below Temporal's payload limits (a segment
// reference is about 300 bytes): a cycle over many partitions commits in batches.
const maxSegmentsPerCommit = 500

func (b *backup) commit(ctx workflow.Context, results []CaptureResult, run *archive.Run) error {
	if b.sharded {
		return b.commitSharded(ctx, nil, run)
	}
	var res CommitResult
	batches := commitBatches(results)
	for i, batch := range batches {
		in := CommitInput{Connection: b.in.Connection, Time: workflow.Now(ctx), Topics: b.topics, Captures: batch}
		if i == len(batches)-1 {
			in.Run = run // the run is recorded with its last data
			in.Groups = b.groups
		}
		if err := workflow.ExecuteActivity(b.activityCtx(ctx, 2*time.Minute), ActivityCommit, in).Get(ctx, &res); err != nil {
			return err
		}
	}
	if err := b.foldIfDue(ctx, res.FoldDue); err != nil {
		return err
	}
	b.groups = nil
	for _, n := range res.Next {
		if i := slices.IndexFunc(b.state.Next, func(s PartitionState) bool { return s.Topic == n.Topic && s.Partition == n.Partition }); i >= 0 {
			b.state.Next[i].Next = n.Next
		} else {
			b.state.Next = append(b.state.Next, n) // known to the manifest: continue there
		}
	}
	var warnings, truncated []string
	for _, r := range results {
		for _, g := range r.Gaps {
			if g.Reason == archive.GapRetention {
				warnings = append(warnings, fmt.Sprintf("%s/%d: offsets %d-%d were deleted by the source before they were backed up", r.Topic, r.Partition, g.From, g.To))
			}
		}
		if r.Truncated {
			truncated = append(truncated, r.Truncation())
		}
	}
	b.addWarnings(warnings)
	b.committed(ctx, res.Generation)
	return truncatedError(truncated)
}

// foldIfDue folds the catalog when a commit says it is due. Folding keeps each commit's cost
// independent of the backup's age. It changes no data: the commit before stands whatever
// happens to it.
func (b *backup) foldIfDue(ctx workflow.Context, due bool) error {
	if !due {
		return nil
	}
	in := FoldInput{Connection: b.in.Connection, Time: workflow.Now(ctx), Compaction: b.in.Spec.Compaction,
		MaxSegmentBytes: b.in.Spec.MaxSegmentBytes, Compression: b.in.Spec.Compression}
	return workflow.ExecuteActivity(b.activityCtx(ctx, 10*time.Minute), ActivityFold, in).Get(ctx, nil)
}

// addWarnings keeps the newest maxWarnings: they say most, and the manifest keeps every gap.
// State travels in history, so it must not grow without bound.
func (b *backup) addWarnings(w []string) {
	b.state.Warnings = append(b.state.Warnings, w...)
	if len(b.state.Warnings) > maxWarnings {
		b.state.Warnings = b.state.Warnings[len(b.state.Warnings)-maxWarnings:]
	}
}

// committed records a successful commit in the state and the status.
func (b *backup) committed(ctx workflow.Context, generation int64) {
	b.state.LastSuccess = workflow.Now(ctx)
	b.status.LastSuccess, b.status.Generation, b.status.Warnings, b.status.LastError = b.state.LastSuccess, generation, b.state.Warnings, ""
	if b.status.Reason == status.Retrying {
		b.status.Reason = ""
	}
}

// scheduled waits for the next cron tick (or a trigger), then captures every selected
// partition up to the high watermark read at the run's start and records the run.
func (b *backup) scheduled(ctx workflow.Context) error {
	if !b.triggered && b.in.Spec.Mode == ModeOnce {
		// One run up to the high watermarks read at its start (OSO's one-shot); after it
		// succeeded, another only on a trigger. A failed run is tried again like a scheduled one.
		if n := len(b.state.Runs); n > 0 && b.state.Runs[n-1].Outcome == status.RunSucceeded {
			b.setPhase(PhaseCompleted, status.WaitingForTrigger)
			b.sig.Wait(ctx)
			return nil // triggered, paused, resumed or updated: the main loop decides again
		}
		b.triggered = true
	}
	if !b.triggered {
		// Parsing may read the time zone database (CRON_TZ=), so it runs as a side effect whose
		// result the history records; the next tick is computed from workflow time.
		var tick struct {
			Next time.Time
			Err  string
		}
		now := workflow.Now(ctx)
		if err := workflow.SideEffect(ctx, func(workflow.Context) any {
			s, err := cron.ParseStandard(b.in.Spec.Schedule)
			if err != nil {
				return struct {
					Next time.Time
					Err  string
				}{Err: err.Error()}
			}
			return struct {
				Next time.Time
				Err  string
			}{Next: s.Next(now)}
		}).Get(&tick); err != nil {
			return err
		}
		if tick.Err != "" {
			return temporal.NewNonRetryableApplicationError(fmt.Sprintf("spec.schedule %q: %s", b.in.Spec.Schedule, tick.Err), ErrInvalidSpec, nil)
		}
		next := tick.Next
		// Before the first run the backup is Ready; after a successful run it stays Completed.
		if n := len(b.state.Runs); n > 0 && b.state.Runs[n-1].Outcome == status.RunSucceeded {
			b.setPhase(PhaseCompleted, status.WaitingForSchedule)
		} else {
			b.setPhase(PhaseReady, status.WaitingForSchedule)
		}
		tctx, cancelTimer := workflow.WithCancel(ctx)
		timer := workflow.NewTimer(tctx, next.Sub(workflow.Now(ctx)))
		fired := false
		sel := workflow.NewSelector(ctx)
		sel.AddFuture(timer, func(workflow.Future) { fired = true })
		b.sig.Add(ctx, sel, nil)
		b.status.NextRun = next
		sel.Select(ctx)
		b.status.NextRun = time.Time{}
		cancelTimer()
		if !fired && !b.triggered {
			return nil // paused, resumed or updated: the main loop decides again
		}
	}
	b.triggered = false
	start := workflow.Now(ctx)
	b.state.RunSeq++
	run := &archive.Run{ID: fmt.Sprintf("run-%06d-%s", b.state.RunSeq, start.UTC().Format("20060102T150405Z")),
		Start: start, Outcome: status.RunRunning, Upto: map[string]int64{}}
	b.status.CurrentRun = run
	defer func() { b.status.CurrentRun = nil }()
	b.setPhase(PhaseStreaming, status.ScheduledRun)
	if b.sharded {
		return b.endRun(ctx, run, b.scheduledSharded(ctx, run))
	}
	if err := b.discover(ctx, true); err != nil {
		return b.endRun(ctx, run, err)
	}
	for _, p := range b.state.Next {
		if b.selected(p.Topic) {
			run.Upto[key(p.Topic, p.Partition)] = b.hwm[key(p.Topic, p.Partition)]
		}
	}
	runFor := max(b.in.Spec.MaxSegmentInterval, 10*time.Second)
	for {
		results, err := b.captureAll(ctx, runFor, run.Upto)
		if err != nil {
			return b.endRun(ctx, run, err)
		}
		for _, r := range results {
			run.Records += r.Records
			run.Bytes += r.Bytes
		}
		if err := b.commit(ctx, results, run); err != nil {
			return b.endRun(ctx, run, err)
		}
		if b.state.PausedBySignal || b.reachedUpto(run.Upto) {
			break
		}
		b.sig.Drain(ctx)
	}
	return b.endRun(ctx, run, nil)
}

func (b *backup) reachedUpto(upto map[string]int64) bool {
	if b.sharded {
		return b.unfinished == 0
	}
	for _, p := range b.state.Next {
		if u, ok := upto[key(p.Topic, p.Partition)]; ok && p.Next < u {
			return false
		}
	}
	return true
}

// endRun records the run's outcome in the manifest and the status.
func (b *backup) endRun(ctx workflow.Context, run *archive.Run, cause error) error {
	run.End = workflow.Now(ctx)
	run.Outcome = status.RunSucceeded
	if cause != nil || !b.reachedUpto(run.Upto) {
		run.Outcome = status.RunFailed
		if cause == nil {
			run.Outcome = status.RunPaused
		}
	}
	if err := b.commit(ctx, nil, run); err != nil && cause == nil {
		cause = err
	}
	b.state.Runs = append(b.state.Runs, *run)
	if len(b.state.Runs) > 20 {
		b.state.Runs = b.state.Runs[len(b.state.Runs)-20:]
	}
	b.status.Runs = b.state.Runs
	if cause == nil && run.Outcome == status.RunSucceeded {
		b.setPhase(PhaseCompleted, run.ID)
		cause = b.retain(ctx)
	}
	return cause
}

// retain applies the retention policy. Which runs stay is decided here; the activity trims the
// manifest first and deletes objects after. The newest successful run is never dropped.
func (b *backup) retain(ctx workflow.Context) error {
	spec := b.in.Spec
	if spec.KeepLast <= 0 && spec.MaxAge <= 0 {
		return nil
	}
	in := RetentionInput{Connection: b.in.Connection, Time: workflow.Now(ctx)}
	if spec.MaxAge > 0 {
		in.Before = workflow.Now(ctx).Add(-spec.MaxAge)
	}
	var succeeded []int
	for i, r := range b.state.Runs {
		if r.Outcome == status.RunSucceeded {
			succeeded = append(succeeded, i)
		}
	}
	if len(succeeded) > 0 {
		in.Protect = b.state.Runs[succeeded[len(succeeded)-1]].ID
	}
	if spec.KeepLast > 0 && len(succeeded) > spec.KeepLast {
		// Keep the last KeepLast successful runs and every run after the oldest of them, so
		// what stays is one contiguous range.
		from := succeeded[len(succeeded)-spec.KeepLast]
		in.KeepRuns = []string{}
		for _, r := range b.state.Runs[from:] {
			in.KeepRuns = append(in.KeepRuns, r.ID)
		}
	} else if spec.MaxAge <= 0 {
		return nil
	}
	var res RetentionResult
	if err := workflow.ExecuteActivity(b.activityCtx(ctx, 10*time.Minute), ActivityRetain, in).Get(ctx, &res); err != nil {
		return err
	}
	if in.KeepRuns != nil {
		b.state.Runs = slices.DeleteFunc(b.state.Runs, func(r archive.Run) bool { return !slices.Contains(in.KeepRuns, r.ID) })
		b.status.Runs = b.state.Runs
	}
	return nil
}
