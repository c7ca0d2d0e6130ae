package kinds

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/resourcebackup"
)

// Ready, in the Kubernetes convention, is True only while a backup does its work.
func TestKafkaBackupReadyCondition(t *testing.T) {
	tests := map[string]struct {
		in     kafkabackup.Status
		want   metav1.ConditionStatus
		reason string
	}{
		"streaming":          {kafkabackup.Status{Phase: status.Streaming}, metav1.ConditionTrue, arkivev1.ReasonRunning},
		"waiting for a tick": {kafkabackup.Status{Phase: status.Completed, Reason: status.WaitingForSchedule}, metav1.ConditionTrue, arkivev1.ReasonRunning},
		"paused by signal":   {kafkabackup.Status{Phase: status.Paused, Reason: status.PausedBySignal}, metav1.ConditionFalse, arkivev1.ReasonPausedBySignal},
		"paused by spec":     {kafkabackup.Status{Phase: status.Paused, Reason: status.PausedBySpec}, metav1.ConditionFalse, arkivev1.ReasonPausedBySpec},
		"retrying":           {kafkabackup.Status{Phase: status.Streaming, Reason: status.Retrying, LastError: "broker down"}, metav1.ConditionFalse, arkivev1.ReasonRetrying},
		"failed":             {kafkabackup.Status{Phase: status.Failed, Reason: "InvalidSpec", LastError: "bad"}, metav1.ConditionFalse, arkivev1.ReasonFailed},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			kb := &arkivev1.KafkaBackup{}
			mirrorKafkaBackup(kb, &tc.in)
			c := meta.FindStatusCondition(kb.Status.Conditions, arkivev1.ConditionReady)
			require.NotNil(t, c)
			require.Equal(t, tc.want, c.Status)
			require.Equal(t, tc.reason, c.Reason)
			require.NotNil(t, meta.FindStatusCondition(kb.Status.Conditions, arkivev1.ConditionWorkflowReady), "beside WorkflowReady")
		})
	}
}

// Ready follows a WorkflowReady that is not True (nothing started, Temporal unreachable).
func TestReadyFollowsWorkflowReady(t *testing.T) {
	var conds []metav1.Condition
	SetWorkflowReady(&conds, 3, metav1.ConditionUnknown, arkivev1.ReasonUnknown, "Temporal: unreachable")
	SetReady(&conds, 3, false)
	c := meta.FindStatusCondition(conds, arkivev1.ConditionReady)
	require.Equal(t, metav1.ConditionUnknown, c.Status)
	require.Equal(t, arkivev1.ReasonUnknown, c.Reason)
	require.Equal(t, int64(3), c.ObservedGeneration)
}

// The newest run and the next tick are at the top level of the status, for printer columns
// and scripts.
func TestKafkaBackupStatusTopLevel(t *testing.T) {
	next := time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)
	kb := &arkivev1.KafkaBackup{}
	mirrorKafkaBackup(kb, &kafkabackup.Status{Phase: status.Completed, NextRun: next, Runs: []archive.Run{
		{ID: "run-000001", Records: 5, Bytes: 50, Outcome: status.RunFailed},
		{ID: "run-000002", Records: 7, Bytes: 70, Outcome: status.RunSucceeded},
	}})
	st := kb.Status
	require.Equal(t, next, st.NextScheduledTime.Time.UTC())
	require.Equal(t, "run-000002", st.LastRunID)
	require.Equal(t, status.RunSucceeded, st.LastRunOutcome)
	require.Equal(t, int64(7), *st.LastRunRecords)
	require.Equal(t, int64(70), *st.LastRunBytes)
	id, outcome, summary := kafkaBackup.LastRun(kb)
	require.Equal(t, "run-000002", id)
	require.Equal(t, status.RunSucceeded, outcome)
	require.Equal(t, "run run-000002 succeeded: 7 records, 70 bytes", summary)

	mirrorKafkaBackup(kb, &kafkabackup.Status{Phase: status.Streaming})
	require.Nil(t, kb.Status.NextScheduledTime, "no tick while running")
	require.Empty(t, kb.Status.LastRunID)
}

// A snapshot kind's stored snapshot is a run that succeeded, for its event.
func TestSnapshotKindsLastRun(t *testing.T) {
	rb := &arkivev1.ResourceBackup{}
	rb.Status.LastSnapshot, rb.Status.Objects = "snap-7", 12
	id, outcome, summary := resourceBackup.LastRun(rb)
	require.Equal(t, []string{"snap-7", status.RunSucceeded, "snapshot snap-7 stored: 12 objects"}, []string{id, outcome, summary})
	zb := &arkivev1.ZooKeeperBackup{}
	zb.Status.LastSnapshot, zb.Status.Nodes, zb.Status.Consistency = "z-1", 40, "consistent"
	_, _, summary = zookeeperBackup.LastRun(zb)
	require.Equal(t, "snapshot z-1 stored: 40 nodes, consistent", summary)
	id, _, _ = schemaBackup.LastRun(&arkivev1.SchemaRegistryBackup{})
	require.Empty(t, id, "no snapshot yet: no run")
}

// A ResourceBackup's status names the claim that keeps its backups and the newest snapshot's
// start and completion time, as the seed's APIManagerBackup does.
func TestResourceBackupStatusNamesTheStorageClaim(t *testing.T) {
	start := time.Date(2026, 12, 3, 1, 0, 0, 0, time.UTC)
	rb := &arkivev1.ResourceBackup{}
	mirrorResourceBackup(rb, &resourcebackup.Status{Phase: resourcebackup.PhaseRunning, LastSnapshot: "s1", LastBackupTime: start,
		LastCompletionTime: start.Add(90 * time.Second), StorageClaim: "arkive-apimanager-backups"})
	require.Equal(t, "arkive-apimanager-backups", rb.Status.StorageClaim)
	require.Equal(t, start, rb.Status.LastBackupTime.UTC())
	require.Equal(t, start.Add(90*time.Second), rb.Status.LastCompletionTime.UTC())
}
