package kafkabackup

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows"
)

// versionSharded is the change id of sharded captures (workflow.GetVersion; never rename).
const versionSharded = "sharded-captures"

// versionShardFailsAlone is the change id of a shard failing alone (workflow.GetVersion; never
// rename): when a shard's attempts fail for a cause that may pass, the other shards finish
// their cycle and are committed, and the failed shard is captured again in the next cycle.
// Runs that began before it cancel every shard at the first failure, commit what had ended
// and wait RetryPause, as they did: a partition whose leader stayed away (a broker down with
// unreplicated partitions) held back the backup of every other partition.
const versionShardFailsAlone = "shard-fails-alone"

// A sharded cycle is one discovery when due, one CaptureShard activity per shard and one
// commit: about 6 history events per shard, at most MaxShards shards, so a cycle stays a few
// hundred events and pending activities stay at most MaxShards whatever the partition count.
// No per-partition list passes through the workflow: the discovery records new partitions in
// the catalog, each shard reads its offsets there, and the commit reads what the shards stored
// (docs/scaling.md).

// selection is what the spec selects, as a discovery's input; groups says the discovery also
// captures consumer-group offsets this time.
func (b *backup) selection(now time.Time) (in DiscoverInput, groups bool) {
	var include, disabled []string
	for _, s := range b.in.Spec.Streams {
		if s.Enabled {
			include = append(include, s.Topic)
		} else {
			disabled = append(disabled, s.Topic)
		}
	}
	// Group offsets ride along with a discovery once GroupsInterval has passed since the last
	// capture, so spec.consumerGroups.interval thins them out.
	groups = b.in.Spec.CaptureGroups && (b.state.LastGroups.IsZero() || now.Sub(b.state.LastGroups) >= b.in.Spec.GroupsInterval)
	return DiscoverInput{Connection: b.in.Connection, Include: include, Exclude: b.in.Spec.Exclude, Disabled: disabled,
		CaptureConfigs: b.in.Spec.CaptureTopicConfigs, CaptureGroups: groups, Groups: b.in.Spec.Groups}, groups
}

// discoverShards refreshes the shards when the discovery interval has passed, when forced, and
// at the start of a scheduled run (which records its high watermarks in the catalog).
func (b *backup) discoverShards(ctx workflow.Context, force bool, run *archive.Run) error {
	now := workflow.Now(ctx)
	if run == nil && !force && !b.lastDiscovery.IsZero() && now.Sub(b.lastDiscovery) < b.in.Spec.DiscoveryInterval {
		return nil
	}
	sel, groups := b.selection(now)
	var res DiscoverShardsResult
	in := DiscoverShardsInput{DiscoverInput: sel, Time: now, StartFromLatest: b.in.Spec.StartFromLatest, Run: run}
	if err := workflow.ExecuteActivity(b.activityCtx(ctx, 10*time.Minute), ActivityDiscoverShards, in).Get(ctx, &res); err != nil {
		return err
	}
	b.shards, b.lastDiscovery = res.Shards, now
	if groups {
		b.state.LastGroups = now
	}
	if run != nil {
		run.UptoKey = res.UptoKey // later commits of the run must keep naming it
	}
	return nil
}

