package operator_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/operator"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// runUpto is a run's high watermarks: a sharded backup records them in its catalog (the run
// names them by key), so no workflow payload grows with the partition count.
func runUpto(t *testing.T, b *bed, ns, name string, run archive.Run) map[string]int64 {
	t.Helper()
	if run.Upto != nil {
		return run.Upto
	}
	require.NotEmpty(t, run.UptoKey, "run %s names no high watermarks", run.ID)
	var st arkivev1.Storage
	require.NoError(t, b.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "files"}, &st))
	store, err := blobstore.OpenURL(context.Background(), "file://"+st.Spec.Volume.Path)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.Kafka(ns + "/" + name)
	require.NoError(t, err)
	cat, err := catalog.Open(context.Background(), store, layout)
	require.NoError(t, err)
	upto, err := cat.RunUpto(context.Background(), run.ID)
	require.NoError(t, err)
	return upto
}

// #21 acceptance 5: a KafkaBackup in mode Once captures up to the high watermarks read at its
// start and is Completed; the trigger annotation starts exactly one run per value and is
// removed; a value used before starts none.
func TestOnceModeAndTriggerAnnotation(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	bootstrap := testenv.Kafka(t)
	ns := b.namespace(t)
	b.kafkaAndFiles(t, ns, bootstrap)
	topic := fmt.Sprintf("op-once-%d", time.Now().UnixNano())
	produce(t, bootstrap, topic, 2, 300)

	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "oneshot"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		Mode: arkivev1.ModeOnce, Streams: []arkivev1.BackupStream{{Topic: topic}}, DiscoveryInterval: &metav1.Duration{Duration: time.Second}}}))
	id := workflows.WorkflowID("KafkaBackup", ns, "oneshot")
	waitPhase(t, b, ns, "oneshot", arkivev1.KafkaBackupCompleted, "")
	s := waitIdle(t, b, id, 1)
	run := s.Runs[0]
	require.Equal(t, status.RunSucceeded, run.Outcome)
	require.Equal(t, int64(300), run.Records, "the run captured what the topic held at its start")
	require.Equal(t, map[string]int64{topic + "/0": 150, topic + "/1": 150}, runUpto(t, b, ns, "oneshot", run), "up to the high watermarks read at its start")
	require.Equal(t, int64(300), committed(s, topic))

	// Records written after the run wait for a trigger: the annotation runs it once more, up to
	// the new high watermarks, and goes away.
	produce(t, bootstrap, topic, 2, 200)
	annotate(t, b, ns, "oneshot", "t1")
	s = waitIdle(t, b, id, 2)
	require.Equal(t, int64(200), s.Runs[1].Records)
	require.Equal(t, map[string]int64{topic + "/0": 250, topic + "/1": 250}, runUpto(t, b, ns, "oneshot", s.Runs[1]))
	require.Equal(t, int64(500), committed(s, topic))

	// The same value again is acknowledged (removed) without a run; a new value runs once. The
	// signals reach the workflow in this order, so had the repeat started a run, a fourth
	// would follow the third.
	annotate(t, b, ns, "oneshot", "t1")
	annotate(t, b, ns, "oneshot", "t2")
	s = waitIdle(t, b, id, 3)
	require.Len(t, s.Runs, 3, "one run for t1, none for its repeat, one for t2")

	// The resource says so at the top level, with Ready beside WorkflowReady and an event per
	// run.
	var kb *arkivev1.KafkaBackup
	eventually(t, time.Minute, "the third run at the top of the status", func() (bool, string) {
		kb = b.backup(t, ns, "oneshot")
		return kb.Status.LastRunID == s.Runs[2].ID, kb.Status.LastRunID
	})
	require.Equal(t, status.RunSucceeded, kb.Status.LastRunOutcome)
	require.Equal(t, int64(0), *kb.Status.LastRunRecords, "nothing new since the second run")
	ready := meta.FindStatusCondition(kb.Status.Conditions, arkivev1.ConditionReady)
	require.NotNil(t, ready)
	require.Equal(t, metav1.ConditionTrue, ready.Status)
	eventually(t, 30*time.Second, "a RunSucceeded event for every run", func() (bool, string) {
		var events corev1.EventList
		require.NoError(t, b.k8s.List(ctx, &events, client.InNamespace(ns)))
		seen := map[string]bool{}
		for _, e := range events.Items {
			if e.Reason == "RunSucceeded" && e.InvolvedObject.Name == "oneshot" {
				for _, r := range s.Runs {
					if strings.Contains(e.Message, r.ID) {
						seen[r.ID] = true
					}
				}
			}
		}
		return len(seen) == 3, fmt.Sprint(seen)
	})

	// Paused: Ready is False, saying why.
	edit(t, b, kb, func(kb *arkivev1.KafkaBackup) { kb.Spec.Enabled = ptr.To(false) })
	eventually(t, time.Minute, "Ready False while paused", func() (bool, string) {
		c := meta.FindStatusCondition(b.backup(t, ns, "oneshot").Status.Conditions, arkivev1.ConditionReady)
		return c != nil && c.Status == metav1.ConditionFalse && c.Reason == arkivev1.ReasonPausedBySpec, fmt.Sprintf("%+v", c)
	})

	// A Scheduled backup shows the tick it waits for.
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, "yearly"), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files",
		Mode: arkivev1.ModeScheduled, Schedule: "@yearly", Streams: []arkivev1.BackupStream{{Topic: topic}}}}))
	nextYear := time.Date(time.Now().UTC().Year()+1, 1, 1, 0, 0, 0, 0, time.UTC)
	eventually(t, time.Minute, "nextScheduledTime is the next new year", func() (bool, string) {
		kb := b.backup(t, ns, "yearly")
		return kb.Status.NextScheduledTime != nil && kb.Status.NextScheduledTime.Time.Equal(nextYear), fmt.Sprint(kb.Status.NextScheduledTime)
	})
}

// annotate sets the trigger annotation and waits until the operator has removed it.
func annotate(t *testing.T, b *bed, ns, name, value string) {
	t.Helper()
	kb := b.backup(t, ns, name)
	patch := client.MergeFrom(kb.DeepCopy())
	kb.SetAnnotations(map[string]string{operator.TriggerAnnotation: value})
	require.NoError(t, b.k8s.Patch(context.Background(), kb, patch))
	eventually(t, time.Minute, "annotation "+value+" removed by the operator", func() (bool, string) {
		kb := &arkivev1.KafkaBackup{}
		require.NoError(t, b.k8s.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: name}, kb))
		_, present := kb.Annotations[operator.TriggerAnnotation]
		return !present, fmt.Sprint(kb.Annotations)
	})
}

// waitIdle waits until the backup's workflow has finished runs runs and waits for a trigger.
func waitIdle(t *testing.T, b *bed, id string, runs int) (s kafkabackup.Status) {
	t.Helper()
	eventually(t, time.Minute, fmt.Sprintf("%d runs, then waiting for a trigger", runs), func() (bool, string) {
		s = workflowStatus(t, b.temporal, id)
		return len(s.Runs) >= runs && s.Phase == status.Completed && s.Reason == status.WaitingForTrigger, fmt.Sprintf("%s %s %+v", s.Phase, s.Reason, s.Runs)
	})
	return s
}
