package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"gocloud.dev/gcerrors"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/kafkabackup"
)

// ErrWorkerStopping is the (retried) error of a shard handed back by a worker shutting down.
const ErrWorkerStopping = "WorkerStopping"

// stagedVersion is the version of the staged-capture objects; only commits of the same
// backup read them, within one cycle.
const stagedVersion = 1

// DiscoverShards lists the selected topics like Discover, records in the catalog what a
// sharded backup needs there (new partitions with the offset they start from, topic metadata,
// a consumer-group snapshot, a scheduled run with its high watermarks) and splits the
// selection into shards. The workflow then carries shards and totals, never a list per
// partition: the catalog is where each partition's offset lives.
func (a *Activities) DiscoverShards(ctx context.Context, in kafkabackup.DiscoverShardsInput) (kafkabackup.DiscoverShardsResult, error) {
	defer beat.Start(ctx, nil)() // thousands of partitions take a while to list
	found, err := a.Discover(ctx, in.DiscoverInput)
	if err != nil {
		return kafkabackup.DiscoverShardsResult{}, err
	}
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return kafkabackup.DiscoverShardsResult{}, err
	}
	defer store.Close()
	cat, err := openCatalog(ctx, store)
	if err != nil {
		return kafkabackup.DiscoverShardsResult{}, err
	}
	root := cat.Root()
	if root == nil {
		root = &archive.Manifest{} // a new backup: the commit below creates its manifest
	}
	res := kafkabackup.DiscoverShardsResult{Shards: kafkabackup.SplitShards(found.Topics), Groups: in.CaptureGroups, Generation: root.Generation}
	for _, t := range found.Topics {
		res.Partitions += len(t.Partitions)
	}
	if err := storeShards(ctx, store, &res); err != nil {
		return kafkabackup.DiscoverShardsResult{}, err
	}
	var run *archive.Run
	if in.Run != nil {
		r := *in.Run
		r.Upto = map[string]int64{}
		for _, t := range found.Topics {
			for _, p := range t.Partitions {
				r.Upto[tpKey(t.Name, p.Partition)] = p.HighWatermark
			}
		}
		run = &r
	}
	if run == nil && !in.CaptureGroups && !needsRegistering(root, found.Topics) {
		return res, nil // nothing new: no commit, so an idle backup's catalog does not grow
	}
	m, err := cat.Commit(ctx, in.Backup, in.Time, func(m *archive.Manifest) error {
		index := manifestTopics(m, topicNames(found.Topics))
		for _, info := range found.Topics {
			t := &m.Topics[index[info.Name]]
			t.Partitions = max(t.Partitions, int32(len(info.Partitions)))
			if t.TopicID == "" {
				// The id the backup began with (or, for a backup from before ids were recorded,
				// the one it has now): never replaced, so CaptureShard can tell a topic created
				// again under its name.
				t.TopicID = info.ID
			}
			if info.Configs != nil {
				t.Configs = info.Configs
			}
			known := len(t.Data) // sorted by manifestTopics
			for _, p := range info.Partitions {
				if _, ok := slices.BinarySearchFunc(t.Data[:known], archive.Partition{Partition: p.Partition}, byPartition); ok {
					continue // continues from its checkpoint
				}
				// A new partition starts where the spec says, recorded now so a retried or
				// moved capture starts from the same offset.
				from := p.LogStart
				if in.StartFromLatest {
					from = p.HighWatermark
				}
				t.Data = append(t.Data, archive.Partition{Partition: p.Partition, StartOffset: from, NextOffset: from})
			}
			slices.SortFunc(t.Data, byPartition)
		}
		if run != nil {
			if i := slices.IndexFunc(m.Runs, func(r archive.Run) bool { return r.ID == run.ID }); i >= 0 {
				m.Runs[i] = *run
			} else {
				m.Runs = append(m.Runs, *run)
			}
		}
		if in.CaptureGroups {
			mergeGroups(m, &archive.GroupOffsetsSnapshot{Time: in.Time, Groups: found.Groups})
		}
		m.Generation++
		m.CommittedAt = in.Time
		return nil
	})
	if err != nil {
		return kafkabackup.DiscoverShardsResult{}, classify(err)
	}
	res.Generation = m.Generation
	if run != nil {
		if i := slices.IndexFunc(m.Runs, func(r archive.Run) bool { return r.ID == run.ID }); i >= 0 {
			res.UptoKey = m.Runs[i].UptoKey
		}
	}
	return res, nil
}

