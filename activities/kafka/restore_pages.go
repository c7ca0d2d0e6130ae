package kafka

import (
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/kafkarestore"
)

// A restore of thousands of partitions keeps its plan (and, between runs, its progress) in
// pages in the backup's storage, under the restore's own prefix, so that no workflow payload
// grows with the partitions: Temporal warns at 256 KB and fails at 2 MB.

// pagePlan moves the streams and group offsets of a plan of more than per streams into pages
// of per streams, in stream order; per 0 (a workflow from before pages) keeps every plan
// inline. Storage the restore may only read keeps the plan inline too: it restores the same,
// up to the size Temporal accepts.
func pagePlan(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], restore string, per int, plan *kafkarestore.Plan) error {
	if per <= 0 || len(plan.Streams) <= per || restore == "" {
		return nil
	}
	groups := kafkarestore.IndexGroups(plan.Groups)
	var keys []string
	for first := 0; first < len(plan.Streams); first += per {
		page := kafkarestore.Page{First: first, Streams: plan.Streams[first:min(first+per, len(plan.Streams))]}
		for _, s := range page.Streams {
			page.Groups = append(page.Groups, groups.Of(s)...)
		}
		key, err := putPage(ctx, store, restore, fmt.Sprintf("plan-%04d", len(keys)), &page)
		if blobstore.IsAccessDenied(err) && len(keys) == 0 {
			plan.Warnings = append(plan.Warnings, fmt.Sprintf(
				"the storage cannot hold this restore's plan (%v): it travels with the workflow, whose payloads grow with its %d streams", err, len(plan.Streams)))
			return nil
		}
		if err != nil {
			return err
		}
		keys = append(keys, key)
	}
	plan.GroupNames = groupNames(plan.Groups)
	plan.Pages, plan.StreamCount, plan.PageSize, plan.Streams, plan.Groups = keys, len(plan.Streams), per, nil, nil
	return nil
}

// pageTopics moves a paged plan's topics into a page when, encoded, they pass limit bytes
// (thousands of topics; 0: kafkarestore.InlineTopicBytes). A plan whose streams are inline
// keeps its topics inline too: its storage could not hold a page, or it has few streams, so
// few topics.
func pageTopics(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], restore string, limit int, plan *kafkarestore.Plan) error {
	if len(plan.Pages) == 0 {
		return nil
	}
	data, err := json.Marshal(plan.Topics)
	if err != nil || len(data) <= cmp.Or(limit, kafkarestore.InlineTopicBytes) {
		return err
	}
	key, err := putHashedPage(ctx, store, restore, "topics", &kafkarestore.Page{Topics: plan.Topics})
	if err != nil {
		return err
	}
	plan.TopicsPage, plan.TopicCount, plan.Topics = key, len(plan.Topics), nil
	return nil
}

// putHashedPage stores a page under prefix and a hash of its content: a worker may keep what
// it read of it by key (a restore created again under the same name writes other content under
// another key).
func putHashedPage(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], restore, prefix string, page *kafkarestore.Page) (string, error) {
	data, err := json.Marshal(page)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(data)
	return putPageData(ctx, store, restore, prefix+"-"+hex.EncodeToString(sum[:8]), data)
}

// targetPages keeps the target pages this worker read (their names hold a hash of their
// content), so the streams of a restore of thousands of topics read the page once per worker.
var targetPages = keptByKey[[]kafkarestore.TargetTopic]{max: 8}

// pagedTarget is the target of in's stream, from the preflight's page of targets, as the
// workflow makes it from inline targets (kafkarestore.StreamTarget).
func (a *Activities) pagedTarget(ctx context.Context, in kafkarestore.RestoreInput) (kafkarestore.TargetTopic, error) {
	targets, err := targetPages.get(ctx, in.TargetsPage, func() ([]kafkarestore.TargetTopic, error) {
		store, err := a.openBackup(ctx, in.Connection, false)
		if err != nil {
			return nil, err
		}
		defer store.Close()
		page, err := readPage(ctx, store, in.TargetsPage)
		return page.Targets, err
	})
	if err != nil {
		return kafkarestore.TargetTopic{}, err
	}
	i := slices.IndexFunc(targets, func(t kafkarestore.TargetTopic) bool { return t.Name == in.Stream.Target })
	if i < 0 {
		return kafkarestore.TargetTopic{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("target topic %s is not in the preflight's page %s", in.Stream.Target, in.TargetsPage), kafkarestore.ErrInvalidSpec, nil)
	}
	return kafkarestore.StreamTarget(targets[i], in.Stream, in.Mapping), nil
}

