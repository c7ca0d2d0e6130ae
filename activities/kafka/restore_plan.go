package kafka

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
)

func invalidRestore(format string, args ...any) error {
	return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kafkarestore.ErrInvalidSpec, nil)
}

// catalogUse says how a restore activity reads the backup's catalog.
type catalogUse int

const (
	// readCurrent reads the current generation (the plan, which then pins it).
	readCurrent catalogUse = iota
	// readPinned reads the generation the restore pinned, or the current one when the pin is
	// gone (a stream).
	readPinned
)

// restoreHolder names what pins a restore's catalog generation: its workflow ("" outside one).
func restoreHolder(ctx context.Context) string {
	if id := restoreID(ctx); id != "" {
		return "restore/" + id
	}
	return ""
}

// openRestore opens a restore's storage and reads the part of the backup's catalog the filter
// selects, returning the catalog it read too. The plan pins the generation it read, and the
// streams read that generation, so neither compaction nor retention deletes what the plan
// selected while the restore runs.
func (a *Activities) openRestore(ctx context.Context, conn kafkarestore.Connection, f catalog.Filter, use catalogUse) (*backupstore.Backup[blobstore.KafkaLayout], *archive.Manifest, *catalog.Catalog, error) {
	store, err := a.openBackup(ctx, conn, true)
	if err != nil {
		return nil, nil, nil, err
	}
	var m *archive.Manifest
	var cat *catalog.Catalog
	holder, found := restoreHolder(ctx), false
	if use == readPinned && holder != "" {
		// Every stream of a restore opens the same pin: they decode it once.
		cat, found, err = a.viewCache().OpenPinned(ctx, store.Store, store.Layout, holder, time.Now())
		err = classify(err)
	}
	if err == nil && !found {
		cat, err = openCatalog(ctx, store)
	}
	if err == nil {
		// Every stream of a restore views the same root: they decode its deltas once.
		cat.ShareDeltas(a.viewCache())
		m, err = cat.View(ctx, f)
		err = classify(err)
	}
	if err == nil && m == nil {
		err = temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("spec.source.backup: backup %q not found (no %s in the storage)", conn.Backup, store.Layout.Manifest()),
			kafkarestore.ErrBackupNotFound, nil)
	}
	if err != nil {
		_ = store.Close()
		return nil, nil, nil, err
	}
	return store, m, cat, nil
}

// A stream restores its partitions one after another, each into the target partition of its
// number (Same mapping). Consecutive partitions of a topic whose planned bytes together stay
// within packBytes, up to kafkarestore.PackPartitions of them, share a stream: a restore of
// thousands of small partitions ran an activity for each, and the Temporal server's work per
// activity bound it (docs/scaling.md). A stream of 16 MiB takes a worker a fraction of a
// second; partitions of 16 MiB and more keep a stream each and restore side by side.
const packBytes = 16 << 20

// packStreams joins a topic's streams of one partition each, in order: each joins the stream
// before it while that holds fewer than most partitions and both stay within packBytes
// together.
func packStreams(own []kafkarestore.Stream, most int) []kafkarestore.Stream {
	var out []kafkarestore.Stream
	for _, s := range own {
		if n := len(out) - 1; n >= 0 && len(out[n].Partitions) < most && out[n].Bytes+s.Bytes <= packBytes {
			out[n].Partitions = append(out[n].Partitions, s.Partitions...)
			out[n].Records += s.Records
			out[n].Bytes += s.Bytes
			continue
		}
		out = append(out, s)
	}
	return out
}

