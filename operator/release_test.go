package operator_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
)

// A KafkaRestore terminated by hand in Temporal cannot release what it keeps in the backup's
// storage while it runs (its catalog pin, its pages). Deleting the resource then starts a run
// under the same workflow id that releases them, and the finalizer goes once it has; and a
// restore that runs again under that id first deletes what an earlier run left.
func TestDeletedTerminatedRestoreReleasesWhatItKept(t *testing.T) {
	t.Parallel() // a bed of its own, mostly waiting on Temporal: overlapped with the other waiting tests
	b := newBed(t)
	ctx := context.Background()
	bootstrap := testenv.Kafka(t)
	ns := b.namespace(t)
	dir := t.TempDir()
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaCluster{ObjectMeta: objMeta(ns, "kafka"), Spec: arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}}}))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.Storage{ObjectMeta: objMeta(ns, "files"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}}))
	topic := fmt.Sprintf("op-rel-%d", time.Now().UnixNano())
	produce(t, bootstrap, topic, 1, 200)
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "orders"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		Mode: arkivev1.ModeScheduled, Schedule: "@yearly", Streams: []arkivev1.BackupStream{{Topic: topic}}}}))
	backupID := workflows.WorkflowID("KafkaBackup", ns, "orders")
	eventually(t, time.Minute, "the backup's workflow runs", func() (bool, string) {
		return runningRuns(t, b.temporal, backupID) == 1, ""
	})
	require.NoError(t, b.temporal.SignalWorkflow(ctx, backupID, "", workflows.SignalTrigger, "release-test"))
	eventually(t, time.Minute, "the run is in the status", func() (bool, string) {
		kb := b.backup(t, ns, "orders")
		return len(kb.Status.Runs) == 1 && kb.Status.Runs[0].Outcome == "Succeeded", fmt.Sprintf("%+v", kb.Status.Runs)
	})

	// What an earlier, terminated restore of the same name left: a page of its plan.
	id := workflows.WorkflowID("KafkaRestore", ns, "slow")
	layout, err := blobstore.Kafka(ns + "/orders")
	require.NoError(t, err)
	page, err := layout.RestorePage(id, "plan-0000")
	require.NoError(t, err)
	leave := func() {
		require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, page)), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(dir, page), []byte(`{"first":0}`), 0o644))
	}
	leave()
	kept := func() []string { // the restore's pin and whatever is under its prefix
		var found []string
		for _, prefix := range []string{layout.CatalogPrefix() + "pins", layout.RestorePrefix(id)} {
			_ = filepath.WalkDir(filepath.Join(dir, prefix), func(path string, d os.DirEntry, err error) error {
				if err == nil && !d.IsDir() && !strings.HasSuffix(path, ".attrs") {
					found = append(found, strings.TrimPrefix(path, dir+"/"))
				}
				return nil
			})
		}
		return found
	}

	// One record a second: a restore is still writing when it is terminated or cancelled.
	slowRestore := func(name, target string) {
		require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaRestore{ObjectMeta: objMeta(ns, name), Spec: arkivev1.KafkaRestoreSpec{
			Source: arkivev1.BackupSource{Storage: "files", Backup: ns + "/orders"}, Target: "kafka",
			Topics:    []arkivev1.TopicMapping{{Source: topic, Target: target}},
			RateLimit: &arkivev1.RateLimit{RecordsPerSecond: ptr.To[int64](1)}}}))
	}
	slowRestore("slow", topic+"-restored")
	restore := func() *arkivev1.KafkaRestore {
		kr := &arkivev1.KafkaRestore{}
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "slow"}, kr))
		return kr
	}
	eventually(t, time.Minute, "the restore writes, pinned, and the earlier run's page is gone", func() (bool, string) {
		kr, left := restore(), kept()
		pinned := len(left) == 1 && strings.Contains(left[0], "/catalog/pins/")
		return kr.Status.Phase == arkivev1.RestoreRestoring && kr.Status.Progress != nil && kr.Status.Progress.Records > 0 && pinned,
			fmt.Sprintf("phase %s, kept %v", kr.Status.Phase, left)
	})

	require.NoError(t, b.temporal.TerminateWorkflow(ctx, id, "", "an operator's mistake"))
	eventually(t, time.Minute, "the restore is Failed, terminated", func() (bool, string) {
		kr := restore()
		return kr.Status.Phase == arkivev1.RestoreFailed && strings.Contains(kr.Status.LastError, "terminated"), fmt.Sprintf("%+v", kr.Status)
	})
	leave() // as a larger restore's pages would be
	require.Len(t, kept(), 2, "the terminated run released nothing")

	require.NoError(t, b.k8s.Delete(ctx, restore()))
	eventually(t, time.Minute, "the resource is gone", func() (bool, string) {
		err := b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "slow"}, &arkivev1.KafkaRestore{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	require.Empty(t, kept(), "the pin and the pages were released before the finalizer went")
	var events corev1.EventList
	require.NoError(t, b.k8s.List(ctx, &events, client.InNamespace(ns)))
	released := false
	for _, e := range events.Items {
		released = released || (e.Reason == "Releasing" && strings.Contains(e.Message, id))
	}
	require.True(t, released, "an event says a run releases what the terminated one kept")

	// Cancelled by hand instead: the run releases by itself, and the resource says it failed.
	slowRestore("slow", topic+"-again")
	eventually(t, time.Minute, "the second restore writes, pinned", func() (bool, string) {
		kr, left := restore(), kept()
		return kr.Status.Phase == arkivev1.RestoreRestoring && kr.Status.Progress != nil && kr.Status.Progress.Records > 0 && len(left) == 1,
			fmt.Sprintf("phase %s, kept %v", kr.Status.Phase, left)
	})
	require.NoError(t, b.temporal.CancelWorkflow(ctx, id, ""))
	eventually(t, time.Minute, "the cancelled restore is Failed and kept nothing", func() (bool, string) {
		kr, left := restore(), kept()
		return kr.Status.Phase == arkivev1.RestoreFailed && strings.Contains(kr.Status.LastError, "cancelled") && len(left) == 0,
			fmt.Sprintf("%+v, kept %v", kr.Status, left)
	})

	// Terminated, and deleted while its storage cannot be reached: the release fails, a Warning
	// event says what stays, and the resource still goes.
	broken := types.NamespacedName{Namespace: ns, Name: "broken"}
	slowRestore(broken.Name, topic+"-broken")
	kr := &arkivev1.KafkaRestore{}
	eventually(t, time.Minute, "the third restore writes", func() (bool, string) {
		require.NoError(t, b.k8s.Get(ctx, broken, kr))
		return kr.Status.Phase == arkivev1.RestoreRestoring && kr.Status.Progress != nil && kr.Status.Progress.Records > 0, fmt.Sprintf("%+v", kr.Status)
	})
	require.NoError(t, b.temporal.TerminateWorkflow(ctx, workflows.WorkflowID("KafkaRestore", ns, broken.Name), "", "an operator's mistake"))
	eventually(t, time.Minute, "the third restore is Failed", func() (bool, string) {
		require.NoError(t, b.k8s.Get(ctx, broken, kr))
		return kr.Status.Phase == arkivev1.RestoreFailed, fmt.Sprintf("%+v", kr.Status)
	})
	require.NoError(t, os.RemoveAll(dir))
	require.NoError(t, os.WriteFile(dir, []byte("not a folder"), 0o644)) // the volume is gone
	require.NoError(t, b.k8s.Delete(ctx, kr))
	eventually(t, time.Minute, "the third resource is gone", func() (bool, string) {
		err := b.k8s.Get(ctx, broken, &arkivev1.KafkaRestore{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	eventually(t, 30*time.Second, "a Warning event says the release failed", func() (bool, string) {
		require.NoError(t, b.k8s.List(ctx, &events, client.InNamespace(ns)))
		for _, e := range events.Items {
			if e.Reason == "ReleaseFailed" && e.Type == corev1.EventTypeWarning && strings.Contains(e.Message, broken.Name) {
				return true, ""
			}
		}
		return false, fmt.Sprint(len(events.Items))
	})
}
