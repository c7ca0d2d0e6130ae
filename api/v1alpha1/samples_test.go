package v1alpha1_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/yaml"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
)

// Every sample in deploy/samples (which the docs show) decodes strictly into its Go type, so no
// field is misspelt, and the real kube-apiserver accepts it under the generated CRDs.
func TestSamplesAreValid(t *testing.T) {
	c := startAPIServer(t)
	ctx := context.Background()
	for _, name := range []string{"kafka", "3scale"} {
		ns := &unstructured.Unstructured{}
		ns.SetAPIVersion("v1")
		ns.SetKind("Namespace")
		ns.SetName(name)
		require.NoError(t, c.Create(ctx, ns))
	}
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "samples", "*.yaml"))
	require.NoError(t, err)
	require.NotEmpty(t, files)
	scheme := runtime.NewScheme()
	require.NoError(t, arkivev1.AddToScheme(scheme))
	kinds := map[string]bool{}
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
		for {
			var raw json.RawMessage
			if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
				break
			}
			require.NoError(t, err, f)
			u := &unstructured.Unstructured{}
			require.NoError(t, u.UnmarshalJSON(raw), f)
			obj, err := scheme.New(u.GroupVersionKind())
			require.NoError(t, err, "%s: kind %s", f, u.GetKind())
			strict := json.NewDecoder(bytes.NewReader(raw))
			strict.DisallowUnknownFields()
			require.NoError(t, strict.Decode(obj), "%s: %s/%s has a field its type does not know", f, u.GetKind(), u.GetName())
			require.NoError(t, c.Create(ctx, u), "%s: the API server refuses %s/%s", f, u.GetKind(), u.GetName())
			kinds[u.GetKind()] = true
		}
	}
	for _, k := range []string{"KafkaCluster", "Storage", "KafkaBackup", "KafkaRestore", "SchemaRegistry", "SchemaRegistryBackup", "SchemaRegistryRestore", "ResourceBackup", "ResourceRestore"} {
		require.True(t, kinds[k], "deploy/samples has a %s", k)
	}
}
