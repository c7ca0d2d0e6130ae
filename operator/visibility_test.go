package operator_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdkpb "go.temporal.io/api/sdk/v1"
	"k8s.io/utils/ptr"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
)

// Issue 21, acceptance 6 (its first half): every workflow carries ArkiveKind, ArkiveNamespace
// and ArkiveResource, and ArkivePhase follows the phase, so a visibility query through the
// Temporal CLI for ArkivePhase="Paused" lists exactly the paused backups, and finds a backup
// again once it is resumed.
func TestPhaseSearchAttribute(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	ns := b.namespace(t)
	b.kafkaAndFiles(t, ns, testenv.Kafka(t))
	topic := fmt.Sprintf("op-vis-%d", time.Now().UnixNano())
	produce(t, testenv.Kafka(t), topic, 1, 10)
	yearly := func(name string, enabled bool) *arkivev1.KafkaBackup {
		return &arkivev1.KafkaBackup{ObjectMeta: objMeta(ns, name), Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: "files", Enabled: ptr.To(enabled),
			Mode: arkivev1.ModeScheduled, Schedule: "@yearly", Streams: []arkivev1.BackupStream{{Topic: topic}}}}
	}
	require.NoError(t, b.k8s.Create(ctx, yearly("running", true)))
	require.NoError(t, b.k8s.Create(ctx, yearly("by-spec", false)))
	require.NoError(t, b.k8s.Create(ctx, yearly("by-signal", true)))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.ResourceBackup{ObjectMeta: objMeta(ns, "config"), Spec: arkivev1.ResourceBackupSpec{Storage: "files",
		Enabled: ptr.To(false), ResourceSelection: arkivev1.ResourceSelection{Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}}}}}))
	waitPhase(t, b, ns, "by-signal", arkivev1.KafkaBackupReady, "")
	signal := func(name, sig string) {
		out, err := exec.Command(testenv.TemporalCLI(t), "workflow", "signal", "--address", testenv.Temporal(t),
			"--workflow-id", workflows.WorkflowID("KafkaBackup", ns, name), "--name", sig).CombinedOutput()
		require.NoError(t, err, string(out))
	}
	signal("by-signal", "pause")

	list := func(query string) []string {
		out, err := exec.Command(testenv.TemporalCLI(t), "workflow", "list", "--address", testenv.Temporal(t), "-o", "json",
			"--query", query).CombinedOutput()
		require.NoError(t, err, string(out))
		var found []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		}
		require.NoError(t, json.Unmarshal(out, &found), string(out))
		var ids []string
		for _, f := range found {
			ids = append(ids, f.Execution.WorkflowID)
		}
		slices.Sort(ids)
		return ids
	}
	paused := fmt.Sprintf(`ArkivePhase="Paused" AND ArkiveNamespace=%q`, ns)
	want := []string{workflows.WorkflowID("KafkaBackup", ns, "by-signal"), workflows.WorkflowID("KafkaBackup", ns, "by-spec"),
		workflows.WorkflowID("ResourceBackup", ns, "config")}
	slices.Sort(want)
	testenv.Eventually(t, time.Minute, "the query lists exactly the paused backups", func() (bool, string) {
		got := list(paused)
		return slices.Equal(got, want), fmt.Sprint(got)
	})
	require.Equal(t, []string{workflows.WorkflowID("KafkaBackup", ns, "running")},
		list(fmt.Sprintf(`ArkiveKind="kafkabackup" AND ArkiveNamespace=%q AND ArkiveResource="running"`, ns)))

	// The Temporal UI's current details say the same in words.
	v, err := b.temporal.QueryWorkflow(ctx, workflows.WorkflowID("KafkaBackup", ns, "by-signal"), "", "__temporal_workflow_metadata")
	require.NoError(t, err)
	var meta sdkpb.WorkflowMetadata
	require.NoError(t, v.Get(&meta))
	require.Equal(t, "Paused (PausedBySignal)", meta.GetCurrentDetails())

	signal("by-signal", "resume")
	testenv.Eventually(t, time.Minute, "a resumed backup leaves the paused list", func() (bool, string) {
		got := list(paused)
		return len(got) == 2 && !slices.Contains(got, workflows.WorkflowID("KafkaBackup", ns, "by-signal")), fmt.Sprint(got)
	})
}
