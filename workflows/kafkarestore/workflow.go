package kafkarestore

import (
	"errors"
	"fmt"
	"slices"
	"sort"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/api/status"
	"arkive.io/arkive/workflows"
)

// continueAfterEvents bounds a run's history well below Temporal's 10k-event warning.
const continueAfterEvents = 4000

// planHeartbeat is the heartbeat timeout of the plan and the preflight, which heartbeat while
// they read: a worker that dies during either is noticed within it, not after their 30 and 5
// minute limits.
const planHeartbeat = 30 * time.Second

// streamRunTime bounds one Restore activity, so progress reaches the status (and history) at a
// steady pace and streams can move between workers; each start costs well under a second.
const streamRunTime = 30 * time.Second

// State is what survives continue-as-new.
type State struct {
	Plan      *Plan            `json:"plan,omitempty"`
	Preflight *PreflightResult `json:"preflight,omitempty"`
	Progress  []*Progress      `json:"progress,omitempty"`
	StartTime time.Time        `json:"startTime,omitzero"`
	Paused    bool             `json:"paused,omitempty"`
	// SchemaIDs is the schema id map, computed once (spec.schemaRegistry).
	SchemaIDs *SchemaIDs `json:"schemaIds,omitempty"`
	// NextStream is the stream the next round starts first (capped rounds).
	NextStream int `json:"nextStream,omitempty"`
	// ProgressPages, with a paged plan, are the storage keys of the pages holding Progress
	// (which is then empty) when a run from before versionPageState continued as new.
	ProgressPages []string `json:"progressPages,omitempty"`
	// Pages, with a paged plan, is what the runs keep of each of its pages (Progress is then
	// empty between runs): a page whose streams have all finished is read again only at the end.
	Pages []PageState `json:"pages,omitempty"`
}

// versionPageState is the change id of progress kept per page of the plan (workflow.GetVersion;
// never rename): a run that continued as new before it wrote every stream's progress again.
const versionPageState = "restore-page-state"

// Input carries the state when the workflow continues as new.
type RunInput struct {
	Input
	State *State `json:"state,omitempty"`
	// Release: this run only releases what an earlier run under the same workflow id kept in the
	// storage (its catalog pin, its pages) and could not release because it was terminated by
	// hand; the operator starts it when such a restore's resource is deleted.
	Release bool `json:"release,omitempty"`
}

type restore struct {
	in     Input
	state  State
	status Status
	// streams and groups are the plan's, read from its pages when it has them.
	streams []Stream
	groups  GroupIndex
	// pages, with a paged plan, say which of its pages this run read (the streams of the others
	// are zero here, and their progress a finished placeholder: state.Pages has their totals)
	// and which it changed.
	pages []pageRun
	// sig takes pause and resume; a restore has nothing to trigger, and its spec is fixed.
	sig *workflows.Signals
}

// pageRun is what a run did with one page of a paged plan.
type pageRun struct{ read, changed bool }

// KafkaRestore plans a restore, checks the target, writes every stream exactly once, then moves
// the consumer groups. Phases: Draft (planning) → Ready (checked) → Restoring → Done, or Failed
// with the reason in the status.
func KafkaRestore(ctx workflow.Context, in RunInput) (Result, error) {
	r := &restore{in: in.Input, sig: workflows.NewSignals(ctx)}
	r.sig.OnPause = func() { r.state.Paused = true }
	r.sig.OnResume = func() { r.state.Paused = false }
	if in.State != nil {
		r.state = *in.State
	}
	if r.state.StartTime.IsZero() {
		r.state.StartTime = workflow.Now(ctx)
	}
	r.status = Status{Phase: PhaseDraft, StartTime: r.state.StartTime}
	if err := workflows.ServeStatus(ctx, r.snapshot, func() (string, string) {
		return r.status.Phase, workflows.Details(r.status.Phase, r.status.Reason, r.status.LastError)
	}); err != nil {
		return Result{}, err
	}
	if in.Release {
		return r.releaseOnly(ctx)
	}
	res, err := r.run(ctx)
	var can *workflow.ContinueAsNewError
	if !errors.As(err, &can) {
		r.unpin(ctx) // done, failed or cancelled: the restore reads the backup no more
	}
	if err != nil {
		if errors.As(err, &can) || ctx.Err() != nil {
			return res, err
		}
		r.status.Phase, r.status.LastError = PhaseFailed, workflows.RootMessage(err)
		var appErr *temporal.ApplicationError
		if errors.As(err, &appErr) {
			r.status.Reason = appErr.Type()
		}
		r.status.CompletionTime = workflow.Now(ctx)
		return Result{Status: r.snapshot()}, err
	}
	return res, nil
}

