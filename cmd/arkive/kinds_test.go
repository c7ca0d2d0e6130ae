package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	tclient "go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/operator"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows/check"
)

// registered records the workflow names worker.RegisterWorkflows registers.
type registered []string

func (r *registered) RegisterWorkflowWithOptions(_ any, o workflow.RegisterOptions) {
	*r = append(*r, o.Name)
}

// readDocs reads every document of a YAML file as unstructured objects.
func readDocs(t *testing.T, path string) []*unstructured.Unstructured {
	t.Helper()
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	var out []*unstructured.Unstructured
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
			return out
		} else {
			require.NoError(t, err, path)
		}
		if len(u.Object) > 0 {
			out = append(out, u)
		}
	}
}

// sampleOf is the sample file of a kind and its documents of that kind.
func sampleOf(t *testing.T, kind string) []*unstructured.Unstructured {
	t.Helper()
	path := filepath.Join("..", "..", "deploy", "samples", strings.ToLower(kind)+".yaml")
	_, err := os.Stat(path)
	require.NoError(t, err, "%s has a sample in deploy/samples", kind)
	docs := slices.DeleteFunc(readDocs(t, path), func(u *unstructured.Unstructured) bool { return u.GetKind() != kind })
	require.NotEmpty(t, docs, "deploy/samples/%s.yaml holds a %s", strings.ToLower(kind), kind)
	return docs
}