// needsRegistering reports whether the discovered topics add partitions or metadata the
// catalog's root does not hold yet.
func needsRegistering(root *archive.Manifest, topics []kafkabackup.TopicInfo) bool {
	index := topicIndex(root.Topics) // not a scan a topic: thousands of them
	for _, info := range topics {
		i, ok := index[info.Name]
		if !ok {
			return true
		}
		t := root.Topics[i]
		if t.Partitions < int32(len(info.Partitions)) || (info.Configs != nil && !maps.Equal(t.Configs, info.Configs)) || (t.TopicID == "" && info.ID != "") {
			return true
		}
		for _, p := range info.Partitions {
			if !slices.ContainsFunc(t.Data, func(d archive.Partition) bool { return d.Partition == p.Partition }) {
				return true
			}
		}
	}
	return false
}

// CaptureShard captures every partition of a shard through one client and one consumer: each
// partition runs the same capture as Capture (its own segments, rolled and uploaded as they
// fill), but fetches for all of them share the client's connections, and the progress of all
// of them is one stored object instead of a heartbeat per partition.
//
// The object (StagedCaptures, under a key fixed by the activity's id) is rewritten at most once
// a second while segments are uploaded, and once more at the end; a retried attempt reads it and
// resumes each partition whose recorded start is still the catalog's next offset. The result
// names the object; the commit merges it. Segments uploaded after the last write of the object
// are orphans that the retry writes again, as with Capture.
func (a *Activities) CaptureShard(ctx context.Context, in kafkabackup.CaptureShardInput) (kafkabackup.CaptureShardResult, error) {
	invalid := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kafkabackup.ErrInvalidSpec, nil)
	}
	var kspec arkivev1.KafkaClusterSpec
	if err := json.Unmarshal(in.Kafka, &kspec); err != nil {
		return kafkabackup.CaptureShardResult{}, invalid("kafka cluster spec: %v", err)
	}
	comp, err := segmentSettings(in.Compression, in.MaxSegmentBytes, in.MaxSegmentInterval)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, err
	}
	release, err := a.capturePartitions(ctx, in.Shard.Len(), in.MaxRunTime)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, err
	}
	defer release()
	sr := a.Secrets(in.Namespace)
	store, err := backupstore.Open(ctx, in.Storage, in.Backup, blobstore.Kafka, sr, true)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, err
	}
	defer store.Close()
	if in.Shard.Ref != nil { // a backup of thousands of topics: its shard list is stored
		if in.Shard, err = storedShard(ctx, store, *in.Shard.Ref); err != nil {
			return kafkabackup.CaptureShardResult{}, err
		}
	}
	store.CleanSpool(time.Hour + 2*in.MaxSegmentInterval)
	info := activity.GetInfo(ctx)
	key := store.Layout.Staged(info.WorkflowExecution.ID + "/" + info.WorkflowExecution.RunID + "/" + info.ActivityID)
	attempt, scheduled := info.Attempt, info.ScheduledTime
	if a.attempt != nil {
		attempt, scheduled = a.attempt()
	}
	var catchUp time.Duration
	if attempt > 1 {
		// A retry (its worker died or stopped) ends when the first attempt would have, so the
		// cycle's commit is not held up by a whole further run; but not before it has read what
		// its partitions held when it started (catchUp), or the records the dead attempt had
		// read and not uploaded would wait for the next cycle too.
		catchUp = in.MaxRunTime
		in.MaxRunTime = max(time.Second, min(in.MaxRunTime, time.Until(scheduled.Add(in.MaxRunTime))))
	}

	cat, err := openCatalog(ctx, store)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, err
	}
	var upto map[string]int64
	if in.Run != "" {
		if upto, err = cat.RunUpto(ctx, in.Run); err != nil {
			return kafkabackup.CaptureShardResult{}, classify(err)
		}
	}
	prev, err := readStaged(ctx, store.Store, key)
	if errors.Is(err, errUnreadableStaged) {
		prev, err = nil, nil // lost progress only: capture those offsets again
	}
	if err != nil {
		return kafkabackup.CaptureShardResult{}, err
	}

	cfg, err := Config(ctx, kspec, sr)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, invalid("%v", err)
	}
	cfg.Consumer.IsolationLevel = sarama.ReadCommitted // as Capture: no aborted or control records
	cfg.Consumer.Return.Errors = true
	setCaptureFetch(cfg, in.Shard.Len(), int(a.capturing.Load()))
	blockSize := 0
	if in.Shard.Len() > manyPartitions {
		blockSize = manyPartitionsBlock
	}
	client, err := sarama.NewClient(kspec.BootstrapServers, cfg)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, classify(fmt.Errorf("connect to %v: %w", kspec.BootstrapServers, err))
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, classify(err)
	}
	defer consumer.Close()
	names := make([]string, len(in.Shard.Topics))
	for i, t := range in.Shard.Topics {
		names[i] = t.Topic
	}
	traits, errs, err := describeTopics(client, names, []string{"message.timestamp.type", "cleanup.policy"})
	if err != nil {
		return kafkabackup.CaptureShardResult{}, classify(fmt.Errorf("describe topics: %w", err))
	}
	ids, err := topicIDs(client, names)
	if err != nil {
		return kafkabackup.CaptureShardResult{}, classify(err)
	}

	// Two requests per broker for every partition's bounds, not two per partition: a
	// shard's thousands of requests cost the broker more than its fetches did.
	bounds := shardBounds(client, in.Shard)
	epochs := &epochClient{cfg: cfg, brokers: kspec.BootstrapServers}
	defer epochs.close()
	s := &shardCapture{store: store.Store, key: key, stop: make(chan struct{}), epochs: epochs}
	root := cat.Root()
	if root == nil {
		root = &archive.Manifest{}
	}
	var checks []epochCheck
	for _, st := range in.Shard.Topics {
		deleted := false
		if err := errs[st.Topic]; err != nil {
			if deleted = topicDeleted(client, st.Topic, err); !deleted {
				return kafkabackup.CaptureShardResult{}, classify(fmt.Errorf("describe topic %s: %w", st.Topic, err))
			}
		}
		ts, compacts := traitsOf(traits[st.Topic])
		var t archive.Topic
		if i := slices.IndexFunc(root.Topics, func(t archive.Topic) bool { return t.Name == st.Topic }); i >= 0 {
			t = root.Topics[i]
		}
		if id := ids[st.Topic]; id != "" && t.TopicID != "" && id != t.TopicID { // a deleted topic has no id
			// Its offsets start again from 0: reading on from the catalog's next offset would
			// put the new topic's records after the old one's as if they were one log, and
			// never back up its first ones. A person decides (docs/temporal.md).
			return kafkabackup.CaptureShardResult{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf(
				"topic %s was deleted and created again since it was backed up (topic id %s, the backup's %s): its new records would mix with the old ones under the same offsets; "+
					"exclude the topic (spec.excludeTopics) to back up the others, or back it up into a new backup", st.Topic, id, t.TopicID), kafkabackup.ErrTopicRecreated, nil)
		}
		for _, p := range st.Partitions {
			if _, err := store.Layout.PartitionPrefix(st.Topic, p); err != nil {
				return kafkabackup.CaptureShardResult{}, invalid("%v", err)
			}
			i := slices.IndexFunc(t.Data, func(d archive.Partition) bool { return d.Partition == p })
			if i < 0 {
				return kafkabackup.CaptureShardResult{}, temporal.NewNonRetryableApplicationError(
					fmt.Sprintf("%s/%d is in a shard but not in the catalog", st.Topic, p), kafkabackup.ErrInconsistentCommit, nil)
			}
			from := t.Data[i].NextOffset
			until := int64(-1)
			if upto != nil {
				var ok bool
				if until, ok = upto[tpKey(st.Topic, p)]; !ok {
					until = from // not selected when the run started: nothing to capture
				}
			}
			pin := kafkabackup.CaptureInput{Namespace: in.Namespace, Backup: in.Backup, Topic: st.Topic, Partition: p, From: from, Until: until,
				Compression: in.Compression, MaxSegmentBytes: in.MaxSegmentBytes, MaxSegmentInterval: in.MaxSegmentInterval, MaxRunTime: in.MaxRunTime,
				RateLimit: in.RateLimit}
			c := &capture{in: pin, comp: comp, store: store.Store, key: store.Key, layout: store.Layout, spoolDir: a.SpoolDir,
				client: client, consumer: consumer, shared: true, stop: s.stop, blockSize: blockSize, tsType: ts, compacts: compacts, throttle: newThrottle(in.RateLimit, in.MaxSegmentBytes),
				catchUp: catchUp, deleted: deleted}
			if b, ok := bounds[tpKey(st.Topic, p)]; ok {
				c.known = &b
			}
			c.durable = kafkabackup.CaptureProgress{Start: from, Next: from}
			staged := kafkabackup.CaptureResult{Topic: st.Topic, Partition: p}
			if e := t.Data[i].LeaderEpoch; e != nil && from > 0 && !deleted {
				checks = append(checks, epochCheck{capture: c, topic: st.Topic, partition: p, epoch: *e, next: from})
			}
			if pr, ok := prev[tpKey(st.Topic, p)]; ok && pr.Start == from && pr.Next >= from {
				c.durable = pr.CaptureProgress // a retry: keep what the last attempt uploaded
				staged.Records, staged.Bytes = pr.Records, pr.Bytes
			}
			c.pos = c.durable.Next
			staged.CaptureProgress = cloneProgress(c.durable)
			idx := len(s.results)
			c.heartbeat = func(_ context.Context, p kafkabackup.CaptureProgress) { s.progress(idx, p) }
			c.stored = func(records, bytes int64) { s.count(idx, records, bytes) }
			s.captures = append(s.captures, c)
			s.results = append(s.results, staged)
		}
	}
	markDiverged(ctx, epochs, checks)
	if in.Shard.Len() <= manyPartitions {
		sizeChannelBuffer(ctx, client, s.captures)
	}
	return s.run(ctx)
}

