package worker_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/converter"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/workflow"

	"arkive.io/arkive/activities/schemaregistry"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
)

// Issue 13, acceptance 4: a Schema Registry restore whose plan takes longer than its
// activities' heartbeat timeout still completes, because the plan heartbeats while it reads the
// target. The workflow runs in the time-skipping test environment with the real activities; the
// target answers nothing until the heartbeat timeout and five seconds have passed (the test
// environment measures heartbeat timeouts in real time). Without the plan's heartbeat its first
// attempt times out and the restore does not finish within the test's limit.
func TestSchemaRestorePlanLongerThanHeartbeatTimeoutCompletes(t *testing.T) {
	t.Parallel() // waits on intervals and timeouts, nearly idle: overlapped with the other waiting tests
	src := registrytest.New()
	srcURL := src.Start(t)
	populate(t, registryAPI{t: t, base: srcURL}, 3)
	acts := &schemaregistry.Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	storage, err := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}})
	require.NoError(t, err)
	conn := func(url string) workflows.RegistryConnection {
		reg, err := json.Marshal(registrySpec(url, ""))
		require.NoError(t, err)
		return workflows.RegistryConnection{Namespace: "default", Backup: "default/slow", Registry: reg, Storage: storage}
	}
	taken := time.Now()
	snap, err := acts.Snapshot(context.Background(), schemabackup.SnapshotInput{Connection: conn(srcURL), ID: schemabackup.SnapshotID(taken, 1), Time: taken})
	require.NoError(t, err)
	require.True(t, snap.Stored)

	// The slow target: every request that arrives before slowUntil waits until then.
	dst := registrytest.New()
	var slowUntil time.Time
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Until(slowUntil)):
		case <-r.Context().Done():
			return
		}
		dst.ServeHTTP(w, r)
	}))
	t.Cleanup(slow.Close)

	var s testsuite.WorkflowTestSuite
	env := s.NewTestWorkflowEnvironment()
	env.SetTestTimeout(schemarestore.HeartbeatTimeout + time.Minute)
	env.RegisterWorkflowWithOptions(schemarestore.SchemaRegistryRestore, workflow.RegisterOptions{Name: schemarestore.WorkflowName})
	env.RegisterActivityWithOptions(acts.PlanRestore, activity.RegisterOptions{Name: schemarestore.ActivityPlan})
	env.RegisterActivityWithOptions(acts.SetMode, activity.RegisterOptions{Name: schemarestore.ActivitySetMode})
	env.RegisterActivityWithOptions(acts.Import, activity.RegisterOptions{Name: schemarestore.ActivityImport})
	plans := 0
	env.SetOnActivityStartedListener(func(info *activity.Info, _ context.Context, _ converter.EncodedValues) {
		if info.ActivityType.Name == schemarestore.ActivityPlan {
			plans++
		}
	})
	started := time.Now()
	slowUntil = started.Add(schemarestore.HeartbeatTimeout + 5*time.Second)
	env.ExecuteWorkflow(schemarestore.SchemaRegistryRestore, schemarestore.Input{Connection: conn(slow.URL)})
	require.True(t, env.IsWorkflowCompleted())
	require.NoError(t, env.GetWorkflowError())
	var st schemarestore.Status
	require.NoError(t, env.GetWorkflowResult(&st))
	require.Equal(t, schemarestore.PhaseDone, st.Phase, "%s: %s", st.Reason, st.LastError)
	require.Equal(t, snap.Versions, st.VersionsRestored)
	require.Equal(t, 1, plans, "the plan ran once: no attempt timed out")
	require.Greater(t, time.Since(started), schemarestore.HeartbeatTimeout, "the plan took longer than the heartbeat timeout")
}
