package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"arkive.io/arkive/activities/kube"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/resourcebackup"
)

// Issue 14, build point 6: inspect lists a resource backup's snapshots and (with the key) a
// snapshot's objects; verify checks every object's hash and reports a damaged chunk or the
// wrong key; export prints one object as YAML, as it was stored.
func TestResourceSnapshotsThroughTheCLI(t *testing.T) {
	cfg, cs := startKube(t)
	ctx := context.Background()
	ns := "cli-resources"
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "broker"}, Data: map[string]string{"server.properties": "broker.id=3"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "user"}, Data: map[string][]byte{"password": []byte("hunter2")}}, metav1.CreateOptions{})
	require.NoError(t, err)

	dir, keyDir := t.TempDir(), t.TempDir()
	const key = "0123456789abcdef0123456789abcdef"
	keyFile, wrongKey := filepath.Join(keyDir, "key"), filepath.Join(keyDir, "wrong")
	require.NoError(t, os.WriteFile(keyFile, []byte(key), 0o600))
	require.NoError(t, os.WriteFile(wrongKey, []byte("fedcba9876543210fedcba9876543210"), 0o600))
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "k", Key: "key"}}}}
	st.Name = "s"
	rb := &arkivev1.ResourceBackup{Spec: arkivev1.ResourceBackupSpec{Storage: "s",
		ResourceSelection: arkivev1.ResourceSelection{Namespaces: []string{ns}, Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}, {Kind: "Secret"}}}}}
	rb.Name, rb.Namespace = "platform", "kafka"
	in, err := specs.ResourceBackupInput(rb, st)
	require.NoError(t, err)
	acts := &kube.Activities{Config: cfg, Secrets: func(string) secrets.Resolver { return secrets.Map{"k#key": key} }}
	res, err := acts.Snapshot(ctx, resourcebackup.SnapshotInput{Connection: in.Connection, Spec: in.Spec, ID: "20261202T080000Z-000001", Time: time.Now()})
	require.NoError(t, err)
	require.Equal(t, 3, res.Objects) // the namespace, the ConfigMap, the Secret

	storage := "file://" + dir
	out, _, err := runCLI("inspect", "--storage", storage)
	require.NoError(t, err)
	require.Contains(t, out, "resource backup kafka/platform  (1 snapshots)")
	require.Regexp(t, `20261202T080000Z-000001\s+\S+\s+3\s+1\s+1\s+.*true`, out)
	_, _, err = runCLI("inspect", "--storage", storage, "--snapshot", "newest")
	require.ErrorContains(t, err, "is encrypted: give --key-file")
	out, _, err = runCLI("inspect", "--storage", storage, "--snapshot", "newest", "--key-file", keyFile)
	require.NoError(t, err)
	require.Regexp(t, `Secret\s+cli-resources\s+user`, out)
	require.Regexp(t, `ConfigMap\s+cli-resources\s+broker`, out)
	require.Regexp(t, `Namespace\s+-\s+cli-resources`, out)

	out, _, err = runCLI("verify", "--storage", storage, "--backup", "kafka/platform", "--key-file", keyFile)
	require.NoError(t, err)
	require.Contains(t, out, "resource backup kafka/platform is whole: 1 snapshots, 3 objects")

	out, _, err = runCLI("export", "--storage", storage, "--backup", "kafka/platform", "--key-file", keyFile, "--object", "ConfigMap/"+ns+"/broker")
	require.NoError(t, err)
	var cm corev1.ConfigMap
	require.NoError(t, yaml.UnmarshalStrict([]byte(out), &cm), out)
	require.Equal(t, "broker.id=3", cm.Data["server.properties"])
	require.Equal(t, "ConfigMap", cm.Kind)
	_, _, err = runCLI("export", "--storage", storage, "--backup", "kafka/platform", "--key-file", keyFile, "--object", "ConfigMap/"+ns+"/nope")
	require.ErrorContains(t, err, "holds no ConfigMap/"+ns+"/nope")

	// The wrong key, then a damaged chunk: verify names the problem and fails.
	out, _, err = runCLI("verify", "--storage", storage, "--backup", "kafka/platform", "--key-file", wrongKey)
	require.Error(t, err)
	require.Contains(t, out, "PROBLEM snapshot 20261202T080000Z-000001")
	require.Contains(t, out, "not the one the object was encrypted with")
	chunk := filepath.Join(dir, "resources", "kafka", "platform", "snapshots", "20261202T080000Z-000001", archive.ChunkName(0))
	data, err := os.ReadFile(chunk)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, os.WriteFile(chunk, data, 0o600))
	out, _, err = runCLI("verify", "--storage", storage, "--backup", "kafka/platform", "--key-file", keyFile)
	require.Error(t, err)
	require.True(t, strings.Contains(out, "PROBLEM snapshot 20261202T080000Z-000001") && strings.Contains(out, "checksum"), out)
}