func (r *restore) run(ctx workflow.Context) (Result, error) {
	if err := r.in.Limits.check(); err != nil {
		return Result{}, temporal.NewNonRetryableApplicationError(err.Error(), ErrInvalidSpec, nil)
	}
	if r.state.Plan == nil {
		r.in.Limits = r.in.Limits.withDefaults() // fixed for every later run (see Limits)
		var plan Plan
		if err := r.attempt(ctx, func() error {
			return workflow.ExecuteActivity(r.activityCtx(ctx, 30*time.Minute, planHeartbeat), ActivityPlan,
				PlanInput{Connection: r.in.Connection, Spec: r.in.Spec, PageStreams: r.in.Limits.pageStreams(), PackPartitions: r.in.Limits.packPartitions(),
					TopicBytes: r.in.Limits.topicBytes()}).Get(ctx, &plan)
		}); err != nil {
			return Result{}, err
		}
		r.state.Plan = &plan
	}
	if err := r.load(ctx); err != nil {
		return Result{}, err
	}
	r.status.Plan = r.state.Plan
	r.status.Warnings = r.state.Plan.Warnings
	if r.in.Spec.DryRun {
		// A dry run reads the snapshot (and the target registry's answer) but registers nothing.
		if err := r.remapSchemas(ctx); err != nil {
			return Result{}, err
		}
		r.status.Phase, r.status.Reason = PhaseReady, status.DryRun
		r.status.CompletionTime = workflow.Now(ctx)
		return Result{Status: r.snapshot()}, nil
	}
	if r.state.Preflight == nil {
		var pre PreflightResult
		if err := r.attempt(ctx, func() error {
			return workflow.ExecuteActivity(r.activityCtx(ctx, 5*time.Minute, planHeartbeat), ActivityPreflight,
				PreflightInput{Connection: r.in.Connection, Spec: r.in.Spec, Plan: *r.state.Plan}).Get(ctx, &pre)
		}); err != nil {
			return Result{}, err
		}
		r.state.Preflight = &pre
		r.state.Progress = make([]*Progress, len(r.streams))
	}
	if err := r.remapSchemas(ctx); err != nil {
		return Result{}, err
	}
	r.status.Phase = PhaseReady
	for !r.allDone() {
		// Cancelled (the resource was deleted) first: a paused restore's wait returns at once
		// once cancelled, and would spin here.
		if ctx.Err() != nil {
			return Result{}, ctx.Err()
		}
		r.sig.Drain(ctx)
		if r.state.Paused {
			r.status.Phase, r.status.Reason = PhaseRestoring, status.PausedBySignal
			r.sig.Wait(ctx)
			continue
		}
		r.status.Phase, r.status.Reason = PhaseRestoring, ""
		if err := r.restoreStreams(ctx); err != nil {
			return Result{}, err
		}
		if !r.allDone() && (workflow.GetInfo(ctx).GetCurrentHistoryLength() > continueAfterEvents || r.waiting()) {
			st := r.state
			switch {
			case len(st.Plan.Pages) == 0:
			case workflow.GetVersion(ctx, versionPageState, workflow.DefaultVersion, 1) == 1:
				if err := r.savePages(ctx); err != nil {
					return Result{}, err
				}
				st.Progress, st.Pages = nil, r.state.Pages
			default:
				keys, err := r.saveProgress(ctx)
				if err != nil {
					return Result{}, err
				}
				st.Progress, st.ProgressPages, st.Pages = nil, keys, nil
			}
			return Result{}, workflow.NewContinueAsNewError(ctx, KafkaRestore, RunInput{Input: r.in, State: &st})
		}
	}
	ranges, err := r.readFinished(ctx)
	if err != nil {
		return Result{}, err
	}
	inline := ranges <= r.in.Limits.resultRanges() // the result carries the offset maps
	var groups []TranslatedGroup
	for _, p := range r.state.Progress {
		groups = append(groups, p.Groups...)
	}
	// Many partitions' offsets go in several requests, so that no input grows with them; those
	// of pages finished in earlier runs are read from the pages by the activity.
	for j, ps := range r.state.Pages {
		if inline || r.pages[j].read || ps.Groups == 0 {
			continue // none, or read back into the progress
		}
		if err := r.attempt(ctx, func() error {
			return workflow.ExecuteActivity(r.activityCtx(ctx, 5*time.Minute, 0), ActivityGroupsFromPages, GroupPagesInput{Connection: r.in.Connection, Pages: ps.Progress}).Get(ctx, nil)
		}); err != nil {
			return Result{}, err
		}
	}
	for len(groups) > 0 {
		batch := groups[:min(len(groups), groupsPerRequest)]
		groups = groups[len(batch):]
		if err := r.attempt(ctx, func() error {
			return workflow.ExecuteActivity(r.activityCtx(ctx, 5*time.Minute, 0), ActivityGroups, GroupsInput{Connection: r.in.Connection, Groups: batch}).Get(ctx, nil)
		}); err != nil {
			return Result{}, err
		}
	}
	r.status.Phase, r.status.Reason, r.status.LastError = PhaseDone, "", ""
	r.status.CompletionTime = workflow.Now(ctx)
	res := Result{Status: r.snapshot()}
	if !inline {
		res.OffsetRanges = ranges
		return res, nil
	}
	for _, p := range r.state.Progress {
		res.OffsetMaps = append(res.OffsetMaps, p.OffsetMap)
	}
	return res, nil
}

