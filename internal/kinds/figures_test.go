package kinds

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
)

// The interval a backup's RPO derives from: the round of a continuous Kafka backup, the cron
// period of a scheduled one, none for one that runs when triggered.
func TestBackupIntervals(t *testing.T) {
	now := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	require.Equal(t, time.Hour, schedulePeriod("@every 1h", now))
	require.Equal(t, 24*time.Hour, schedulePeriod("0 3 * * *", now))
	require.Equal(t, 7*24*time.Hour, schedulePeriod("@weekly", now))
	require.Zero(t, schedulePeriod("", now))

	kb := &arkivev1.KafkaBackup{}
	require.Equal(t, 5*time.Minute, kafkaBackupFigures(kb).Interval, "continuous, the CRD default maxSegmentInterval")
	kb.Spec.MaxSegmentInterval = &metav1.Duration{Duration: time.Second}
	require.Equal(t, 10*time.Second, kafkaBackupFigures(kb).Interval, "a round lasts at least 10 s")
	kb.Spec.Mode, kb.Spec.Schedule = arkivev1.ModeScheduled, "@daily"
	require.Equal(t, 24*time.Hour, kafkaBackupFigures(kb).Interval)
	kb.Spec.Mode = arkivev1.ModeOnce
	require.Zero(t, kafkaBackupFigures(kb).Interval)

	require.Equal(t, time.Hour, schemaBackupFigures(&arkivev1.SchemaRegistryBackup{}).Interval, "the CRD default backupIntervalSecs")
	require.Zero(t, resourceBackupFigures(&arkivev1.ResourceBackup{}).Interval, "no schedule: runs when triggered")

	// A restore without finer progress: 0 while it runs, 1 when done.
	rr := &arkivev1.ResourceRestore{}
	require.Nil(t, resourceRestore.Figures(rr).Progress)
	rr.Status.Phase = arkivev1.RestoreRestoring
	require.Equal(t, 0.0, *resourceRestore.Figures(rr).Progress)
	rr.Status.Phase = arkivev1.RestoreDone
	require.Equal(t, 1.0, *resourceRestore.Figures(rr).Progress)
}