// PlanRestore decides which topics, partitions and offsets a restore writes, from the manifest.
func (a *Activities) PlanRestore(ctx context.Context, in kafkarestore.PlanInput) (kafkarestore.Plan, error) {
	defer beat.Start(ctx, nil)() // reading a long manifest reports nothing
	spec := in.Spec
	switch spec.PartitionMapping {
	case kafkarestore.MappingSame, kafkarestore.MappingKeyHash, kafkarestore.MappingRoundRobin:
	default:
		return kafkarestore.Plan{}, invalidRestore("spec.partitionMapping: %q is not Same, KeyHash or RoundRobin", spec.PartitionMapping)
	}
	if len(spec.ConsumerGroups) > 0 && spec.PartitionMapping != kafkarestore.MappingSame {
		// A group's position on one source partition has no single place in a target partition
		// that mixes records of several source partitions.
		return kafkarestore.Plan{}, invalidRestore("spec.consumerGroups: offsets can only be translated with partitionMapping Same, not %s", spec.PartitionMapping)
	}
	// Only the selected topics, and within them only the index nodes the window overlaps.
	names := map[string]bool{}
	var patterns []string
	for _, tm := range spec.Topics {
		if tm.IsPattern() {
			patterns = append(patterns, tm.Source)
		} else {
			names[tm.Source] = true
		}
	}
	backup, m, cat, err := a.openRestore(ctx, in.Connection, catalog.Filter{
		Partition: func(topic string, _ int32) bool {
			return len(spec.Topics) == 0 || names[topic] || matchAny(patterns, topic)
		},
		Overlaps:     spec.Window.Overlaps,
		NoGroups:     len(spec.ConsumerGroups) == 0,
		LatestGroups: true, // the newest snapshot at or before the restore's point in time
		GroupsAt:     spec.Window.ToTime,
		Runs:         func(id string) bool { return id == spec.RunID },
	}, readCurrent)
	if err != nil {
		return kafkarestore.Plan{}, err
	}
	defer backup.Close()
	store, key := backup.Store, backup.Key

	var run *archive.Run
	if spec.RunID != "" {
		i := slices.IndexFunc(m.Runs, func(r archive.Run) bool { return r.ID == spec.RunID })
		if i < 0 {
			return kafkarestore.Plan{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("spec.source.runID: backup %q has no run %q", in.Backup, spec.RunID), kafkarestore.ErrBackupNotFound, nil)
		}
		run = &m.Runs[i]
	}

	mappings, err := restoredTopics(m.Topics, spec.Topics, in.Backup)
	if err != nil {
		return kafkarestore.Plan{}, err
	}
	plan := kafkarestore.Plan{Generation: m.Generation}
	for _, tm := range mappings {
		t, target := m.Topics[tm.topic], tm.target
		pt := kafkarestore.PlannedTopic{Source: t.Name, Target: target, Partitions: t.Partitions, Configs: t.Configs}
		var merged *kafkarestore.Stream
		var own []kafkarestore.Stream // with Same mapping, a stream per partition until packed
		for _, p := range t.Data {
			upto := p.NextOffset
			if run != nil {
				if u, ok := run.Upto[fmt.Sprintf("%s/%d", t.Name, p.Partition)]; ok {
					upto = min(upto, u)
				} else {
					upto = p.StartOffset // the run did not cover this partition
				}
			}
			if spec.Window.ToOffset != nil {
				upto = min(upto, *spec.Window.ToOffset+1)
			}
			pt.Partitions = max(pt.Partitions, p.Partition+1)
			first := upto
			s := kafkarestore.Stream{Source: t.Name, Target: target, Partitions: []kafkarestore.StreamPartition{{Partition: p.Partition, Upto: upto, First: &first}}}
			for _, seg := range p.Segments {
				if seg.FirstOffset >= upto || !spec.Window.Overlaps(seg) {
					continue
				}
				first = min(first, seg.FirstOffset)
				s.Records += seg.Count
				s.Bytes += seg.PayloadBytes
				size := seg.MaxRecordBytes
				if size == 0 {
					// Written before segments recorded it: read the segment to find out.
					if size, err = largestRecord(ctx, store, seg, key); err != nil {
						return plan, err
					}
				}
				pt.MaxRecordBytes = max(pt.MaxRecordBytes, size)
			}
			plan.Records += s.Records
			plan.Bytes += s.Bytes
			if spec.PartitionMapping == kafkarestore.MappingSame {
				own = append(own, s)
				continue
			}
			if merged == nil {
				plan.Streams = append(plan.Streams, kafkarestore.Stream{Source: t.Name, Target: target})
				merged = &plan.Streams[len(plan.Streams)-1]
			}
			merged.Partitions = append(merged.Partitions, s.Partitions...)
			merged.Records += s.Records
			merged.Bytes += s.Bytes
		}
		plan.Streams = append(plan.Streams, packStreams(own, cmp.Or(in.PackPartitions, kafkarestore.PackPartitions))...)
		plan.Topics = append(plan.Topics, pt)
	}
	plan.Groups, plan.Warnings = selectGroups(m, spec, plan.Topics)
	if err := clearRestore(ctx, backup, restoreID(ctx)); err != nil {
		return plan, err
	}
	if err := pagePlan(ctx, backup, restoreID(ctx), in.PageStreams, &plan); err != nil {
		return plan, err
	}
	if err := pageTopics(ctx, backup, restoreID(ctx), in.TopicBytes, &plan); err != nil {
		return plan, err
	}
	// Pin the generation planned from. Storage a restore may only read (credentials without
	// write access) cannot hold a pin: the restore still runs, unprotected, and says so.
	if holder := restoreHolder(ctx); holder != "" {
		if err := cat.Pin(ctx, holder, time.Now()); err != nil {
			if ctx.Err() != nil {
				return plan, ctx.Err()
			}
			plan.Warnings = append(plan.Warnings, fmt.Sprintf(
				"could not pin catalog generation %d (%v): retention or compaction of backup %s while this restore runs may remove what it planned (it then fails with RemovedByRetention)",
				m.Generation, err, in.Backup))
		}
	}
	return plan, nil
}