// groupsPerRequest bounds the translated offsets one Groups activity commits.
const groupsPerRequest = 1000

// loadStreams is about how many streams a run of a paged plan reads beyond those under way:
// more than a run starts before its history is long enough to continue as new (about
// continueAfterEvents/3 activities).
const loadStreams = continueAfterEvents / 2

// load reads the plan's streams and groups (from its pages when it has them) and the progress
// the last run left in pages. Of a paged plan it reads the pages whose streams are under way
// and then, in order, pages not yet started until about Limits.LoadStreams streams are unfinished;
// the others' streams stay zero here, and a finished page's progress is a finished placeholder
// (state.Pages has its totals). A page is read again until every stream of it has finished.
func (r *restore) load(ctx workflow.Context) error {
	plan := r.state.Plan
	r.streams, r.groups = plan.Streams, IndexGroups(plan.Groups)
	if len(plan.Pages) == 0 {
		return nil
	}
	states, progressKept := r.state.Pages, r.state.Pages != nil
	// Where each page begins is known from the state or from the plan's page size; a plan
	// paged before it was recorded has every page read (as its runs did) to learn it.
	known, lazy := progressKept || plan.PageSize > 0, plan.PageSize > 0
	switch {
	case states == nil:
		states = make([]PageState, len(plan.Pages))
		for j := range states {
			if plan.PageSize > 0 {
				states[j].First = j * plan.PageSize
				states[j].Streams = max(0, min(plan.PageSize, plan.StreamCount-states[j].First))
			}
		}
	case len(states) != len(plan.Pages):
		return corrupt("the restore keeps the state of %d pages of a plan of %d", len(states), len(plan.Pages))
	}
	if known {
		next := 0
		for j, ps := range states {
			if ps.First != next {
				return corrupt("the plan's page %s begins at stream %d, not %d", plan.Pages[j], ps.First, next)
			}
			next += ps.Streams
		}
		if next != plan.StreamCount {
			return corrupt("the plan's pages hold %d streams, not %d", next, plan.StreamCount)
		}
	}
	streams := make([]Stream, plan.StreamCount)
	pages := make([]pageRun, len(plan.Pages))
	var groups []GroupOffset
	next := 0 // where the next page begins, when not known
	read := func(j int) error {
		ps := &states[j]
		if !known {
			ps.First = next
		}
		page, err := r.readPage(ctx, plan.Pages[j])
		if err != nil {
			return err
		}
		if page.First != ps.First || (known && len(page.Streams) != ps.Streams) || page.First+len(page.Streams) > plan.StreamCount {
			return corrupt("the plan's page %s holds streams %d-%d, not from %d", plan.Pages[j], page.First, page.First+len(page.Streams), ps.First)
		}
		ps.Streams = len(page.Streams)
		copy(streams[ps.First:], page.Streams)
		groups = append(groups, page.Groups...)
		pages[j].read = true
		next = ps.First + ps.Streams
		return nil
	}
	// Every unfinished page, or (lazily) those under way; their progress; then pages not yet
	// started while fewer than Limits.LoadStreams of the streams read are unfinished.
	for j, ps := range states {
		if !ps.Done && (!lazy || len(ps.Progress) > 0) {
			if err := read(j); err != nil {
				return err
			}
		}
	}
	if !known && next != plan.StreamCount {
		return corrupt("the plan's pages hold %d streams, not %d", next, plan.StreamCount)
	}
	if progressKept {
		r.state.Progress = make([]*Progress, plan.StreamCount)
		for j, ps := range states {
			if ps.Done {
				finished := &Progress{Done: true}
				for i := range ps.Streams {
					r.state.Progress[ps.First+i] = finished
				}
			} else if pages[j].read {
				if err := r.readProgress(ctx, ps.Progress); err != nil {
					return err
				}
			}
		}
	}
	if lazy {
		unfinished := 0
		for j, ps := range states {
			if !pages[j].read {
				continue
			}
			for i := range ps.Streams {
				if p := progressAt(r.state.Progress, ps.First+i); p == nil || !p.Done {
					unfinished++
				}
			}
		}
		for j, ps := range states {
			if unfinished >= r.in.Limits.loadStreams() {
				break
			}
			if !ps.Done && !pages[j].read {
				if err := read(j); err != nil {
					return err
				}
				unfinished += ps.Streams
			}
		}
	}
	r.streams, r.groups, r.pages, r.state.Pages = streams, IndexGroups(groups), pages, states
	if len(r.state.ProgressPages) > 0 {
		r.state.Progress = make([]*Progress, len(r.streams))
		if err := r.readProgress(ctx, r.state.ProgressPages); err != nil {
			return err
		}
		r.state.ProgressPages = nil
		for j := range r.pages {
			r.pages[j].changed = true // their progress is in the old pages only
		}
	}
	return nil
}

