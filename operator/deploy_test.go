package operator_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"arkive.io/arkive/internal/testenv"
)

// The kustomize base and its overlay build and are accepted by a real kube-apiserver (server
// side dry run), with the generated CRDs and RBAC in them.
func TestKustomizeAppliesOnTheAPIServer(t *testing.T) {
	_, run := apiServer(t)
	// CRDs first for real (a dry run cannot register kinds for the objects after them) and the
	// namespace; then everything as a server-side dry run.
	run("", "apply", "--server-side", "-k", "../deploy/crd")
	run("", "create", "namespace", "arkive")
	both := "testdata/temporal-mtls-and-api-key" // both Temporal security components at once
	wants := map[string][]string{
		"../deploy/overlays/secure-temporal": {"ARKIVE_TEMPORAL_TLS_CA: /etc/arkive/temporal-mtls/ca.crt", "secretName: arkive-temporal-mtls"},
		both:                                 {"ARKIVE_TEMPORAL_TLS_KEY", "ARKIVE_TEMPORAL_API_KEY: /etc/arkive/temporal-api-key/api-key", "secretName: arkive-temporal-api-key"},
	}
	for _, dir := range []string{"../deploy/base", "../deploy/overlays/volume-storage", "../deploy/overlays/secure-temporal", both} {
		manifests := run("", "kustomize", dir)
		for _, want := range append([]string{"kind: ClusterRole", "name: arkive-operator", "name: arkive-worker", "kind: CustomResourceDefinition", "ARKIVE_TEMPORAL_ADDRESS"}, wants[dir]...) {
			require.Contains(t, manifests, want, dir)
		}
		// The worker takes its memory cap from its container's limit, so a changed limit
		// changes the cap: a fixed --max-memory above a lowered limit gets the Pod killed.
		require.NotContains(t, manifests, "--max-memory", dir)
		out := run(manifests, "apply", "--dry-run=server", "-f", "-")
		require.Contains(t, out, "deployment.apps/arkive-operator created (server dry run)", dir)
		require.Contains(t, out, "deployment.apps/arkive-worker created (server dry run)", dir)
	}
}

// apiServer starts a real API server without CRDs and returns its admin config and kubectl as
// its admin (system:masters): run(stdin, args...) fails the test on an error.
func apiServer(t *testing.T) (*rest.Config, func(stdin string, args ...string) string) {
	t.Helper()
	assets := testenv.KubeAssets(t)
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kubeconfig, err := user.KubeConfig()
	require.NoError(t, err)
	kcfg := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kcfg, kubeconfig, 0o600))
	return cfg, func(stdin string, args ...string) string {
		cmd := exec.Command(filepath.Join(assets, "kubectl"), append([]string{"--kubeconfig", kcfg}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "kubectl %v: %s", args, out)
		return string(out)
	}
}

// applySamples creates the objects of deploy/samples/<file>.yaml for each file, in namespace
// ns when it is not empty (else in the samples' own).
func applySamples(t *testing.T, c client.Client, ns string, files ...string) {
	t.Helper()
	for _, f := range files {
		data, err := os.ReadFile(filepath.Join("..", "deploy", "samples", f+".yaml"))
		require.NoError(t, err)
		dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			u := &unstructured.Unstructured{}
			if err := dec.Decode(&u.Object); errors.Is(err, io.EOF) {
				break
			} else {
				require.NoError(t, err)
			}
			if ns != "" {
				u.SetNamespace(ns)
			}
			require.NoError(t, c.Create(context.Background(), u), "%s: %s", f, u.GetName())
		}
	}
}