// selectGroups picks the selected groups' offsets on the planned topics from the newest
// snapshot at or before the window's end (the groups as they were at that point in time). An
// entry of spec.consumerGroups is a group's name or, when no group of the snapshot has that
// name and it holds '*', '?' or '[', a pattern (path.Match, as a backup's groups) selecting
// every group it matches; each group is taken once, in the order of the entries and then of
// the snapshot. One pass over the snapshot: it holds a group's offset on every partition,
// and matching each entry against all of it took 19 s for 50 groups on 20,000 partitions.
func selectGroups(m *archive.Manifest, spec kafkarestore.Spec, topics []kafkarestore.PlannedTopic) ([]archive.GroupOffset, []string) {
	if len(spec.ConsumerGroups) == 0 {
		return nil, nil
	}
	var snap *archive.GroupOffsetsSnapshot
	for i := range m.GroupOffsets {
		if spec.Window.ToTime.IsZero() || !m.GroupOffsets[i].Time.After(spec.Window.ToTime) {
			snap = &m.GroupOffsets[i]
		}
	}
	if snap == nil {
		return nil, []string{"the backup holds no consumer-group offsets from before the restore's point in time"}
	}
	restored := make(map[string]bool, len(topics))
	for _, t := range topics {
		restored[t.Source] = true
	}
	byGroup := map[string][]archive.GroupOffset{} // on the restored topics
	var names []string                            // of byGroup, in the snapshot's order
	for _, o := range snap.Groups {
		if !restored[o.Topic] {
			continue
		}
		if _, ok := byGroup[o.Group]; !ok {
			names = append(names, o.Group)
		}
		byGroup[o.Group] = append(byGroup[o.Group], o)
	}
	var out []archive.GroupOffset
	var warnings []string
	taken := map[string]bool{}
	for _, g := range spec.ConsumerGroups {
		var selected []string // groups with offsets here
		if _, ok := byGroup[g]; ok {
			selected = []string{g}
		} else if kafkarestore.IsPattern(g) {
			selected = slices.DeleteFunc(slices.Clone(names), func(name string) bool { ok, _ := path.Match(g, name); return !ok })
		}
		for _, name := range selected {
			if !taken[name] {
				out = append(out, byGroup[name]...)
				taken[name] = true
			}
		}
		if len(selected) == 0 {
			warnings = append(warnings, fmt.Sprintf("consumer group %s has no offsets on the restored topics in the backup (snapshot of %s)", g, snap.Time.Format("2006-01-02T15:04:05Z07:00")))
		}
	}
	return out, warnings
}

// largestRecord reads one segment and returns its largest record's key, value and header bytes.
func largestRecord(ctx context.Context, store *blobstore.Store, seg archive.SegmentRef, key []byte) (int64, error) {
	var largest int64
	err := backups.Segment(ctx, store, seg, key, func(r *archive.Record) error {
		largest = max(largest, recordBytes(r))
		return nil
	})
	return largest, classify(err)
}

func recordBytes(r *archive.Record) int64 {
	n := int64(len(r.Key) + len(r.Value))
	for _, h := range r.Headers {
		n += int64(len(h.Key) + len(h.Value))
	}
	return n
}