// corrupt fails the restore for good: its plan or progress in the storage does not add up.
func corrupt(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), ErrCorruptManifest, nil)
}

// progressAt is progress[i], nil past its end (before the preflight there is none).
func progressAt(progress []*Progress, i int) *Progress {
	if i < len(progress) {
		return progress[i]
	}
	return nil
}

// waiting reports whether every stream this run read has finished while pages it did not read
// have not: the next run reads them.
func (r *restore) waiting() bool {
	for i, p := range r.state.Progress {
		if (p == nil || !p.Done) && r.isRead(i) {
			return false
		}
	}
	for j, ps := range r.state.Pages {
		if !ps.Done && !r.pages[j].read {
			return true
		}
	}
	return false
}

// isRead reports whether this run read stream i (every stream of a plan without pages).
func (r *restore) isRead(i int) bool {
	return len(r.pages) == 0 || r.pages[r.pageOf(i)].read
}

func (r *restore) readPage(ctx workflow.Context, key string) (Page, error) {
	var page Page
	err := r.attempt(ctx, func() error {
		return workflow.ExecuteActivity(r.activityCtx(ctx, 5*time.Minute, 0), ActivityReadPage, PageInput{Connection: r.in.Connection, Key: key}).Get(ctx, &page)
	})
	return page, err
}

// readProgress reads pages of progress into the state.
func (r *restore) readProgress(ctx workflow.Context, keys []string) error {
	for _, key := range keys {
		page, err := r.readPage(ctx, key)
		if err != nil {
			return err
		}
		if page.First < 0 || page.First+len(page.Progress) > len(r.state.Progress) {
			return corrupt("the progress page %s holds streams %d-%d of %d", key, page.First, page.First+len(page.Progress), len(r.state.Progress))
		}
		copy(r.state.Progress[page.First:], page.Progress)
	}
	return nil
}

// pageOf is the index of the plan's page holding stream i.
func (r *restore) pageOf(i int) int {
	ps := r.state.Pages
	return sort.Search(len(ps), func(j int) bool { return ps[j].First > i }) - 1
}

// setProgress keeps a stream's new progress and notes its page as changed.
func (r *restore) setProgress(i int, p *Progress) {
	r.state.Progress[i] = p
	if len(r.pages) > 0 {
		r.pages[r.pageOf(i)].changed = true
	}
}

// savePages writes the progress of the pages this run changed, each in pages of about
// pageBytes, and keeps their totals once every stream of a page has finished; the others keep
// the keys they had.
func (r *restore) savePages(ctx workflow.Context) error {
	for j := range r.state.Pages {
		if !r.pages[j].changed {
			continue
		}
		ps := &r.state.Pages[j]
		progress := r.state.Progress[ps.First : ps.First+ps.Streams]
		keys, err := r.writeProgress(ctx, fmt.Sprintf("progress-%04d", j), ps.First, progress)
		if err != nil {
			return err
		}
		ps.Progress = keys
		if slices.ContainsFunc(progress, func(p *Progress) bool { return p == nil || !p.Done }) {
			continue
		}
		*ps = PageState{First: ps.First, Streams: ps.Streams, Progress: keys, Done: true}
		for _, p := range progress {
			ps.Records += p.Records
			ps.Bytes += p.Bytes
			ps.Groups += len(p.Groups)
			ps.Ranges += len(p.OffsetMap)
			ps.Skipped = append(ps.Skipped, p.Skipped...)
		}
	}
	return nil
}