// shardBounds asks each leader for the log start offsets and the high watermarks of the
// shard's partitions it leads, in one request each. A partition missing from the answer (an
// error, a leader that moved) is left out: the caller asks for it alone (a capture, Discover).
func shardBounds(client sarama.Client, shard kafkabackup.Shard) map[string][2]int64 {
	type tp struct {
		topic     string
		partition int32
	}
	byLeader := map[*sarama.Broker][]tp{}
	for _, t := range shard.Topics {
		for _, p := range t.Partitions {
			if b, err := client.Leader(t.Topic, p); err == nil {
				byLeader[b] = append(byLeader[b], tp{t.Topic, p})
			}
		}
	}
	out := map[string][2]int64{}
	for broker, tps := range byLeader {
		var answers [2]*sarama.OffsetResponse
		for i, ts := range []int64{sarama.OffsetOldest, sarama.OffsetNewest} {
			req := sarama.NewOffsetRequest(client.Config().Version)
			for _, x := range tps {
				req.AddBlock(x.topic, x.partition, ts, 1)
			}
			answers[i], _ = broker.GetAvailableOffsets(req)
		}
		if answers[0] == nil || answers[1] == nil {
			continue
		}
		for _, x := range tps {
			topic, p := x.topic, x.partition
			oldest, newest := answers[0].GetBlock(topic, p), answers[1].GetBlock(topic, p)
			if oldest == nil || newest == nil || oldest.Err != sarama.ErrNoError || newest.Err != sarama.ErrNoError ||
				len(oldest.Offsets) != 1 || len(newest.Offsets) != 1 {
				continue
			}
			out[tpKey(topic, p)] = [2]int64{oldest.Offsets[0], newest.Offsets[0]}
		}
	}
	return out
}

