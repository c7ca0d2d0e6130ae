package kinds

import (
	"fmt"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

var zookeeperBackup = work[*arkivev1.ZooKeeperBackup, zookeeperbackup.Status]{
	kind: "ZooKeeperBackup", plural: "zookeeperbackups", short: "zkb", workflow: zookeeperbackup.WorkflowName,
	new:    func() *arkivev1.ZooKeeperBackup { return &arkivev1.ZooKeeperBackup{} },
	status: func(o *arkivev1.ZooKeeperBackup) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.ZooKeeperBackup) []Ref {
		return []Ref{{"spec.ensemble", "ZooKeeperEnsemble", o.Spec.Ensemble}, {"spec.storage", "Storage", o.Spec.Storage}}
	},
	input: func(o *arkivev1.ZooKeeperBackup, refs []Object) (any, any, error) {
		in, err := specs.ZooKeeperBackupInput(o, refs[0].(*arkivev1.ZooKeeperEnsemble), refs[1].(*arkivev1.Storage))
		return zookeeperbackup.RunInput{Input: in}, in.Spec, err
	},
	figures: zookeeperBackupFigures,
	phase:   func(o *arkivev1.ZooKeeperBackup) string { return string(o.Status.Phase) },
	mirror:  mirrorZooKeeperBackup,
	// Fuzzy snapshots and ephemeral nodes left out: a Warning event per snapshot.
	warning: func(o *arkivev1.ZooKeeperBackup) (string, string) { return o.Status.Warning, o.Status.LastSnapshot },
	lastRun: func(o *arkivev1.ZooKeeperBackup) (string, string, string) {
		return snapshotRun(o.Status.LastSnapshot, fmt.Sprintf("%d nodes, %s", o.Status.Nodes, OrNone(o.Status.Consistency)))
	},
}.entry()

func zxid(z int64) string { return fmt.Sprintf("%#x", z) }

func mirrorZooKeeperBackup(b *arkivev1.ZooKeeperBackup, s *zookeeperbackup.Status) {
	st := &b.Status
	st.Phase = arkivev1.ResourceBackupPhase(s.Phase)
	st.LastError, st.Warning = s.LastError, s.Warning
	st.LastSnapshot, st.SnapshotCount = s.LastSnapshot, int32(s.Snapshots)
	st.Snapshots, st.Nodes, st.Consistency = nil, 0, ""
	for _, l := range s.Listed {
		st.Snapshots = append(st.Snapshots, arkivev1.ZooKeeperSnapshot{ID: l.ID, Time: metav1.NewTime(l.Time), Nodes: int32(l.Nodes),
			Bytes: l.Bytes, StartZxid: zxid(l.StartZxid), EndZxid: zxid(l.EndZxid), Consistency: l.Consistency})
		if l.ID == s.LastSnapshot {
			st.Nodes, st.Consistency = int32(l.Nodes), l.Consistency
		}
	}
	setTime(&st.LastBackupTime, s.LastBackupTime)
	setTime(&st.NextBackupTime, s.NextSnapshot)
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning,
		fmt.Sprintf("workflow %s: %d nodes in snapshot %s (%s)", st.WorkflowID, st.Nodes, OrNone(s.LastSnapshot), OrNone(st.Consistency))
	switch {
	case s.Phase == zookeeperbackup.PhaseError:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == zookeeperbackup.ReasonPausedBySignal:
		reason, message = arkivev1.ReasonPausedBySignal, "paused by a pause signal to "+st.WorkflowID+"; send resume to continue"
	case s.Reason == zookeeperbackup.ReasonPausedBySpec:
		reason, message = arkivev1.ReasonPausedBySpec, "paused: spec.enabled is false"
	case s.Reason == zookeeperbackup.ReasonRetrying:
		message = "retrying after a passing error: " + s.LastError
	case s.Phase == zookeeperbackup.PhaseInitializing:
		message = "workflow " + st.WorkflowID + " is taking its first snapshot"
	}
	SetWorkflowReady(&st.Conditions, b.Generation, cond, reason, message)
	SetReady(&st.Conditions, b.Generation, s.Reason == zookeeperbackup.ReasonRetrying)
}