// readFinished reads back the progress of the pages that finished in earlier runs when the
// result carries their offset maps (at most Limits.ResultRanges ranges in all, which it returns);
// else their group offsets are committed from the pages.
func (r *restore) readFinished(ctx workflow.Context) (int, error) {
	ranges := 0
	for i, p := range r.state.Progress {
		if r.isRead(i) {
			ranges += len(p.OffsetMap)
		}
	}
	for j, ps := range r.state.Pages {
		if !r.pages[j].read {
			ranges += ps.Ranges
		}
	}
	if ranges > r.in.Limits.resultRanges() {
		return ranges, nil
	}
	for j, ps := range r.state.Pages {
		if !r.pages[j].read {
			if err := r.readProgress(ctx, ps.Progress); err != nil {
				return 0, err
			}
		}
	}
	return ranges, nil
}

// encodedBound bounds a progress's JSON size (encoding it in workflow code is not
// deterministic by Temporal's rules: encoding/json caches by type).
func encodedBound(p *Progress) int {
	if p == nil {
		return 5
	}
	nonZero := 0
	for _, v := range p.Target {
		if v != 0 {
			nonZero++
		}
	}
	n := 400 + min(21*len(p.Target), 40+42*nonZero) + 140*len(p.OffsetMap)
	for _, g := range p.Groups {
		n += 200 + len(g.Group) + len(g.Topic) + len(g.Metadata)
	}
	for _, sk := range p.Skipped {
		n += 120 + len(sk.Topic) + len(sk.Object) + len(sk.Reason)
	}
	return n
}

// saveProgress writes every stream's progress, as runs from before versionPageState did.
func (r *restore) saveProgress(ctx workflow.Context) ([]string, error) {
	return r.writeProgress(ctx, "progress", 0, r.state.Progress)
}