// errWorkerStopping hands a shard back: retried at once rather than after the policy's
// backoff, since nothing is wrong and the shard only needs another worker.
func errWorkerStopping() error {
	return temporal.NewApplicationErrorWithOptions("the worker is shutting down; another worker resumes this shard from its stored progress",
		ErrWorkerStopping, temporal.ApplicationErrorOptions{NextRetryDelay: 100 * time.Millisecond})
}

// workerStopping is the worker's stop channel; outside a worker (a direct call) nil, which
// never fires.
func workerStopping(ctx context.Context) <-chan struct{} {
	if !activity.IsActivity(ctx) {
		return nil
	}
	return activity.GetWorkerStopChannel(ctx)
}

// traitsOf reads a topic's timestamp type and whether it compacts (see topicTraits).
func traitsOf(entries []*sarama.ConfigEntry) (archive.TimestampType, bool) {
	ts, compacts := archive.CreateTime, false
	for _, e := range entries {
		switch {
		case e.Name == "message.timestamp.type" && e.Value == "LogAppendTime":
			ts = archive.LogAppendTime
		case e.Name == "cleanup.policy":
			compacts = slices.Contains(strings.Split(e.Value, ","), "compact")
		}
	}
	return ts, compacts
}

func tpKey(topic string, partition int32) string { return fmt.Sprintf("%s/%d", topic, partition) }