// restoreBatchBytes caps the restore producer's batches where every planned record is at most
// half of it: Kafka's default max.message.bytes. Batching up to a larger limit (the test
// broker allows 16 MiB) made each stream's requests large and rare, and franz-go grows a
// request's buffer afresh once the collector has emptied its pool: at 16 MiB the worker
// allocated three times the restored bytes doing so, at 1 MiB under one (docs/benchmarks.md,
// #20). Larger records keep batches up to max.message.bytes, as before.
const restoreBatchBytes = 1 << 20

// batchBytes is the producer's batch limit for a target allowing maxMessageBytes, where the
// largest planned record needs need bytes: restoreBatchBytes when that leaves room to spare (a
// record's encoding can exceed need by its headers' lengths), else maxMessageBytes.
func batchBytes(maxMessageBytes, need int64) int64 {
	if need <= restoreBatchBytes/2 {
		return min(maxMessageBytes, restoreBatchBytes)
	}
	return maxMessageBytes
}

// recordOverhead bounds what a one-record batch adds to a record's bytes (batch header,
// record framing, and the origin headers when asked for).
func recordOverhead(originHeaders bool) int64 {
	if originHeaders {
		return 61 + 64 + 160
	}
	return 61 + 64
}

// PreflightRestore checks the target before anything is written: reachable, topics exist or
// may be created, partition counts fit the mapping, the largest record fits, partitions are
// empty (unless allowed), selected groups are not active. Only when every check passes does
// it create the missing topics; it returns each target partition's end offset.
func (a *Activities) PreflightRestore(ctx context.Context, in kafkarestore.PreflightInput) (kafkarestore.PreflightResult, error) {
	defer beat.Start(ctx, nil)()
	cfg, kspec, err := a.targetConfig(ctx, in.Connection)
	if err != nil {
		return kafkarestore.PreflightResult{}, err
	}
	client, err := sarama.NewClient(kspec.BootstrapServers, cfg)
	if err != nil {
		return kafkarestore.PreflightResult{}, classify(fmt.Errorf("connect to %v: %w", kspec.BootstrapServers, err))
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return kafkarestore.PreflightResult{}, classify(fmt.Errorf("target cluster: %w", err))
	}
	existing, err := client.Topics()
	if err != nil {
		return kafkarestore.PreflightResult{}, classify(err)
	}
	brokerMax, err := brokerMaxMessageBytes(client)
	if err != nil {
		return kafkarestore.PreflightResult{}, classify(err)
	}
	var problems []string
	var res kafkarestore.PreflightResult
	var create []kafkarestore.PlannedTopic
	topics := in.Plan.Topics
	var store *backupstore.Backup[blobstore.KafkaLayout] // with a paged plan's topics
	if in.Plan.TopicsPage != "" {
		if store, err = a.openBackup(ctx, in.Connection, false); err != nil {
			return res, err
		}
		defer store.Close()
		page, err := readPage(ctx, store, in.Plan.TopicsPage)
		if err != nil {
			return res, err
		}
		topics = page.Topics
	}
	// The existing targets' configs in one request and their partitions' bounds in two per
	// leader, for all of them at once: a restore of thousands of topics would otherwise take
	// three round trips a topic, one after another.
	exists := map[string]bool{}
	for _, t := range existing {
		exists[t] = true
	}
	var present []string
	var shard kafkabackup.Shard
	partitions := map[string]int32{} // of the existing targets
	for _, pt := range topics {
		if exists[pt.Target] {
			parts, err := client.Partitions(pt.Target)
			if err != nil {
				return res, classify(fmt.Errorf("partitions of %s: %w", pt.Target, err))
			}
			present = append(present, pt.Target)
			shard.Topics = append(shard.Topics, kafkabackup.ShardTopic{Topic: pt.Target, Partitions: parts})
			partitions[pt.Target] = int32(len(parts))
		}
	}
	var configs map[string][]*sarama.ConfigEntry
	var bounds map[string][2]int64
	if len(present) > 0 {
		var errs map[string]error
		if configs, errs, err = describeTopics(client, present, []string{"max.message.bytes"}); err != nil {
			return res, classify(fmt.Errorf("describe the target topics: %w", err))
		}
		for _, t := range present {
			if err := errs[t]; err != nil {
				return res, classify(fmt.Errorf("describe target topic %s: %w", t, err))
			}
		}
		bounds = shardBounds(client, shard)
	}
	for _, pt := range topics {
		tt := kafkarestore.TargetTopic{Name: pt.Target}
		if n, ok := partitions[pt.Target]; ok {
			tt.Partitions = n
			tt.MaxMessageBytes = brokerMax
			for _, e := range configs[pt.Target] {
				if v, err := strconv.ParseInt(e.Value, 10, 64); e.Name == "max.message.bytes" && err == nil {
					tt.MaxMessageBytes = v
				}
			}
			for p := range tt.Partitions {
				b, ok := bounds[tpKey(pt.Target, p)]
				if !ok { // asked alone, waiting for a leader that is moving, and says what is wrong
					if b[0], b[1], err = partitionBounds(ctx, client, pt.Target, p); err != nil {
						return res, classify(err)
					}
				}
				start, end := b[0], b[1]
				if end > start && !in.Spec.AllowNonEmpty {
					problems = append(problems, fmt.Sprintf("target topic %s partition %d already holds %d records (set spec.allowNonEmpty to write anyway)", pt.Target, p, end-start))
				}
				tt.Baseline = append(tt.Baseline, end)
			}
		} else {
			if !in.Spec.CreateTopics {
				problems = append(problems, fmt.Sprintf("target topic %s does not exist and spec.createTopics is false", pt.Target))
				continue
			}
			tt.Partitions = max(pt.Partitions, 1)
			tt.MaxMessageBytes = brokerMax
			if v, err := strconv.ParseInt(pt.Configs["max.message.bytes"], 10, 64); err == nil {
				tt.MaxMessageBytes = v
			}
			tt.Baseline = make([]int64, tt.Partitions)
			create = append(create, pt)
		}
		if in.Spec.PartitionMapping == kafkarestore.MappingSame && tt.Partitions < pt.Partitions {
			problems = append(problems, fmt.Sprintf("target topic %s has %d partitions; partitionMapping Same needs %d (source topic %s); use KeyHash or RoundRobin, or add partitions",
				pt.Target, tt.Partitions, pt.Partitions, pt.Source))
		}
		need := pt.MaxRecordBytes + recordOverhead(in.Spec.OriginHeaders)
		if pt.MaxRecordBytes > 0 && need > tt.MaxMessageBytes {
			problems = append(problems, fmt.Sprintf("topic %s: the largest record to restore needs %d bytes, over the target %s's max.message.bytes of %d",
				pt.Source, need, pt.Target, tt.MaxMessageBytes))
		}
		tt.BatchBytes = batchBytes(tt.MaxMessageBytes, need)
		res.Targets = append(res.Targets, tt)
	}
	if groups := append(groupNames(in.Plan.Groups), in.Plan.GroupNames...); len(groups) > 0 {
		// One request per coordinator (sarama looked each group's coordinator up in turn).
		cl, err := groupClient(cfg, kspec.BootstrapServers)
		if err != nil {
			return res, classify(err)
		}
		active, err := activeGroups(ctx, cl, groups)
		cl.Close()
		if err != nil {
			return res, err
		}
		for _, d := range active {
			problems = append(problems, fmt.Sprintf("consumer group %s is %s on the target with %d member(s); stop its consumers first", d.Group, d.State, len(d.Members)))
		}
	}
	if len(problems) > 0 {
		return res, temporal.NewNonRetryableApplicationError(preflightProblems(problems), kafkarestore.ErrPreflight, nil)
	}
	if len(create) > 0 {
		// Every creation is validated before the first is made: a config the target refuses
		// must not leave it with half of the restore's topics.
		refused, err := createTopics(ctx, client, create, true)
		if err != nil {
			return res, classify(err)
		}
		if len(refused) > 0 {
			return res, temporal.NewNonRetryableApplicationError(preflightProblems(refused), kafkarestore.ErrPreflight, nil)
		}
		if refused, err = createTopics(ctx, client, create, false); err != nil {
			return res, classify(err)
		}
		if len(refused) > 0 { // a validated creation refused: the cluster changed in between
			return res, classify(errors.New(preflightProblems(refused)))
		}
		for _, pt := range create {
			res.Created = append(res.Created, pt.Target)
		}
		created := map[string]int32{}
		for _, pt := range create {
			created[pt.Target] = max(pt.Partitions, 1)
		}
		if err := waitUntilServed(ctx, client, created); err != nil {
			return res, classify(err)
		}
	}
	if store != nil {
		// The plan's topics are in a page: so are their targets, which would be as large.
		key, err := putHashedPage(ctx, store, restoreID(ctx), "targets", &kafkarestore.Page{Targets: res.Targets})
		if err != nil {
			return res, err
		}
		res.TargetsPage, res.Targets, res.CreatedCount = key, nil, len(res.Created)
		res.Created = res.Created[:min(len(res.Created), kafkarestore.MaxListedCreated)]
	}
	return res, nil
}