// Issue 13, acceptance 1: every kind of the table of kinds has all its pieces. A work kind:
// a CRD (whose names the CLI's match), a sample the real API server accepts, a generated docs
// page, its workflow registered with the worker under its constant name, a reconciler in the
// manager that starts that workflow for the sample, an `arkive run -f` path that starts it too,
// and status, pause, resume (and trigger for backups) through the CLI. A connection kind: a
// CRD, a sample, a docs page, and a reconciler that starts its connectivity check.
func TestEveryKindHasEveryPiece(t *testing.T) {
	all := []string{}
	for _, k := range kinds.Connections {
		all = append(all, k.Kind)
	}
	for _, k := range kinds.Works {
		all = append(all, k.Kind)
	}
	// CRDs, by kind, from the generated files.
	crds := map[string]apiextv1.CustomResourceDefinitionNames{}
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "crd", "arkive.io_*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var crd apiextv1.CustomResourceDefinition
		require.NoError(t, yaml.Unmarshal(data, &crd), f)
		crds[crd.Spec.Names.Kind] = crd.Spec.Names
	}
	var wfs registered
	worker.RegisterWorkflows(&wfs)
	for _, kind := range all {
		names, ok := crds[kind]
		require.True(t, ok, "%s has a CRD under deploy/crd (make manifests)", kind)
		_, err := os.Stat(filepath.Join("..", "..", "docs", "resources", strings.ToLower(kind)+".md"))
		require.NoError(t, err, "%s has a generated docs page (make docs)", kind)
		sampleOf(t, kind)
		if w := kinds.WorkKind(kind); w != nil {
			require.Equal(t, names.Plural, w.Plural, "%s: the table's plural is the CRD's", kind)
			require.Contains(t, names.ShortNames, w.Short, "%s: the table's short name is the CRD's", kind)
			require.Contains(t, wfs, w.Workflow, "%s: workflow %s is registered with the worker", kind, w.Workflow)
		}
	}
	require.Contains(t, wfs, check.WorkflowName)

	// The real API server with the CRDs, the real Temporal, a worker that runs workflows only
	// (activities stay scheduled, so every workflow keeps running and answers its status
	// query), and the operator.
	log.SetLogger(logr.Discard())
	env := &envtest.Environment{CRDDirectoryPaths: []string{filepath.Join("..", "..", "deploy", "crd")}, ErrorIfCRDPathMissing: true,
		BinaryAssetsDirectory: testenv.KubeAssets(t)}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	scheme := runtime.NewScheme()
	require.NoError(t, clientgoscheme.AddToScheme(scheme))
	require.NoError(t, arkivev1.AddToScheme(scheme))
	k8s, err := client.New(cfg, client.Options{Scheme: scheme})
	require.NoError(t, err)
	addr := testenv.Temporal(t)
	tc, err := tclient.Dial(tclient.Options{HostPort: addr})
	require.NoError(t, err)
	t.Cleanup(tc.Close)
	queue := fmt.Sprintf("kinds-%d", time.Now().UnixNano())
	w := sdkworker.New(tc, queue, sdkworker.Options{LocalActivityWorkerOnly: true})
	worker.RegisterWorkflows(w)
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	mgr, err := ctrl.NewManager(cfg, ctrl.Options{Scheme: scheme, Metrics: metricsserver.Options{BindAddress: "0"},
		Controller: config.Controller{SkipNameValidation: ptr.To(true)}})
	require.NoError(t, err)
	checkEvery := time.Hour
	require.NoError(t, operator.Setup(mgr, operator.Options{Temporal: tc, TaskQueue: queue, Interval: 300 * time.Millisecond, CheckInterval: checkEvery}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = mgr.Start(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	var started []string
	t.Cleanup(func() {
		for _, id := range started {
			_ = tc.TerminateWorkflow(context.Background(), id, "", "test done")
		}
	})
	// workflowOf waits for the workflow id to run the workflow type want.
	workflowOf := func(id, want, what string) {
		t.Helper()
		testenv.Eventually(t, 30*time.Second, fmt.Sprintf("%s: workflow %s runs %s", what, id, want), func() (bool, string) {
			resp, err := tc.DescribeWorkflowExecution(context.Background(), id, "")
			if err != nil {
				return false, err.Error()
			}
			got := resp.WorkflowExecutionInfo.Type.Name
			return resp.WorkflowExecutionInfo.Status == enumspb.WORKFLOW_EXECUTION_STATUS_RUNNING && got == want, got
		})
		started = append(started, id)
	}

	// Every sample, into namespaces of this test's own, with the Secrets its connections name.
	nsOp, nsRun := fmt.Sprintf("kinds-op-%d", time.Now().UnixNano()), fmt.Sprintf("kinds-run-%d", time.Now().UnixNano())
	for _, ns := range []string{nsOp, nsRun} {
		require.NoError(t, k8s.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}))
	}
	var file bytes.Buffer // every sample again, for arkive run -f
	for _, kind := range all {
		for _, u := range sampleOf(t, kind) {
			u.SetNamespace(nsOp)
			require.NoError(t, k8s.Create(ctx, u), "the API server accepts the sample %s %s", kind, u.GetName())
			if c := kinds.ConnectionKind(kind); c != nil {
				obj := c.New()
				require.NoError(t, runtime.DefaultUnstructuredConverter.FromUnstructured(u.Object, obj))
				for secret := range c.Secrets(obj) {
					err := k8s.Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: nsOp, Name: secret}, StringData: map[string]string{"x": "y"}})
					require.True(t, err == nil || strings.Contains(err.Error(), "already exists"), "%v", err)
				}
			}
			u.SetNamespace(nsRun)
			data, err := json.Marshal(u.Object)
			require.NoError(t, err)
			file.Write(append(data, '\n'))
		}
	}

	// The reconcilers: each work sample's workflow, each connection sample's check.
	for _, kind := range all {
		for _, u := range sampleOf(t, kind) {
			if k := kinds.WorkKind(kind); k != nil {
				workflowOf(k.WorkflowID(nsOp, u.GetName()), k.Workflow, "the operator's "+kind+" reconciler")
				continue
			}
			testenv.Eventually(t, 30*time.Second, "the operator's "+kind+" reconciler starts a connectivity check", func() (bool, string) {
				period := time.Now().Unix() / int64(checkEvery.Seconds())
				last := ""
				for _, p := range []int64{period, period - 1} {
					id := fmt.Sprintf("arkive/check-%s/%s/%s/g%d-p%d", strings.ToLower(kind), nsOp, u.GetName(), 1, p)
					_, err := tc.DescribeWorkflowExecution(context.Background(), id, "")
					if err == nil {
						started = append(started, id)
						return true, ""
					}
					last = err.Error()
				}
				return false, last
			})
		}
	}

	// arkive run -f with every sample: it starts each work sample's workflow.
	path := filepath.Join(t.TempDir(), "all.yaml")
	require.NoError(t, os.WriteFile(path, file.Bytes(), 0o600))
	out, errOut, err := runCLI("run", "-f", path, "--no-worker", "--temporal-address", addr, "--task-queue", queue)
	require.NoError(t, err, errOut)
	for _, k := range kinds.Works {
		for _, u := range sampleOf(t, k.Kind) {
			id := k.WorkflowID(nsRun, u.GetName())
			require.Contains(t, out, id+" started", "arkive run -f starts %s", k.Kind)
			workflowOf(id, k.Workflow, "arkive run -f")

			// The CLI, by kind, plural and short name.
			tf := []string{"-n", nsRun, "--temporal-address", addr, "--task-queue", queue}
			// Every sample's workflow started at once on one workflow worker: under the suite's
			// load its first task can take longer than status waits for an answer (10 s), and
			// status then prints what Temporal knows instead. So ask again until it answers.
			testenv.Eventually(t, time.Minute, "arkive status "+k.Kind+" prints the status query", func() (bool, string) {
				out, errOut, err := runCLI(append([]string{"status", strings.ToLower(k.Kind) + "/" + u.GetName(), "-o", "json"}, tf...)...)
				if err != nil {
					return false, err.Error() + ": " + errOut
				}
				var st map[string]any
				require.NoError(t, json.Unmarshal([]byte(out), &st), "arkive status -o json %s prints JSON and nothing else: %s", k.Kind, out)
				_, answered := st["phase"]
				return answered, out
			})
			for _, sig := range []struct{ signal, kind string }{{"pause", k.Plural}, {"resume", k.Short}, {"trigger", k.Kind}} {
				out, _, err := runCLI(append([]string{sig.signal, sig.kind + "/" + u.GetName()}, tf...)...)
				if sig.signal == "trigger" && k.RunsOnce {
					require.ErrorContains(t, err, "nothing to trigger", "a %s is not triggered", k.Kind)
					continue
				}
				require.NoError(t, err, "arkive %s %s", sig.signal, k.Kind)
				require.Contains(t, out, "sent "+sig.signal+" to "+id)
			}
		}
	}
}