func cloneProgress(p kafkabackup.CaptureProgress) kafkabackup.CaptureProgress {
	p.Segments, p.Gaps = slices.Clone(p.Segments), slices.Clone(p.Gaps)
	return p
}

// readStaged reads what an earlier attempt of the same activity stored (nothing: empty).
func readStaged(ctx context.Context, store *blobstore.Store, key string) (map[string]kafkabackup.CaptureResult, error) {
	captures, found, err := loadStaged(ctx, store, key)
	if err != nil || !found {
		return nil, err
	}
	out := map[string]kafkabackup.CaptureResult{}
	for _, c := range captures {
		out[tpKey(c.Topic, c.Partition)] = c
	}
	return out, nil
}

// loadStaged reads a staged object: found is false when there is none; a stored object that
// does not decode is errUnreadableStaged.
func loadStaged(ctx context.Context, store *blobstore.Store, key string) (captures []kafkabackup.CaptureResult, found bool, err error) {
	data, err := store.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, classify(fmt.Errorf("read %s: %w", key, err))
	}
	var st kafkabackup.StagedCaptures
	if err := json.Unmarshal(data, &st); err != nil || st.Version != stagedVersion {
		return nil, true, fmt.Errorf("%w %s (version %d, %v)", errUnreadableStaged, key, st.Version, err)
	}
	return st.Captures, true, nil
}

var errUnreadableStaged = errors.New("unreadable staged capture")

// shardCapture runs a shard's partition captures and keeps their progress stored.
type shardCapture struct {
	store    *blobstore.Store
	key      string
	captures []*capture

	stop    chan struct{} // closed when the worker is shutting down
	stopped bool
	// epochs reads the leader epochs of finished captures' results (readEpochs).
	epochs *epochClient

	mu      sync.Mutex
	results []kafkabackup.CaptureResult // durable progress per capture, then final results
	dirty   bool
}

func (s *shardCapture) progress(i int, p kafkabackup.CaptureProgress) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(p.Segments) != len(s.results[i].Segments) || p.Next != s.results[i].Next || len(p.Gaps) != len(s.results[i].Gaps) {
		s.results[i].CaptureProgress = cloneProgress(p)
		s.dirty = true
	}
}

