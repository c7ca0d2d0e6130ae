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
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows"
)

// Issue 14, acceptance 5 and build point 4, through the operator: a ResourceBackup selecting
// Secrets into a Storage without encryption is refused with a status naming the Storage, and
// nothing runs; with allowUnencryptedSecrets it runs, and every snapshot shows the warning in
// the status and as a Warning event.
func TestResourceBackupSecretsNeedEncryption(t *testing.T) {
	b := newBed(t)
	ctx := context.Background()
	ns := b.namespace(t)
	require.NoError(t, b.k8s.Create(ctx, &arkivev1.Storage{ObjectMeta: objMeta(ns, "plain"), Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}}))
	require.NoError(t, b.k8s.Create(ctx, &corev1.Secret{ObjectMeta: objMeta(ns, "kafka-user"), StringData: map[string]string{"password": "pw"}}))
	rb := &arkivev1.ResourceBackup{ObjectMeta: objMeta(ns, "secrets"), Spec: arkivev1.ResourceBackupSpec{Storage: "plain",
		ResourceSelection: arkivev1.ResourceSelection{Resources: []arkivev1.ResourceType{{Kind: "Secret"}}}}}
	require.NoError(t, b.k8s.Create(ctx, rb))
	get := func() *arkivev1.ResourceBackup {
		var got arkivev1.ResourceBackup
		require.NoError(t, b.k8s.Get(ctx, types.NamespacedName{Namespace: ns, Name: "secrets"}, &got))
		return &got
	}
	eventually(t, 30*time.Second, "InvalidSpec naming the Storage", func() (bool, string) {
		c := meta.FindStatusCondition(get().Status.Conditions, arkivev1.ConditionWorkflowReady)
		return c != nil && c.Reason == arkivev1.ReasonInvalidSpec && strings.Contains(c.Message, "Storage plain has no encryption"), fmt.Sprintf("%+v", c)
	})
	id := workflows.WorkflowID("ResourceBackup", ns, "secrets")
	require.Nil(t, describeOrNil(b.temporal, id), "no workflow runs for a refused backup")

	edit(t, b, rb, func(rb *arkivev1.ResourceBackup) { rb.Spec.AllowUnencryptedSecrets = true })
	eventually(t, time.Minute, "a snapshot with the warning", func() (bool, string) {
		st := get().Status
		return st.LastSnapshot != "" && strings.Contains(st.Warning, "Secrets are stored without encryption"), fmt.Sprintf("%+v", st)
	})
	warnings := func() (int, string) {
		var events corev1.EventList
		require.NoError(t, b.k8s.List(ctx, &events, client.InNamespace(ns)))
		n, last := 0, ""
		for _, e := range events.Items {
			if e.Reason == "RunWarning" && e.Type == corev1.EventTypeWarning && e.InvolvedObject.Name == "secrets" {
				n += max(1, int(e.Count))
				if e.Series != nil {
					n += max(0, int(e.Series.Count)-1)
				}
				last = e.Message
			}
		}
		return n, last
	}
	eventually(t, 30*time.Second, "a Warning event for the first snapshot", func() (bool, string) {
		n, msg := warnings()
		return n == 1 && strings.Contains(msg, "Storage plain"), fmt.Sprint(n, msg)
	})
	first := get().Status.LastSnapshot
	require.NoError(t, b.temporal.SignalWorkflow(ctx, id, "", workflows.SignalTrigger, nil))
	eventually(t, time.Minute, "a second snapshot, and its own Warning event", func() (bool, string) {
		n, msg := warnings()
		return get().Status.LastSnapshot != first && n == 2, fmt.Sprint(n, msg)
	})
}