func putPage(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], restore, name string, page *kafkarestore.Page) (string, error) {
	data, err := json.Marshal(page)
	if err != nil {
		return "", err
	}
	return putPageData(ctx, store, restore, name, data)
}

// putPageData stores an encoded page under its name and returns its key.
func putPageData(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], restore, name string, data []byte) (string, error) {
	key, err := store.Layout.RestorePage(restore, name)
	if err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), kafkarestore.ErrInvalidSpec, nil)
	}
	if err := store.Put(ctx, key, data); err != nil {
		if blobstore.IsAccessDenied(err) {
			return "", err
		}
		return "", classify(fmt.Errorf("store the restore's page %s: %w", key, err))
	}
	return key, nil
}

// SaveRestorePage writes a page of the restore's progress under its name and returns its key.
func (a *Activities) SaveRestorePage(ctx context.Context, in kafkarestore.PageInput) (string, error) {
	if in.Page == nil {
		return "", temporal.NewNonRetryableApplicationError("no page to save", kafkarestore.ErrInvalidSpec, nil)
	}
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return "", err
	}
	defer store.Close()
	key, err := putPage(ctx, store, restoreID(ctx), in.Name, in.Page)
	return key, classify(err)
}

// ReadRestorePage reads a page of the restore's plan or progress.
func (a *Activities) ReadRestorePage(ctx context.Context, in kafkarestore.PageInput) (kafkarestore.Page, error) {
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return kafkarestore.Page{}, err
	}
	defer store.Close()
	return readPage(ctx, store, in.Key)
}

// RestoreGroupOffsetsFromPages commits the translated group offsets in pages of the restore's
// progress, as RestoreGroupOffsets commits those it is given.
func (a *Activities) RestoreGroupOffsetsFromPages(ctx context.Context, in kafkarestore.GroupPagesInput) error {
	store, err := a.openBackup(ctx, in.Connection, false)
	if err != nil {
		return err
	}
	defer store.Close()
	var groups []kafkarestore.TranslatedGroup
	for _, key := range in.Pages {
		page, err := readPage(ctx, store, key)
		if err != nil {
			return err
		}
		for _, p := range page.Progress {
			if p != nil {
				groups = append(groups, p.Groups...)
			}
		}
	}
	return a.RestoreGroupOffsets(ctx, kafkarestore.GroupsInput{Connection: in.Connection, Groups: groups})
}

// readPage reads one of the restore's own pages: the key comes from its history.
func readPage(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], key string) (kafkarestore.Page, error) {
	if !strings.HasPrefix(key, store.Layout.RestorePrefix(restoreID(ctx))) {
		return kafkarestore.Page{}, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s is not a page of this restore", key), kafkarestore.ErrInvalidSpec, nil)
	}
	data, err := store.ReadAll(ctx, key)
	if err != nil {
		if blobstore.IsNotFound(err) {
			return kafkarestore.Page{}, temporal.NewNonRetryableApplicationError(
				fmt.Sprintf("the restore's page %s is missing from the storage", key), kafkarestore.ErrBackupNotFound, nil)
		}
		return kafkarestore.Page{}, classify(fmt.Errorf("read the restore's page %s: %w", key, err))
	}
	var page kafkarestore.Page
	if err := json.Unmarshal(data, &page); err != nil {
		return kafkarestore.Page{}, temporal.NewNonRetryableApplicationError(
			fmt.Sprintf("the restore's page %s cannot be read: %v", key, err), kafkarestore.ErrCorruptManifest, nil)
	}
	return page, nil
}

// restoreID is the workflow id of the restore an activity works for ("" outside one).
func restoreID(ctx context.Context) string {
	if !activity.IsActivity(ctx) {
		return ""
	}
	return activity.GetInfo(ctx).WorkflowExecution.ID
}
