package kinds

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/api/status"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

// Every phase a kind's workflow writes is one the API documents for the kind, and every phase
// the API documents is one the workflow can write: the API's phase constants and the
// workflows' come from one list of words (api/status), and neither side has one the other
// lacks.
func TestWorkflowPhasesAreTheAPIPhases(t *testing.T) {
	tests := map[string]struct{ workflow, api []string }{
		"KafkaBackup": {
			[]string{kafkabackup.PhaseDraft, kafkabackup.PhaseReady, kafkabackup.PhaseStreaming, kafkabackup.PhasePaused, kafkabackup.PhaseFailed, kafkabackup.PhaseCompleted},
			[]string{string(arkivev1.KafkaBackupDraft), string(arkivev1.KafkaBackupReady), string(arkivev1.KafkaBackupStreaming),
				string(arkivev1.KafkaBackupPaused), string(arkivev1.KafkaBackupFailed), string(arkivev1.KafkaBackupCompleted)},
		},
		"SchemaRegistryBackup": {
			[]string{schemabackup.PhasePaused, schemabackup.PhaseInitializing, schemabackup.PhaseRunning, schemabackup.PhaseError},
			[]string{string(arkivev1.SchemaBackupPaused), string(arkivev1.SchemaBackupInitializing), string(arkivev1.SchemaBackupRunning), string(arkivev1.SchemaBackupError)},
		},
		"KafkaRestore": {
			[]string{kafkarestore.PhaseDraft, kafkarestore.PhaseReady, kafkarestore.PhaseRestoring, kafkarestore.PhaseDone, kafkarestore.PhaseFailed},
			restorePhases(),
		},
		"SchemaRegistryRestore": {
			[]string{schemarestore.PhaseDraft, schemarestore.PhaseReady, schemarestore.PhaseRestoring, schemarestore.PhaseDone, schemarestore.PhaseFailed},
			restorePhases(),
		},
		"ResourceBackup": {
			[]string{resourcebackup.PhasePaused, resourcebackup.PhaseInitializing, resourcebackup.PhaseRunning, resourcebackup.PhaseError},
			[]string{string(arkivev1.ResourceBackupPaused), string(arkivev1.ResourceBackupInitializing), string(arkivev1.ResourceBackupRunning), string(arkivev1.ResourceBackupError)},
		},
		"ResourceRestore": {
			[]string{resourcerestore.PhaseDraft, resourcerestore.PhaseReady, resourcerestore.PhaseRestoring, resourcerestore.PhaseDone, resourcerestore.PhaseFailed},
			restorePhases(),
		},
		"ZooKeeperBackup": {
			[]string{zookeeperbackup.PhasePaused, zookeeperbackup.PhaseInitializing, zookeeperbackup.PhaseRunning, zookeeperbackup.PhaseError},
			[]string{string(arkivev1.ResourceBackupPaused), string(arkivev1.ResourceBackupInitializing), string(arkivev1.ResourceBackupRunning), string(arkivev1.ResourceBackupError)},
		},
		"ZooKeeperRestore": {
			[]string{zookeeperrestore.PhaseDraft, zookeeperrestore.PhaseReady, zookeeperrestore.PhaseRestoring, zookeeperrestore.PhaseDone, zookeeperrestore.PhaseFailed},
			restorePhases(),
		},
	}
	require.Len(t, tests, len(Works), "every work kind of the table is listed here")
	for kind, tc := range tests {
		t.Run(kind, func(t *testing.T) {
			require.NotNil(t, WorkKind(kind))
			require.ElementsMatch(t, tc.api, tc.workflow)
		})
	}
}

func restorePhases() []string {
	return []string{string(arkivev1.RestoreDraft), string(arkivev1.RestoreReady), string(arkivev1.RestoreRestoring),
		string(arkivev1.RestoreDone), string(arkivev1.RestoreFailed)}
}

// Issue 22, point 4: every outcome a scheduled run can end with is documented in the API (the
// CRD's description of status.runs[].outcome, which kubectl explain and the docs show).
func TestRunOutcomesAreDocumented(t *testing.T) {
	crd, err := os.ReadFile(filepath.Join("..", "..", "deploy", "crd", "arkive.io_kafkabackups.yaml"))
	require.NoError(t, err)
	i := strings.Index(string(crd), "outcome:")
	require.Positive(t, i, "the CRD documents status.runs[].outcome")
	doc := string(crd[i:min(len(crd), i+300)])
	for _, o := range []string{status.RunRunning, status.RunSucceeded, status.RunFailed, status.RunPaused} {
		require.Contains(t, doc, o, "outcome %s is documented", o)
	}
}

// The operator's Warning events (the table's Warning): a KafkaRestore that skipped unreadable
// ranges warns with every range, and once per new count; a ResourceBackup storing Secrets in
// plain text warns once per snapshot; without either, there is nothing to warn about.
func TestWarningsForEvents(t *testing.T) {
	kr := &arkivev1.KafkaRestore{}
	w, run := WorkKind("KafkaRestore").Warning(kr)
	require.Empty(t, w)
	require.Empty(t, run)
	kr.Status.Skipped = []string{"orders/0 100-199 (kafka/b/topics/orders/0/x.seg: missing)"}
	w, run = WorkKind("KafkaRestore").Warning(kr)
	require.Contains(t, w, "skipped 1 unreadable offset range(s)")
	require.Contains(t, w, "orders/0 100-199")
	require.Equal(t, "1 skipped ranges", run)

	rb := &arkivev1.ResourceBackup{Status: arkivev1.ResourceBackupStatus{Warning: "Secrets are stored without encryption", LastSnapshot: "s2"}}
	w, run = WorkKind("ResourceBackup").Warning(rb)
	require.Equal(t, "Secrets are stored without encryption", w)
	require.Equal(t, "s2", run)
	zb := &arkivev1.ZooKeeperBackup{Status: arkivev1.ZooKeeperBackupStatus{Warning: "snapshot s3 is fuzzy", LastSnapshot: "s3"}}
	w, run = WorkKind("ZooKeeperBackup").Warning(zb)
	require.Equal(t, "snapshot s3 is fuzzy", w)
	require.Equal(t, "s3", run)
	require.Nil(t, WorkKind("KafkaBackup").Warning, "kinds without warnings have no hook")
}