// writeProgress writes the progress of the streams from first on in pages of about pageBytes
// named <name>-0000, <name>-0001, …, leaving out the streams not started before the first
// started one of a page, and returns their keys.
func (r *restore) writeProgress(ctx workflow.Context, name string, first int, progress []*Progress) ([]string, error) {
	var keys []string
	var page *Page
	size := 0
	flush := func() error {
		var key string
		in := PageInput{Connection: r.in.Connection, Name: fmt.Sprintf("%s-%04d", name, len(keys)), Page: page}
		if err := r.attempt(ctx, func() error {
			return workflow.ExecuteActivity(r.activityCtx(ctx, 5*time.Minute, 0), ActivitySavePage, in).Get(ctx, &key)
		}); err != nil {
			return err
		}
		keys, page, size = append(keys, key), nil, 0
		return nil
	}
	for i, p := range progress {
		if p == nil && page == nil {
			continue
		}
		if page == nil {
			page = &Page{First: first + i}
		}
		page.Progress = append(page.Progress, p)
		if size += encodedBound(p); size >= pageBytes {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if page != nil {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// remapSchemas computes the schema id map once, when the spec asks for it: the snapshot's
// schemas are registered in the target registry (a dry run only reads), and the map is kept in
// the state for every stream.
func (r *restore) remapSchemas(ctx workflow.Context) error {
	if r.in.Schemas == nil || r.state.SchemaIDs != nil {
		return nil
	}
	var ids SchemaIDs
	if err := r.attempt(ctx, func() error {
		return workflow.ExecuteActivity(r.activityCtx(ctx, 30*time.Minute, planHeartbeat), ActivityRemapSchemas,
			RemapInput{Remap: *r.in.Schemas, Kafka: r.in.Connection, DryRun: r.in.Spec.DryRun}).Get(ctx, &ids)
	}); err != nil {
		return err
	}
	r.state.SchemaIDs = &ids
	return nil
}

// streamRemap is what a stream needs of the id map (nil: no remapping).
func (r *restore) streamRemap() *StreamRemap {
	if r.in.Schemas == nil || r.state.SchemaIDs == nil {
		return nil
	}
	s := r.in.Schemas
	return &StreamRemap{IDs: *r.state.SchemaIDs, Keys: s.Keys, Values: s.Values, KeepUnknown: s.KeepUnknown}
}

// unpin releases the catalog generation the plan pinned, so retention may delete what only
// that generation names. Best effort, also after cancellation: a pin left behind expires.
func (r *restore) unpin(ctx workflow.Context) {
	if workflow.GetVersion(ctx, "unpin-catalog", workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return // a restore that began before pins: it has none
	}
	dctx, cancel := workflow.NewDisconnectedContext(ctx)
	defer cancel()
	_ = r.releaseStorage(dctx)
}

// releaseStorage deletes the restore's pin and what it keeps under its prefix in the storage.
func (r *restore) releaseStorage(ctx workflow.Context) error {
	return workflow.ExecuteActivity(r.activityCtx(ctx, time.Minute, 0), ActivityUnpin, UnpinInput{Connection: r.in.Connection}).Get(ctx, nil)
}

// releaseOnly is a release run (RunInput.Release). Unlike the end of a restore, a failure here
// fails the run: the operator says so.
func (r *restore) releaseOnly(ctx workflow.Context) (Result, error) {
	err := r.releaseStorage(ctx)
	r.status.Phase, r.status.Reason = PhaseFailed, status.Released
	r.status.LastError = "the restore was terminated by hand; this run released what it kept in the storage"
	if err != nil {
		r.status.LastError = "the restore was terminated by hand; what it kept in the storage could not be released: " + workflows.RootMessage(err)
	}
	r.status.CompletionTime = workflow.Now(ctx)
	return Result{Status: r.snapshot()}, err
}

func (r *restore) allDone() bool {
	for _, p := range r.state.Progress {
		if p == nil || !p.Done {
			return false
		}
	}
	return true
}

// versionHandBack is the change id of streams started again within their round when their
// worker handed them back (Progress.HandedBack; workflow.GetVersion, never rename): runs that
// began before it start them in the next round, as they did.
const versionHandBack = "restore-hand-back"

// versionStreamCap is the change id of capped restore rounds (workflow.GetVersion; never
// rename): runs that began before it start every unfinished stream at once, as they did. At
// version 1 a run keeps legacyRunningStreams pending, from version 2 maxRunningStreams.
const versionStreamCap = "restore-stream-cap"

// versionRetryAlone is the change id of a failed stream retried on its own after RetryPause
// while the round's other streams run on (workflow.GetVersion, never rename). Runs that began
// before it cancel the round at a stream's failure, as they did: a worker killed under a few
// of a restore's streams then stopped all of them for the pause.
const versionRetryAlone = "restore-retry-alone"

// maxRunningStreams bounds the Restore activities a run has pending at once, far below
// Temporal's default limit of 2,000 pending activities per workflow. The server's work per
// activity grows with the activities pending: in the 2,000-partition scale test the Temporal
// dev server spent about 40 % less CPU on the restore with 100 or 300 pending than with 1,000,
// and the restore took less time (docs/benchmarks.md). 256 streams still keep dozens of
// workers busy. A variable only so that tests can set a cap the SDK's test environment can
// hold.
var maxRunningStreams = 256

// legacyRunningStreams is the cap of runs that began before version 2 of versionStreamCap.
const legacyRunningStreams = 1000

// restoreStreams runs the unfinished streams for up to streamRunTime each, at most
// maxRunningStreams at once, starting the next as one ends, and keeps their progress. It
// starts no more once the run's history is long enough to continue as new; the next round
// begins where this one stopped starting them. A pause cancels them; they hand back their
// progress. A stream whose attempts failed for a cause that may pass starts again, from its
// checkpoint, after RetryPause while the others run on; one that fails for good ends the round.
func (r *restore) restoreStreams(ctx workflow.Context) error {
	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	actx := r.activityCtx(cctx, streamRunTime+10*time.Minute, 10*time.Second)
	plan, pre := r.state.Plan, r.state.Preflight
	var firstErr error
	left := 0
	sel := workflow.NewSelector(ctx)
	capVersion := workflow.GetVersion(ctx, versionStreamCap, workflow.DefaultVersion, 2)
	capped := capVersion >= 1
	streamCap := maxRunningStreams
	if capVersion == 1 {
		streamCap = legacyRunningStreams
	}
	again := workflow.GetVersion(ctx, versionHandBack, workflow.DefaultVersion, 1) == 1
	alone := workflow.GetVersion(ctx, versionRetryAlone, workflow.DefaultVersion, 1) == 1
	// The unfinished streams, from where the last round stopped starting them.
	var todo []int
	n := len(r.streams)
	for k := range n {
		i := k
		if capped {
			i = (r.state.NextStream + k) % n
		}
		if p := r.state.Progress[i]; (p == nil || !p.Done) && r.isRead(i) {
			todo = append(todo, i)
		}
	}
	running := len(todo)
	if capped {
		running = min(running, streamCap)
	}
	// The spec's rate limit is for the whole restore: share it among the streams that run.
	limit := r.in.Spec.RateLimit.Share(running)
	var start func(i int)
	next := 0 // todo[next] is the next stream to start
	// goesOn says the round may start streams: nothing failed, paused or cancelled it.
	goesOn := func() bool { return firstErr == nil && !r.state.Paused && cctx.Err() == nil }
	shortHistory := func() bool { return workflow.GetInfo(ctx).GetCurrentHistoryLength() <= continueAfterEvents }
	// Streams that failed for a cause that may pass wait out RetryPause (one timer for all that
	// failed while none was pending), then start before any stream not yet started.
	var waiting, due []int
	timing := false
	var startMore func()
	// retryWaiting starts the waiting streams (their pause is over, or a signal ended it).
	retryWaiting := func() {
		due, waiting = append(due, waiting...), nil
		startMore()
	}
	startMore = func() {
		for len(due) > 0 && left < running && goesOn() && shortHistory() {
			i := due[0]
			due = due[1:]
			start(i)
		}
		for next < len(todo) && left < running && goesOn() && (!capped || next < running || shortHistory()) {
			next++
			start(todo[next-1])
		}
	}
	retryLater := func(i int, err error) {
		r.retrying(workflows.RootMessage(err))
		waiting = append(waiting, i)
		if timing {
			return
		}
		timing = true
		sel.AddFuture(workflow.NewTimer(cctx, workflows.RetryPause), func(workflow.Future) {
			timing = false
			retryWaiting()
		})
	}
	// restart starts a stream its worker handed back again at once, in its own slot, unless the
	// round is ending; otherwise the next round starts it, as it does every unfinished stream.
	restart := func(i int) bool {
		if !goesOn() || !shortHistory() {
			return false
		}
		start(i)
		return true
	}
	start = func(i int) {
		s := r.streams[i]
		var target TargetTopic
		for _, t := range pre.Targets {
			if t.Name == s.Target {
				target = StreamTarget(t, s, r.in.Spec.PartitionMapping)
			}
		}
		in := RestoreInput{Connection: r.in.Connection, Stream: s, Target: target, TargetsPage: pre.TargetsPage, Mapping: r.in.Spec.PartitionMapping,
			Window: r.in.Spec.Window, OriginHeaders: r.in.Spec.OriginHeaders, OnDamage: r.in.Spec.OnDamage, RateLimit: limit,
			Generation: plan.Generation, Groups: r.groups.Of(s), Resume: r.state.Progress[i], Remap: r.streamRemap(), MaxInFlightBytes: r.in.Spec.MaxInFlightBytes, MaxRunTime: streamRunTime}
		left++
		opts := workflow.GetActivityOptions(actx)
		opts.Summary = fmt.Sprintf("restore %s to %s: %s records in all", s.Source, s.Target, workflows.Thousands(s.Records))
		sel.AddFuture(workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), ActivityRestore, in), func(f workflow.Future) {
			left--
			var p Progress
			err := f.Get(ctx, &p)
			var canceled *temporal.CanceledError
			var timeout *temporal.TimeoutError
			switch {
			case err == nil:
				if p.Done {
					// A finished stream never resumes: its target offsets (one per partition of
					// the target topic) would only weigh on the workflow's memory and pages.
					p.Target = nil
				}
				handedBack := p.HandedBack && !p.Done
				p.HandedBack = false
				r.setProgress(i, &p)
				if alone && r.status.Reason == status.Retrying && len(waiting)+len(due) == 0 {
					r.status.Reason, r.status.LastError = "", "" // no stream waits to be retried
				}
				if again && handedBack && restart(i) {
					return // its slot is taken again
				}
			case errors.As(err, &canceled):
				if canceled.HasDetails() && canceled.Details(&p) == nil {
					r.setProgress(i, &p)
				}
			default:
				// Keep the furthest checkpoint the attempts reported; a later activity checks
				// the target against it, so even an older one would not duplicate.
				if errors.As(err, &timeout) && timeout.HasLastHeartbeatDetails() && timeout.LastHeartbeatDetails(&p) == nil {
					r.setProgress(i, &p)
				}
				// A damaged backup or an unknown schema id fails the stream with its progress:
				// the records written before it are accounted for in the status.
				var appErr *temporal.ApplicationError
				if errors.As(err, &appErr) && (appErr.Type() == ErrDamagedBackup || appErr.Type() == ErrUnknownSchemaID) && appErr.HasDetails() && appErr.Details(&p) == nil {
					r.setProgress(i, &p)
				}
				if _, permanent := workflows.Permanent(err); alone && !permanent && goesOn() {
					retryLater(i, err) // the others run on; its slot goes to the next stream
				} else if firstErr == nil {
					firstErr = err
					cancel()
				}
			}
			if capped {
				startMore()
			}
		})
	}
	startMore()
	// A pause cancels the streams; they hand back their progress. Any other signal ends the
	// wait of streams that failed, as it ends the workflow's other waits to try again.
	r.sig.Add(ctx, sel, func() {
		if r.state.Paused {
			cancel()
		} else if alone && len(waiting) > 0 {
			retryWaiting()
		}
	})
	for left > 0 || timing {
		sel.Select(ctx)
	}
	if capped && next < len(todo) {
		r.state.NextStream = todo[next] // the next round starts the ones this one did not
	}
	// Failed streams not started again (the round is ending) are unfinished: the next round,
	// or the next run, starts them.
	if firstErr == nil {
		if len(waiting)+len(due) == 0 {
			r.status.LastError = ""
		}
		return nil
	}
	if _, permanent := workflows.Permanent(firstErr); permanent {
		return firstErr
	}
	// A cause that may pass: say so, wait, and go on from the checkpoints.
	r.retrying(workflows.RootMessage(firstErr))
	r.sig.Sleep(ctx, workflows.RetryPause)
	return nil
}

// attempt runs fn until it succeeds or fails for good; between tries the status shows why.
func (r *restore) attempt(ctx workflow.Context, fn func() error) error {
	err := r.sig.Attempt(ctx, fn, r.retrying)
	if err == nil {
		r.status.LastError = ""
	}
	return err
}

func (r *restore) retrying(cause string) {
	r.status.LastError, r.status.Reason = cause, status.Retrying
}

func (r *restore) activityCtx(ctx workflow.Context, timeout, heartbeat time.Duration) workflow.Context {
	return workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: timeout,
		HeartbeatTimeout:    heartbeat,
		WaitForCancellation: true,
		// Three attempts, then the workflow sees the cause, shows it in the status (Retrying)
		// and tries again after RetryPause: an outage is visible while it lasts.
		RetryPolicy: &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumInterval: 10 * time.Second,
			MaximumAttempts: 3,
			NonRetryableErrorTypes: []string{ErrInvalidSpec, ErrBackupNotFound, ErrPreflight, ErrTargetChanged, ErrGroupActive, ErrUnknownSchemaID,
				ErrAuthentication, ErrStorageAccessDenied, ErrCorruptManifest}},
	})
}