var zookeeperRestore = work[*arkivev1.ZooKeeperRestore, zookeeperrestore.Status]{
	kind: "ZooKeeperRestore", plural: "zookeeperrestores", short: "zkr", workflow: zookeeperrestore.WorkflowName, runsOnce: true,
	new:    func() *arkivev1.ZooKeeperRestore { return &arkivev1.ZooKeeperRestore{} },
	status: func(o *arkivev1.ZooKeeperRestore) *arkivev1.WorkStatus { return &o.Status.WorkStatus },
	refs: func(o *arkivev1.ZooKeeperRestore) []Ref {
		return []Ref{{"spec.source.storage", "Storage", o.Spec.Source.Storage}, {"spec.ensemble", "ZooKeeperEnsemble", o.Spec.Ensemble}}
	},
	input: func(o *arkivev1.ZooKeeperRestore, refs []Object) (any, any, error) {
		in, err := specs.ZooKeeperRestoreInput(o, refs[0].(*arkivev1.Storage), refs[1].(*arkivev1.ZooKeeperEnsemble))
		return in, nil, err
	},
	phase:  func(o *arkivev1.ZooKeeperRestore) string { return string(o.Status.Phase) },
	mirror: mirrorZooKeeperRestore,
	restore: func(o *arkivev1.ZooKeeperRestore) (*arkivev1.RestorePhase, bool) {
		return &o.Status.Phase, o.Spec.DryRun
	},
}.entry()

func zcounts(c zookeeperrestore.Counts) arkivev1.ZNodeCounts {
	return arkivev1.ZNodeCounts{Total: int32(c.Total), Created: int32(c.Created), Updated: int32(c.Updated),
		Unchanged: int32(c.Unchanged), Skipped: int32(c.Skipped), Deleted: int32(c.Deleted)}
}

func mirrorZooKeeperRestore(r *arkivev1.ZooKeeperRestore, s *zookeeperrestore.Status) {
	st := &r.Status
	st.Phase = arkivev1.RestorePhase(s.Phase)
	st.LastError, st.Warning = s.LastError, s.Warning
	st.Counts = zcounts(s.Counts)
	st.Diff, st.Snapshot = nil, ""
	if p := s.Plan; p != nil {
		st.Snapshot = p.Snapshot
		st.Diff = p.Diff[:min(len(p.Diff), maxStatusDiff)]
		if len(p.Diff) > maxStatusDiff || p.DiffTruncated {
			st.Diff = append(st.Diff, fmt.Sprintf("… %d nodes to write in all; the workflow's status query has more", p.Counts.Writes()))
		}
		if s.Phase == zookeeperrestore.PhaseReady {
			st.Counts = zcounts(p.Counts)
		}
	}
	setTime(&st.StartTime, s.StartTime)
	setTime(&st.CompletionTime, s.CompletionTime)
	c := st.Counts
	cond, reason, message := metav1.ConditionTrue, arkivev1.ReasonRunning,
		fmt.Sprintf("%s: %d nodes (%d created, %d updated, %d unchanged, %d skipped, %d deleted)", s.Phase, c.Total, c.Created, c.Updated, c.Unchanged, c.Skipped, c.Deleted)
	switch {
	case s.Phase == zookeeperrestore.PhaseFailed:
		cond, reason, message = metav1.ConditionFalse, arkivev1.ReasonFailed, fmt.Sprintf("%s: %s", s.Reason, s.LastError)
	case s.Reason == zookeeperrestore.ReasonDryRun && s.Plan != nil:
		message = fmt.Sprintf("dry run: %d nodes to create, %d to update, %d to delete, %d unchanged, %d skipped; see status.diff",
			c.Created, c.Updated, c.Deleted, c.Unchanged, c.Skipped)
	case s.Reason == zookeeperrestore.ReasonUnchanged:
		message = "the target already holds the snapshot's nodes; nothing was written"
	case s.Phase == zookeeperrestore.PhaseRestoring:
		message = "restoring snapshot " + st.Snapshot
	}
	SetWorkflowReady(&st.Conditions, r.Generation, cond, reason, message)
}