// captureShards runs one CaptureShard per shard (in a scheduled run, per shard that has not
// reached the run's end), in parallel, and returns their results, including those of captures
// a signal cancelled.
func (b *backup) captureShards(ctx workflow.Context, runFor time.Duration, run *archive.Run) ([]CaptureShardResult, error) {
	cctx, cancel := workflow.WithCancel(ctx)
	defer cancel()
	stopped := false // set when a signal cancels the captures on purpose
	actx := b.activityCtx(cctx, runFor+5*time.Minute)
	total := 0
	for _, sh := range b.shards {
		total += sh.Len()
	}
	// The spec's rate limit is for the whole backup: each partition gets its share.
	share := b.in.Spec.RateLimit.Share(total)
	var results []CaptureShardResult
	var firstErr error
	alone := workflow.GetVersion(ctx, versionShardFailsAlone, workflow.DefaultVersion, 1) == 1
	var passing error // the first failure that may pass of a shard that failed alone
	left := 0
	sel := workflow.NewSelector(ctx)
	for i, sh := range b.shards {
		if run != nil && b.shardDone[i] {
			continue
		}
		in := CaptureShardInput{Connection: b.in.Connection, Shard: sh, Compression: b.in.Spec.Compression,
			MaxSegmentBytes: b.in.Spec.MaxSegmentBytes, MaxSegmentInterval: b.in.Spec.MaxSegmentInterval, MaxRunTime: runFor, RateLimit: share}
		if run != nil {
			in.Run = run.ID
		}
		opts := workflow.GetActivityOptions(actx)
		opts.Summary = fmt.Sprintf("capture shard %d of %d: %s", i+1, len(b.shards), sh.Describe())
		f := workflow.ExecuteActivity(workflow.WithActivityOptions(actx, opts), ActivityCaptureShard, in)
		left++
		sel.AddFuture(f, func(f workflow.Future) {
			left--
			var res CaptureShardResult
			err := f.Get(ctx, &res)
			var canceled *temporal.CanceledError
			switch {
			case err == nil:
				results = append(results, res)
				if run != nil && res.Done {
					b.shardDone[i] = true
					b.unfinished--
				}
			case errors.As(err, &canceled) && stopped:
				// Cancelled on purpose: commit what it stored; without details the next cycle
				// captures from the last committed offsets again.
				if canceled.HasDetails() && canceled.Details(&res) == nil {
					results = append(results, res)
				}
			case firstErr == nil:
				if _, permanent := workflows.Permanent(err); alone && !permanent {
					if passing == nil {
						passing = err
					}
					b.retrying(workflows.RootMessage(err)) // shown at once; the others run on
					return
				}
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
	b.passing = ""
	if firstErr == nil && passing != nil {
		if len(results) == 0 {
			firstErr = passing // nothing went on (an outage): report it and wait, as before
		} else {
			b.passing = workflows.RootMessage(passing) // the caller shows it once it has committed
		}
	}
	if firstErr != nil {
		// Commit what did get written before reporting the failure.
		if err := b.commitSharded(ctx, results, nil); err != nil {
			return nil, err
		}
		return nil, firstErr
	}
	return results, nil
}

// commitSharded merges what the shards stored into the catalog (with no results: only the
// run, or nothing, which creates a new backup's manifest) and takes the status figures from it.
func (b *backup) commitSharded(ctx workflow.Context, results []CaptureShardResult, run *archive.Run) error {
	in := CommitInput{Connection: b.in.Connection, Time: workflow.Now(ctx), Run: run, Sharded: true}
	for _, r := range results {
		if r.Staged != "" {
			in.Staged = append(in.Staged, r.Staged)
		}
	}
	var res CommitResult
	if err := workflow.ExecuteActivity(b.activityCtx(ctx, 10*time.Minute), ActivityCommit, in).Get(ctx, &res); err != nil {
		return err
	}
	if err := b.foldIfDue(ctx, res.FoldDue); err != nil {
		return err
	}
	if len(in.Staged) > 0 {
		b.status.Partitions, b.status.PartitionCount, b.status.Lag = res.Partitions, res.PartitionCount, res.Lag
	}
	b.addWarnings(res.Warnings)
	if len(res.DeletedTopics) > 0 {
		// Their shards would find them gone every cycle until the next discovery: discover now.
		// (No version: histories from before carry no deleted topics, so they replay alike.)
		b.lastDiscovery = time.Time{}
	}
	b.committed(ctx, res.Generation)
	return truncatedError(res.Truncated)
}

// truncatedError stops the backup once what a truncated partition's capture read is committed
// (nil when no capture found a truncated log). Going on from the backup's next offset would
// leave out, without a word, the records the source writes under offsets the backup already
// holds others under; so a person decides. (No version: histories from before carry no
// truncations, so they replay alike.)
func truncatedError(found []string) error {
	if len(found) == 0 {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(strings.Join(found, "; ")+
		": the records the source writes there next would take offsets the backup holds other records under; what the backup holds stays. "+
		"Exclude the topic (spec.excludeTopics) to back up the others, and back it up into a new backup", ErrLogTruncated, nil)
}

// scheduledSharded captures every shard up to the high watermarks the run's discovery recorded.
func (b *backup) scheduledSharded(ctx workflow.Context, run *archive.Run) error {
	b.unfinished = 1 // until the discovery says how many shards there are
	if err := b.discoverShards(ctx, true, run); err != nil {
		return err
	}
	b.shardDone, b.unfinished = make([]bool, len(b.shards)), len(b.shards)
	runFor := max(b.in.Spec.MaxSegmentInterval, 10*time.Second)
	for b.unfinished > 0 {
		results, err := b.captureShards(ctx, runFor, run)
		if err != nil {
			return err
		}
		for _, r := range results {
			run.Records += r.Records
			run.Bytes += r.Bytes
		}
		if err := b.commitSharded(ctx, results, run); err != nil {
			return err
		}
		b.showPassing()
		if b.state.PausedBySignal {
			return nil
		}
		b.sig.Drain(ctx)
	}
	return nil
}