func (r *restore) snapshot() Status {
	s := r.status
	if ids := r.state.SchemaIDs; ids != nil {
		sum := *ids
		sum.Pairs = nil // the status shows the summary only
		s.SchemaIDs = &sum
	}
	s.Records, s.Bytes, s.Partitions, s.Groups, s.Skipped = 0, 0, nil, nil, nil
	if r.state.Plan == nil {
		return s
	}
	var planned int64
	if len(r.state.Plan.Pages) > 0 {
		planned = r.state.Plan.Records // a run reads only some of a paged plan's streams
	}
	progress := func(i int) *Progress { return progressAt(r.state.Progress, i) }
	done := func(i int) bool { p := progress(i); return p != nil && p.Done }
	// A page's streams count one by one when this run read it, else by its totals.
	for j, ps := range r.state.Pages {
		if j < len(r.pages) && !r.pages[j].read && ps.Done {
			s.Records += ps.Records
			s.Bytes += ps.Bytes
			s.GroupsTotal += ps.Groups
			s.Skipped = append(s.Skipped, ps.Skipped...)
			s.StreamsDone += ps.Streams
		}
	}
	for i, st := range r.streams {
		if !r.isRead(i) {
			continue
		}
		if p := progress(i); p != nil {
			s.Records += p.Records
			s.Bytes += p.Bytes
			s.GroupsTotal += len(p.Groups)
			if room := maxStatusGroups - len(s.Groups); room > 0 {
				s.Groups = append(s.Groups, p.Groups[:min(room, len(p.Groups))]...)
			}
			s.Skipped = append(s.Skipped, p.Skipped...)
		}
		if len(r.state.Plan.Pages) == 0 {
			planned += st.Records
		}
		if done(i) {
			s.StreamsDone++
		}
	}
	s.Streams = len(r.streams)
	// A long list shows the unfinished streams first, in plan order: what an operator looks for.
	list := func(keep func(i int) bool) {
		for i, st := range r.streams {
			if len(s.Partitions) == maxStatusStreams {
				return
			}
			if !r.isRead(i) || !keep(i) {
				continue
			}
			ps := PartitionStatus{Source: st.Source, Target: st.Target, Planned: st.Records}
			for _, p := range st.Partitions {
				ps.Partitions = append(ps.Partitions, p.Partition)
			}
			if p := progress(i); p != nil {
				ps.Records, ps.Done = p.Records, p.Done
			}
			s.Partitions = append(s.Partitions, ps)
		}
	}
	if len(r.streams) <= maxStatusStreams {
		list(func(int) bool { return true })
	} else {
		list(func(i int) bool { return !done(i) })
		list(done)
	}
	if s.GroupsTotal <= len(s.Groups) {
		s.GroupsTotal = 0
	}
	switch {
	case s.Phase == PhaseDone:
		s.Percent = 100
	case planned > 0:
		// Planned counts are upper bounds (whole segments), so stay below 100 until done.
		s.Percent = int32(min(99, s.Records*100/planned))
	}
	return s
}
