package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/check"
)

// startWorker runs a worker on the real Temporal dev server on a task queue of its own.
func startWorker(t *testing.T, sr secrets.Resolver) (client.Client, string) {
	t.Helper()
	c, err := client.Dial(client.Options{HostPort: testenv.Temporal(t), Namespace: "default"})
	require.NoError(t, err, "connect to the Temporal dev server")
	t.Cleanup(c.Close)
	queue := fmt.Sprintf("arkive-test-%d", time.Now().UnixNano())
	w := worker.New(c, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return sr }})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return c, queue
}

func runCheck(t *testing.T, c client.Client, queue string, in check.Input) (check.Result, client.WorkflowRun) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{
		ID: workflows.WorkflowID("check-"+in.Kind, in.Namespace, in.Name) + fmt.Sprintf("-%d", time.Now().UnixNano()), TaskQueue: queue,
	}, check.WorkflowName, in)
	require.NoError(t, err)
	var res check.Result
	require.NoError(t, run.Get(ctx, &res))
	return res, run
}

func specJSON(t *testing.T, spec any) json.RawMessage {
	b, err := json.Marshal(spec)
	require.NoError(t, err)
	return b
}

// The connectivity check runs end to end: Temporal dev server → worker → MinIO / Kafka, and the
// secret it used never appears in the workflow's history.
func TestCheckConnectionOnDevServer(t *testing.T) {
	endpoint, id, secretKey := testenv.MinIOBucket(t, "arkive-check")
	bootstrap := testenv.Kafka(t)

	sr := secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": secretKey,
		"wrong#AWS_ACCESS_KEY_ID": id, "wrong#AWS_SECRET_ACCESS_KEY": "not-the-key"}
	c, queue := startWorker(t, sr)

	storageSpec := func(secret string) arkivev1.StorageSpec {
		return arkivev1.StorageSpec{S3: &arkivev1.S3Storage{Bucket: "arkive-check", Endpoint: endpoint, ForcePathStyle: true,
			CredentialsSecret: &arkivev1.S3Credentials{Name: secret}}}
	}
	res, run := runCheck(t, c, queue, check.Input{Kind: check.KindStorage, Namespace: "default", Name: "minio", Spec: specJSON(t, storageSpec("minio"))})
	require.True(t, res.OK, res.Message)

	// No secret value in input, result or history.
	requireNotInHistory(t, c, run.GetID(), run.GetRunID(), secretKey, `"credentialsSecret"`)
	recordHistory(t, c, run.GetID(), "check-storage")

	res, _ = runCheck(t, c, queue, check.Input{Kind: check.KindStorage, Namespace: "default", Name: "wrong", Spec: specJSON(t, storageSpec("wrong"))})
	require.False(t, res.OK)
	require.Contains(t, res.Message, "SignatureDoesNotMatch")

	res, _ = runCheck(t, c, queue, check.Input{Kind: check.KindKafkaCluster, Namespace: "default", Name: "kafka",
		Spec: specJSON(t, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}})})
	require.True(t, res.OK, res.Message)
	require.Contains(t, res.Message, "1 broker(s) reachable")

	res, _ = runCheck(t, c, queue, check.Input{Kind: check.KindKafkaCluster, Namespace: "default", Name: "bad",
		Spec: specJSON(t, arkivev1.KafkaClusterSpec{BootstrapServers: []string{bootstrap}, ClientOverrides: map[string]string{"acks": "all"}})})
	require.False(t, res.OK)
	require.Contains(t, res.Message, "spec.clientOverrides[acks]")
}