// restoredTopic is one source topic a restore selects: its index in the manifest's topics
// and its target's name.
type restoredTopic struct {
	topic  int
	target string
}

// restoredTopics expands spec.topics into the backup's topics it selects: every topic when it
// is empty; else the names it lists, under their targets, in its order, and then the topics
// its patterns match that no name took, under their own names, in the backup's order. Each
// target takes one source topic.
func restoredTopics(topics []archive.Topic, spec []kafkarestore.TopicMapping, backup string) ([]restoredTopic, error) {
	index := topicIndex(topics)
	var out []restoredTopic
	if len(spec) == 0 {
		for i := range topics {
			out = append(out, restoredTopic{topic: i, target: topics[i].Name})
		}
		return out, nil
	}
	taken := map[int]bool{}        // source topics selected
	targets := map[string]string{} // target → source
	for i, tm := range spec {
		if tm.IsPattern() {
			continue
		}
		ti, ok := index[tm.Source]
		if !ok {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("spec.topics[%d].source: topic %q is not in backup %q", i, tm.Source, backup), kafkarestore.ErrBackupNotFound, nil)
		}
		target := orDefault(tm.Target, tm.Source)
		if prev, ok := targets[target]; ok {
			return nil, invalidRestore("spec.topics[%d].target: %s is also the target of %s; each target topic takes one source topic", i, target, prev)
		}
		targets[target], taken[ti] = tm.Source, true
		out = append(out, restoredTopic{topic: ti, target: target})
	}
	for i, tm := range spec {
		if !tm.IsPattern() {
			continue
		}
		matched := false
		for ti, t := range topics {
			if ok, _ := path.Match(tm.Source, t.Name); !ok {
				continue
			}
			matched = true
			if taken[ti] {
				continue // named, or matched by an earlier pattern
			}
			if prev, ok := targets[t.Name]; ok {
				return nil, invalidRestore("spec.topics[%d].source: pattern %q restores %s under its own name, which is also the target of %s; each target topic takes one source topic", i, tm.Source, t.Name, prev)
			}
			targets[t.Name], taken[ti] = t.Name, true
			out = append(out, restoredTopic{topic: ti, target: t.Name})
		}
		if !matched {
			return nil, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("spec.topics[%d].source: pattern %q matches no topic in backup %q", i, tm.Source, backup), kafkarestore.ErrBackupNotFound, nil)
		}
	}
	return out, nil
}

