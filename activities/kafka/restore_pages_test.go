package kafka

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"testing"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"gocloud.dev/blob"

	"arkive.io/arkive/activities/backupstore"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkarestore"
)

// A plan of more streams than PageStreams goes to pages in the backup's storage, in stream
// order with each stream's group offsets beside it; the page activities read them back (and
// only the restore's own), write progress pages, and the restore's end deletes them all.
func TestRestorePagesRoundTripThroughTheStorage(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	storage, err := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}})
	require.NoError(t, err)
	conn := kafkarestore.Connection{Namespace: "default", Backup: "default/orders", Storage: storage}
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.ReadRestorePage, activity.RegisterOptions{Name: kafkarestore.ActivityReadPage})
	env.RegisterActivityWithOptions(a.SaveRestorePage, activity.RegisterOptions{Name: kafkarestore.ActivitySavePage})
	env.RegisterActivityWithOptions(func(ctx context.Context) (string, error) { return restoreID(ctx), nil }, activity.RegisterOptions{Name: "id"})
	v, err := env.ExecuteActivity("id")
	require.NoError(t, err)
	var restore string
	require.NoError(t, v.Get(&restore))
	require.NotEmpty(t, restore)

	store, err := a.openBackup(ctx, conn, false)
	require.NoError(t, err)
	defer store.Close()
	require.NoError(t, store.Put(ctx, store.Layout.Manifest(), []byte("{}"))) // not the restore's

	// Small plans stay inline, and so does every plan a workflow from before pages asks for.
	small := kafkarestore.Plan{Streams: make([]kafkarestore.Stream, kafkarestore.PageStreams)}
	require.NoError(t, pagePlan(ctx, store, restore, kafkarestore.PageStreams, &small))
	require.Len(t, small.Streams, kafkarestore.PageStreams)
	require.Empty(t, small.Pages)
	old := kafkarestore.Plan{Streams: make([]kafkarestore.Stream, 2000)}
	require.NoError(t, pagePlan(ctx, store, restore, 0, &old))
	require.Len(t, old.Streams, 2000)
	require.Empty(t, old.Pages)

	// 1,234 partitions, a group offset on every even one: three pages.
	const n = 1234
	var plan kafkarestore.Plan
	for p := range int32(n) {
		plan.Streams = append(plan.Streams, kafkarestore.Stream{Source: "orders", Target: "orders", Partitions: []kafkarestore.StreamPartition{{Partition: p, Upto: int64(p)}}, Records: int64(p)})
		if p%2 == 0 {
			plan.Groups = append(plan.Groups, archive.GroupOffset{Group: "billing", Topic: "orders", Partition: p, Offset: int64(p) / 2})
		}
	}
	want := plan
	require.NoError(t, pagePlan(ctx, store, restore, kafkarestore.PageStreams, &plan))
	require.Len(t, plan.Pages, 3)
	require.Empty(t, plan.Streams)
	require.Empty(t, plan.Groups)
	require.Equal(t, n, plan.StreamCount)
	require.Equal(t, kafkarestore.PageStreams, plan.PageSize, "every page but the last holds this many")
	require.Equal(t, n, plan.NumStreams())
	require.Equal(t, []string{"billing"}, plan.GroupNames)
	read := func(key string) (kafkarestore.Page, error) {
		v, err := env.ExecuteActivity(kafkarestore.ActivityReadPage, kafkarestore.PageInput{Connection: conn, Key: key})
		if err != nil {
			return kafkarestore.Page{}, err
		}
		var page kafkarestore.Page
		require.NoError(t, v.Get(&page))
		return page, nil
	}
	var streams []kafkarestore.Stream
	var groups []archive.GroupOffset
	for _, key := range plan.Pages {
		page, err := read(key)
		require.NoError(t, err)
		require.Equal(t, len(streams), page.First)
		require.LessOrEqual(t, len(page.Streams), kafkarestore.PageStreams)
		for _, g := range page.Groups {
			require.True(t, g.Partition >= int32(page.First) && g.Partition < int32(page.First+len(page.Streams)), "page %d holds the group offset of partition %d", page.First, g.Partition)
		}
		streams, groups = append(streams, page.Streams...), append(groups, page.Groups...)
	}
	require.Equal(t, want.Streams, streams)
	require.Equal(t, want.Groups, groups)

	// A progress page, written and read back.
	done := &kafkarestore.Progress{Next: 10, Target: kafkarestore.Offsets{0, 10}, Records: 10, Done: true}
	v, err = env.ExecuteActivity(kafkarestore.ActivitySavePage, kafkarestore.PageInput{Connection: conn, Name: "progress-0000",
		Page: &kafkarestore.Page{First: 7, Progress: []*kafkarestore.Progress{done, nil}}})
	require.NoError(t, err)
	var key string
	require.NoError(t, v.Get(&key))
	page, err := read(key)
	require.NoError(t, err)
	require.Equal(t, kafkarestore.Page{First: 7, Progress: []*kafkarestore.Progress{done, nil}}, page)

	// Bad names, other objects, missing and damaged pages: clear, permanent errors.
	_, err = env.ExecuteActivity(kafkarestore.ActivitySavePage, kafkarestore.PageInput{Connection: conn, Name: "../manifest", Page: &page})
	requirePermanent(t, err, kafkarestore.ErrInvalidSpec, "restore page name")
	_, err = read(store.Layout.Manifest())
	requirePermanent(t, err, kafkarestore.ErrInvalidSpec, "is not a page of this restore")
	missing, err := store.Layout.RestorePage(restore, "progress-0009")
	require.NoError(t, err)
	_, err = read(missing)
	requirePermanent(t, err, kafkarestore.ErrBackupNotFound, "is missing from the storage")
	require.NoError(t, store.Put(ctx, missing, []byte("{not json")))
	_, err = read(missing)
	requirePermanent(t, err, kafkarestore.ErrCorruptManifest, "cannot be read")

	// The end of the restore takes them all, and nothing else.
	require.NoError(t, backupstore.DeletePrefix(ctx, store.Store, store.Layout.RestorePrefix(restore)))
	it := store.List(&blob.ListOptions{})
	var left []string
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		require.NoError(t, err)
		left = append(left, obj.Key)
	}
	require.Equal(t, []string{store.Layout.Manifest()}, left)
}