// count adds a stored segment's records and bytes (key, value and headers, as runs report
// them) to a partition's staged result.
func (s *shardCapture) count(i int, records, bytes int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.results[i].Records += records
	s.results[i].Bytes += bytes
}

func (s *shardCapture) run(ctx context.Context) (kafkabackup.CaptureShardResult, error) {
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(s.captures))
	var wg sync.WaitGroup
	for i, c := range s.captures {
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer c.close()
			res, err := c.run(cctx)
			var canceled *temporal.CanceledError
			if err != nil && !errors.As(err, &canceled) {
				errs[i] = err
				cancel() // one partition failing fails the shard; the retry resumes all of them
				return
			}
			if err == nil {
				s.mu.Lock()
				r := &s.results[i]
				r.CaptureProgress, r.HighWatermark, r.Done, r.Deleted = cloneProgress(res.CaptureProgress), res.HighWatermark, res.Done, res.Deleted
				r.Truncated, r.LogEnd = res.Truncated, res.LogEnd
				s.dirty = true
				s.mu.Unlock()
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	stopping := workerStopping(ctx)
	for waiting := true; waiting; {
		select {
		case <-done:
			waiting = false
		case <-stopping:
			// The worker is shutting down (SIGTERM): each capture uploads its open segment and
			// stops, the progress is stored below and the shard handed back with a retryable
			// error, so another worker resumes it at once from there, without reading again
			// what this one read (which can take longer than the cycle has left).
			stopping = nil
			s.stopped = true
			close(s.stop)
		case <-tick.C:
			// Liveness for the heartbeat timeout; progress is in the staged object.
			activity.RecordHeartbeat(ctx)
			if err := s.save(ctx, false); err != nil {
				cancel()
				<-done
				return kafkabackup.CaptureShardResult{}, err
			}
		}
	}
	if s.epochs != nil && ctx.Err() == nil && !s.stopped {
		activity.RecordHeartbeat(ctx)
		readEpochs(ctx, s.epochs, s.results) // for the next capture's check (markDiverged)
	}
	// Even a failed or cancelled shard stores what it uploaded, for the retry or the commit.
	// The activity's context may be cancelled already, so the last write gets its own.
	sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer scancel()
	saveErr := s.save(sctx, true)
	if err := errors.Join(errs...); err != nil {
		return kafkabackup.CaptureShardResult{}, err
	}
	if saveErr != nil {
		return kafkabackup.CaptureShardResult{}, saveErr
	}
	if s.stopped {
		// Retried at once rather than after the policy's backoff: nothing is wrong, the shard
		// only needs another worker.
		return kafkabackup.CaptureShardResult{}, errWorkerStopping()
	}
	res := s.result()
	if ctx.Err() != nil {
		// Cancelled (the backup was paused or updated): the workflow commits what is stored.
		return res, temporal.NewCanceledError(res)
	}
	return res, nil
}

// save writes the staged object when something changed since the last write (always with
// force).
func (s *shardCapture) save(ctx context.Context, force bool) error {
	s.mu.Lock()
	if !s.dirty && !force {
		s.mu.Unlock()
		return nil
	}
	data, err := json.Marshal(kafkabackup.StagedCaptures{Version: stagedVersion, Captures: s.results})
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return err
	}
	if err := s.store.Put(ctx, s.key, data); err != nil {
		s.mu.Lock()
		s.dirty = true
		s.mu.Unlock()
		return classify(fmt.Errorf("store capture progress %s: %w", s.key, err))
	}
	return nil
}

func (s *shardCapture) result() kafkabackup.CaptureShardResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	res := kafkabackup.CaptureShardResult{Staged: s.key, Done: true}
	for _, r := range s.results {
		res.Records += r.Records
		res.Bytes += r.Bytes
		res.Done = res.Done && r.Done
	}
	return res
}