// maxPreflightProblems is the most problems a failed preflight names.
const maxPreflightProblems = 20

// preflightProblems is a failed preflight's message: with thousands of topics, the resource's
// status and the workflow's history name the first problems and count the rest.
func preflightProblems(problems []string) string {
	return strings.Join(nameFirst(problems, "and %d more problems"), "; ")
}

// nameFirst keeps the first maxPreflightProblems items and says, in more's words, how many it
// left out.
func nameFirst(items []string, more string) []string {
	if len(items) <= maxPreflightProblems {
		return items
	}
	return append(items[:maxPreflightProblems:maxPreflightProblems], fmt.Sprintf(more, len(items)-maxPreflightProblems))
}

// maxCreateRecords bounds the metadata records (a topic, its partitions and its configs) one
// CreateTopics request asks for: a KRaft controller refuses a whole request of more than
// 10,000 ("Excessively large number of partitions per request"). A topic larger than the
// bound goes in a request of its own.
var maxCreateRecords = 5000

// createTopics creates the topics (or, with validateOnly, asks the controller whether it
// would), many to a request: one request a topic took 35 ms each here, minutes for a restore
// of thousands. It returns the topics the cluster refuses for good, each with its reason; a
// topic that exists already counts as created. A controller that moved, a timeout or a
// throttle is retried for the topics it concerned; any other failure is returned.
func createTopics(ctx context.Context, client sarama.Client, topics []kafkarestore.PlannedTopic, validateOnly bool) (refused []string, err error) {
	var batches [][]kafkarestore.PlannedTopic
	records := 0
	for _, pt := range topics {
		n := 1 + int(max(pt.Partitions, 1)) + len(pt.Configs)
		if len(batches) == 0 || records+n > maxCreateRecords {
			batches, records = append(batches, nil), 0
		}
		batches[len(batches)-1] = append(batches[len(batches)-1], pt)
		records += n
	}
	for _, batch := range batches {
		details := map[string]*sarama.TopicDetail{}
		for _, pt := range batch {
			details[pt.Target] = targetTopicDetail(pt)
		}
		wait := 100 * time.Millisecond
		for attempt := 1; len(details) > 0; attempt++ {
			controller, err := client.Controller()
			if err != nil {
				return nil, fmt.Errorf("create target topics: %w", err)
			}
			resp, err := controller.CreateTopics(sarama.NewCreateTopicsRequest(client.Config().Version, details, 30*time.Second, validateOnly))
			if err != nil {
				return nil, fmt.Errorf("create target topics: %w", err)
			}
			var retry error
			for _, pt := range batch {
				if _, ok := details[pt.Target]; !ok {
					continue
				}
				te, ok := resp.TopicErrors[pt.Target]
				switch {
				case !ok:
					retry = fmt.Errorf("create target topic %s: %w", pt.Target, sarama.ErrIncompleteResponse)
					continue
				case te.Err == sarama.ErrNoError || te.Err == sarama.ErrTopicAlreadyExists:
				case te.Err == sarama.ErrNotController || te.Err == sarama.ErrRequestTimedOut || te.Err == sarama.ErrThrottlingQuotaExceeded:
					retry = fmt.Errorf("create target topic %s: %w", pt.Target, te)
					continue
				case refusedCreation(te.Err):
					refused = append(refused, fmt.Sprintf("target topic %s cannot be created: %v", pt.Target, te))
				default:
					return nil, fmt.Errorf("create target topic %s: %w", pt.Target, te)
				}
				delete(details, pt.Target)
			}
			if retry == nil {
				break
			}
			if attempt == 5 {
				return nil, retry
			}
			if errors.Is(retry, sarama.ErrNotController) {
				_, _ = client.RefreshController()
			}
			select {
			case <-ctx.Done():
				return nil, ctx.Err()
			case <-time.After(max(wait, resp.ThrottleTime)):
			}
			wait *= 2
		}
	}
	return refused, nil
}

