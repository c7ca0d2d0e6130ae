package operator_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/workflows"
)

const registryPassword = "op-registry-pass-91c2"

func registerSchema(t *testing.T, base, subject, schema string) {
	body, _ := json.Marshal(map[string]string{"schema": schema})
	req, err := http.NewRequest(http.MethodPost, base+"/subjects/"+subject+"/versions", bytes.NewReader(body))
	require.NoError(t, err)
	req.SetBasicAuth("svc", registryPassword)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
}

func condition(conds []metav1.Condition, typ string) string {
	if c := meta.FindStatusCondition(conds, typ); c != nil {
		return fmt.Sprintf("%s/%s: %s", c.Status, c.Reason, c.Message)
	}
	return "(none)"
}

// The Schema Registry kinds on a real API server and Temporal: a backup reaches Running with its
// snapshot in status; a disabled one is Paused (PausedBySpec); a restore naming a missing
// registry says so by field, then runs once it exists and brings the subjects back; registries
// get Ready from a real check (False with the cause for wrong credentials); deleting a backup
// closes its workflow.
func TestSchemaRegistryResources(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	ns := b.namespace(t)
	src := registrytest.New()
	src.Users = map[string]string{"svc": registryPassword}
	srcURL := src.Start(t)
	for i := range 5 {
		registerSchema(t, srcURL, fmt.Sprintf("orders-%d-value", i), fmt.Sprintf(`{"type":"record","name":"O%d","fields":[]}`, i))
	}
	dst := registrytest.New()
	dst.Users = map[string]string{"svc": registryPassword}
	dstURL := dst.Start(t)

	for _, name := range []string{"sr-creds", "bad-creds"} {
		require.NoError(t, b.k8s.Create(ctx, &corev1.Secret{ObjectMeta: objMeta(ns, name), StringData: map[string]string{"username": "svc", "password": "see the worker's map"}}))
	}
	registry := func(name, url, secret string) *arkivev1.SchemaRegistry {
		return &arkivev1.SchemaRegistry{ObjectMeta: objMeta(ns, name), Spec: arkivev1.SchemaRegistrySpec{URLs: []string{url}, BasicAuth: &arkivev1.BasicAuth{SecretName: secret}}}
	}
	require.NoError(t, b.k8s.Create(ctx, registry("source", srcURL, "sr-creds")))
	require.NoError(t, b.k8s.Create(ctx, registry("locked", srcURL, "bad-creds")))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.Storage{ObjectMeta: objMeta(ns, "files"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}}))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.SchemaRegistryBackup{ObjectMeta: objMeta(ns, "nightly"),
		Spec: arkivev1.SchemaRegistryBackupSpec{Registry: "source", Storage: "files", Enabled: true}}))
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.SchemaRegistryBackup{ObjectMeta: objMeta(ns, "off"),
		Spec: arkivev1.SchemaRegistryBackupSpec{Registry: "source", Storage: "files"}}))

	getBackup := func(name string) *arkivev1.SchemaRegistryBackup {
		o := &arkivev1.SchemaRegistryBackup{}
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, o))
		return o
	}
	eventually(t, 30*time.Second, "backup Running with a snapshot", func() (bool, string) {
		o := getBackup("nightly")
		return o.Status.Phase == arkivev1.SchemaBackupRunning && o.Status.LastSnapshot != "" && o.Status.Snapshots == 1 && o.Status.LastBackupTime != nil,
			fmt.Sprintf("%+v", o.Status)
	})
	require.Contains(t, condition(getBackup("nightly").Status.Conditions, arkivev1.ConditionWorkflowReady), "True/Running")
	require.Equal(t, workflows.WorkflowID("SchemaRegistryBackup", ns, "nightly"), getBackup("nightly").Status.WorkflowID)
	eventually(t, 30*time.Second, "disabled backup Paused", func() (bool, string) {
		o := getBackup("off")
		return o.Status.Phase == arkivev1.SchemaBackupPaused &&
			meta.IsStatusConditionTrue(o.Status.Conditions, arkivev1.ConditionWorkflowReady) &&
			meta.FindStatusCondition(o.Status.Conditions, arkivev1.ConditionWorkflowReady).Reason == arkivev1.ReasonPausedBySpec, fmt.Sprintf("%+v", o.Status)
	})

	// A restore into a registry that does not exist yet.
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.SchemaRegistryRestore{ObjectMeta: objMeta(ns, "bring-back"), Spec: arkivev1.SchemaRegistryRestoreSpec{
		Source: arkivev1.SchemaSnapshotSource{Storage: "files", Backup: ns + "/nightly"}, Target: "replacement"}}))
	getRestore := func() *arkivev1.SchemaRegistryRestore {
		o := &arkivev1.SchemaRegistryRestore{}
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "bring-back"}, o))
		return o
	}
	eventually(t, 30*time.Second, "missing target named", func() (bool, string) {
		c := condition(getRestore().Status.Conditions, arkivev1.ConditionWorkflowReady)
		return bytes.Contains([]byte(c), []byte("False/MissingReference: spec.target: SchemaRegistry "+ns+"/replacement not found")), c
	})
	require.NoError(t, b.k8s.Create(ctx, registry("replacement", dstURL, "sr-creds")))
	eventually(t, 60*time.Second, "restore Done", func() (bool, string) {
		o := getRestore()
		return o.Status.Phase == arkivev1.RestoreDone && o.Status.CompletionTime != nil, fmt.Sprintf("%+v", o.Status)
	})
	require.EqualValues(t, 5, getRestore().Status.SubjectsRestored)
	auth := func(r *http.Request) { r.SetBasicAuth("svc", registryPassword) }
	want, err := registrytest.DumpAPI(srcURL, auth)
	require.NoError(t, err)
	got, err := registrytest.DumpAPI(dstURL, auth)
	require.NoError(t, err)
	require.Equal(t, want, got)

	getRegistry := func(name string) *arkivev1.SchemaRegistry {
		o := &arkivev1.SchemaRegistry{}
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: name}, o))
		return o
	}
	eventually(t, 30*time.Second, "registries checked", func() (bool, string) {
		good, bad := condition(getRegistry("source").Status.Conditions, arkivev1.ConditionReady), condition(getRegistry("locked").Status.Conditions, arkivev1.ConditionReady)
		return bytes.HasPrefix([]byte(good), []byte("True/Connected")) &&
			bytes.Contains([]byte(bad), []byte("False/ConnectionError: the registry refused the credentials (GET /config: HTTP 401")), good + " | " + bad
	})

	// A pause sent straight to the workflow shows as Paused with the signal as reason; resume
	// brings it back to Running.
	wid := getBackup("nightly").Status.WorkflowID
	require.NoError(t, b.temporal.SignalWorkflow(ctx, wid, "", workflows.SignalPause, nil))
	eventually(t, 10*time.Second, "Paused by signal", func() (bool, string) {
		c := condition(getBackup("nightly").Status.Conditions, arkivev1.ConditionWorkflowReady)
		return getBackup("nightly").Status.Phase == arkivev1.SchemaBackupPaused && bytes.HasPrefix([]byte(c), []byte("True/PausedBySignal")), c
	})
	require.NoError(t, b.temporal.SignalWorkflow(ctx, wid, "", workflows.SignalResume, nil))
	eventually(t, 10*time.Second, "Running again", func() (bool, string) {
		o := getBackup("nightly")
		return o.Status.Phase == arkivev1.SchemaBackupRunning, string(o.Status.Phase)
	})

	// Deleting the backup cancels its workflow and the finalizer goes.
	o := getBackup("nightly")
	require.NoError(t, b.k8s.Delete(ctx, o))
	eventually(t, 30*time.Second, "backup gone", func() (bool, string) {
		err := b.k8s.Get(ctx, client.ObjectKeyFromObject(o), &arkivev1.SchemaRegistryBackup{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	desc, err := b.temporal.DescribeWorkflowExecution(ctx, o.Status.WorkflowID, "")
	require.NoError(t, err)
	require.NotEqual(t, enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING, desc.GetWorkflowExecutionInfo().GetStatus())
}
