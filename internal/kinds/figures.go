package kinds

import (
	"time"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
)

// Each kind's figures (docs/metrics.md): what the operator exports for a resource.

func kafkaBackupFigures(o *arkivev1.KafkaBackup) Figures {
	f := Figures{LastSuccess: timeOf(o.Status.LastBackupTime), NextRun: timeOf(o.Status.NextScheduledTime), LagRecords: o.Status.Lag}
	switch o.Spec.Mode {
	case arkivev1.ModeScheduled:
		f.Interval = schedulePeriod(o.Spec.Schedule, time.Now())
	case arkivev1.ModeOnce:
	default:
		// A continuous backup commits after every round of maxSegmentInterval (at least 10 s).
		round := specs.DefaultMaxSegmentInterval
		if d := o.Spec.MaxSegmentInterval; d != nil {
			round = d.Duration
		}
		f.Interval = max(round, 10*time.Second)
	}
	return f
}

func kafkaRestoreFigures(o *arkivev1.KafkaRestore) Figures {
	var f Figures
	if p := o.Status.Progress; p != nil && o.Status.Phase != arkivev1.RestoreDone {
		f.Progress = ptr.To(float64(p.Percent) / 100)
	}
	return f
}

func schemaBackupFigures(o *arkivev1.SchemaRegistryBackup) Figures {
	secs := o.Spec.BackupIntervalSecs
	if secs == 0 {
		secs = specs.DefaultBackupIntervalSecs
	}
	return Figures{LastSuccess: timeOf(o.Status.LastBackupTime), Interval: time.Duration(secs) * time.Second,
		Snapshots: ptr.To(int64(o.Status.Snapshots))}
}

func resourceBackupFigures(o *arkivev1.ResourceBackup) Figures {
	return Figures{LastSuccess: timeOf(o.Status.LastBackupTime), NextRun: timeOf(o.Status.NextBackupTime),
		Interval: schedulePeriod(o.Spec.Schedule, time.Now()), Snapshots: ptr.To(int64(o.Status.Snapshots))}
}

func zookeeperBackupFigures(o *arkivev1.ZooKeeperBackup) Figures {
	return Figures{LastSuccess: timeOf(o.Status.LastBackupTime), NextRun: timeOf(o.Status.NextBackupTime),
		Interval: schedulePeriod(o.Spec.Schedule, time.Now()), Snapshots: ptr.To(int64(o.Status.SnapshotCount))}
}

func timeOf(t *metav1.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.Time
}

// schedulePeriod is the time between a cron schedule's next two ticks after now; 0 without a
// schedule (or with one admission should have refused).
func schedulePeriod(schedule string, now time.Time) time.Duration {
	if schedule == "" {
		return 0
	}
	s, err := cron.ParseStandard(schedule)
	if err != nil {
		return 0
	}
	next := s.Next(now)
	return s.Next(next).Sub(next)
}