func requirePermanent(t *testing.T, err error, kind, message string) {
	t.Helper()
	var appErr *temporal.ApplicationError
	require.ErrorAs(t, err, &appErr)
	require.Equal(t, kind, appErr.Type(), appErr.Error())
	require.True(t, appErr.NonRetryable(), appErr.Error())
	require.Contains(t, appErr.Error(), message)
}

// The translated group offsets of pages finished in an earlier run are committed from the
// pages themselves: every group's offset on every partition lands on the target broker, and a
// key that is not one of the restore's pages is refused before anything is committed.
func TestGroupOffsetsCommittedFromPages(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	topic := testenv.Topic(t, "pages-groups", 3, nil)
	storage, err := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}})
	require.NoError(t, err)
	cluster, err := json.Marshal(arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})
	require.NoError(t, err)
	conn := kafkarestore.Connection{Namespace: "default", Backup: "default/orders", Kafka: cluster, Storage: storage}
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	var s testsuite.WorkflowTestSuite
	env := s.NewTestActivityEnvironment()
	env.RegisterActivityWithOptions(a.SaveRestorePage, activity.RegisterOptions{Name: kafkarestore.ActivitySavePage})
	env.RegisterActivityWithOptions(a.RestoreGroupOffsetsFromPages, activity.RegisterOptions{Name: kafkarestore.ActivityGroupsFromPages})

	g1, g2 := topic+"-billing", topic+"-audit"
	offset := func(group string, p int32, o int64) kafkarestore.TranslatedGroup {
		return kafkarestore.TranslatedGroup{Group: group, SourcePartition: p, SourceOffset: o + 100, Topic: topic, Partition: p, Offset: o}
	}
	save := func(name string, page kafkarestore.Page) string {
		v, err := env.ExecuteActivity(kafkarestore.ActivitySavePage, kafkarestore.PageInput{Connection: conn, Name: name, Page: &page})
		require.NoError(t, err)
		var key string
		require.NoError(t, v.Get(&key))
		return key
	}
	first := save("progress-0000-0000", kafkarestore.Page{First: 0, Progress: []*kafkarestore.Progress{
		{Done: true, Groups: []kafkarestore.TranslatedGroup{offset(g1, 0, 5), offset(g2, 0, 3)}},
		{Done: true, Groups: []kafkarestore.TranslatedGroup{offset(g1, 1, 7)}},
	}})
	second := save("progress-0000-0001", kafkarestore.Page{First: 2, Progress: []*kafkarestore.Progress{
		{Done: true, Groups: []kafkarestore.TranslatedGroup{offset(g1, 2, 9)}}, nil,
	}})

	store, err := a.openBackup(context.Background(), conn, false)
	require.NoError(t, err)
	defer store.Close()
	_, err = env.ExecuteActivity(kafkarestore.ActivityGroupsFromPages, kafkarestore.GroupPagesInput{Connection: conn, Pages: []string{first, store.Layout.Manifest()}})
	requirePermanent(t, err, kafkarestore.ErrInvalidSpec, "is not a page of this restore")
	admin, err := sarama.NewClusterAdmin([]string{bootstrap}, testenv.ProducerConfig())
	require.NoError(t, err)
	defer admin.Close()
	committed := func(group string) map[int32]int64 {
		got, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {0, 1, 2}})
		require.NoError(t, err)
		out := map[int32]int64{}
		for p := range int32(3) {
			if b := got.GetBlock(topic, p); b != nil && b.Offset >= 0 {
				out[p] = b.Offset
			}
		}
		return out
	}
	require.Empty(t, committed(g1), "nothing committed when a key is refused")

	_, err = env.ExecuteActivity(kafkarestore.ActivityGroupsFromPages, kafkarestore.GroupPagesInput{Connection: conn, Pages: []string{first, second}})
	require.NoError(t, err)
	require.Equal(t, map[int32]int64{0: 5, 1: 7, 2: 9}, committed(g1))
	require.Equal(t, map[int32]int64{0: 3}, committed(g2))
}
