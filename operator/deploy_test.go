package operator_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/controller-runtime/pkg/envtest"

	"arkive.io/arkive/internal/testenv"
)

// The kustomize base and its overlay build and are accepted by a real kube-apiserver (server
// side dry run), with the generated CRDs and RBAC in them.
func TestKustomizeAppliesOnTheAPIServer(t *testing.T) {
	assets := testenv.KubeAssets(t)
	env := &envtest.Environment{BinaryAssetsDirectory: assets}
	_, err := env.Start()
	require.NoError(t, err)
	defer func() { _ = env.Stop() }()
	user, err := env.AddUser(envtest.User{Name: "admin", Groups: []string{"system:masters"}}, nil)
	require.NoError(t, err)
	kubeconfig, err := user.KubeConfig()
	require.NoError(t, err)
	kcfg := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, os.WriteFile(kcfg, kubeconfig, 0o600))
	kubectl := filepath.Join(assets, "kubectl")

	run := func(stdin string, args ...string) string {
		cmd := exec.Command(kubectl, append([]string{"--kubeconfig", kcfg}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "kubectl %v: %s", args, out)
		return string(out)
	}
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
		out := run(manifests, "apply", "--dry-run=server", "-f", "-")
		require.Contains(t, out, "deployment.apps/arkive-operator created (server dry run)", dir)
		require.Contains(t, out, "deployment.apps/arkive-worker created (server dry run)", dir)
	}
}