// refusedCreation reports a creation the cluster refuses whatever the retries: the restore's
// spec or the captured topic must change.
func refusedCreation(err sarama.KError) bool {
	switch err {
	case sarama.ErrInvalidConfig, sarama.ErrInvalidPartitions, sarama.ErrInvalidReplicationFactor,
		sarama.ErrInvalidReplicaAssignment, sarama.ErrPolicyViolation, sarama.ErrInvalidTopic, sarama.ErrInvalidRequest:
		return true
	}
	return false
}

// waitUntilServed returns once every partition of the topics answers an offset request from
// its leader. A broker names a new partition's leader in its metadata before that leader has
// set the partition up, and answers NotLeaderForPartition or UnknownTopicOrPartition until it
// has: in the 2,000-partition scale test a fifth of the restore's streams lost two of their
// three attempts to it, seconds after the topics' leaders were known.
func waitUntilServed(ctx context.Context, client sarama.Client, topics map[string]int32) error {
	deadline := time.Now().Add(2 * time.Minute)
	pending := map[string][]int32{}
	for t, n := range topics {
		for p := range n {
			pending[t] = append(pending[t], p)
		}
	}
	wait := 20 * time.Millisecond
	for {
		names := slices.Sorted(maps.Keys(pending))
		_ = client.RefreshMetadata(names...) // a failure leaves the partitions pending
		var shard kafkabackup.Shard
		for _, t := range names {
			shard.Topics = append(shard.Topics, kafkabackup.ShardTopic{Topic: t, Partitions: pending[t]})
		}
		served := shardBounds(client, shard)
		for _, t := range names {
			pending[t] = slices.DeleteFunc(pending[t], func(p int32) bool { _, ok := served[tpKey(t, p)]; return ok })
			if len(pending[t]) == 0 {
				delete(pending, t)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			late := nameFirst(slices.Sorted(maps.Keys(pending)), "%d more") // of thousands, the first
			return fmt.Errorf("created %d topics: partitions of %s do not answer from their leader after 2 minutes", len(topics), strings.Join(late, ", "))
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(2*wait, 500*time.Millisecond) // polls, fewer as a large creation goes on
	}
}

// targetTopicDetail is a created topic: the captured partition count and configs, but with
// CreateTime timestamps, so the restored records keep their original timestamps (a
// LogAppendTime topic would stamp them with the time of the restore).
func targetTopicDetail(pt kafkarestore.PlannedTopic) *sarama.TopicDetail {
	d := &sarama.TopicDetail{NumPartitions: max(pt.Partitions, 1), ReplicationFactor: -1, ConfigEntries: map[string]*string{}}
	for k, v := range pt.Configs {
		if k == "message.timestamp.type" {
			continue
		}
		d.ConfigEntries[k] = &v
	}
	return d
}

func groupNames(groups []archive.GroupOffset) []string {
	var names []string
	for _, g := range groups {
		if !slices.Contains(names, g.Group) {
			names = append(names, g.Group)
		}
	}
	return names
}

// brokerMaxMessageBytes is the broker's message.max.bytes: the limit of topics without their own.
func brokerMaxMessageBytes(client sarama.Client) (int64, error) {
	controller, err := client.Controller()
	if err != nil {
		return 0, err
	}
	resp, err := controller.DescribeConfigs(&sarama.DescribeConfigsRequest{Version: 1, Resources: []*sarama.ConfigResource{{
		Type: sarama.BrokerResource, Name: strconv.Itoa(int(controller.ID())), ConfigNames: []string{"message.max.bytes"}}}})
	if err != nil {
		return 0, fmt.Errorf("describe broker config: %w", err)
	}
	for _, r := range resp.Resources {
		for _, e := range r.Configs {
			if v, err := strconv.ParseInt(e.Value, 10, 64); e.Name == "message.max.bytes" && err == nil {
				return v, nil
			}
		}
	}
	return 1048588, nil // Kafka's default
}

func (a *Activities) targetConfig(ctx context.Context, conn kafkarestore.Connection) (*sarama.Config, arkivev1.KafkaClusterSpec, error) {
	var kspec arkivev1.KafkaClusterSpec
	if err := json.Unmarshal(conn.Kafka, &kspec); err != nil {
		return nil, kspec, invalidRestore("kafka cluster spec: %v", err)
	}
	cfg, err := Config(ctx, kspec, a.Secrets(conn.Namespace))
	if err != nil {
		return nil, kspec, invalidRestore("%v", err)
	}
	return cfg, kspec, nil
}

// clearRestore deletes what an earlier restore under the same workflow id (the same resource)
// kept in the storage and could not delete because it was terminated by hand: its pages and
// schema id map would otherwise stay forever. Only the plan's first run calls it, before it
// writes anything of its own there. Storage the restore may only read holds nothing of it.
func clearRestore(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], restore string) error {
	if restore == "" {
		return nil
	}
	err := backupstore.DeletePrefix(ctx, store.Store, store.Layout.RestorePrefix(restore))
	if err != nil && !blobstore.IsAccessDenied(err) {
		return classify(fmt.Errorf("delete what an earlier run of this restore left: %w", err))
	}
	return nil
}

// UnpinCatalog releases the generation the restore's plan pinned, and deletes what the restore
// kept in the storage.
func (a *Activities) UnpinCatalog(ctx context.Context, in kafkarestore.UnpinInput) error {
	holder := restoreHolder(ctx)
	if holder == "" {
		return nil
	}
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return err
	}
	defer store.Close()
	// What the restore kept in the storage (a large schema id map, a large plan's pages) goes
	// with the pin.
	if err := backupstore.DeletePrefix(ctx, store.Store, store.Layout.RestorePrefix(restoreID(ctx))); err != nil {
		return classify(err)
	}
	return classify(catalog.Unpin(ctx, store.Store, store.Layout, holder))
}
