package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/require"

	"arkive.io/arkive/activities/zookeeper"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/zookeeperbackup"
)

// Issue 16, build point 5: inspect lists a ZooKeeper backup's snapshots (consistency and zxid
// range) and, with the key, a snapshot's nodes; verify checks every chunk and reports a damaged
// one; export writes a subtree as JSON lines, with base64 for data that is not UTF-8.
func TestZooKeeperSnapshotsThroughTheCLI(t *testing.T) {
	server := testenv.ZooKeeper(t)
	c, events, err := zk.Connect([]string{server}, 30*time.Second, zk.WithLogInfo(false))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	for ev := range events {
		if ev.State == zk.StateHasSession {
			break
		}
	}
	root := fmt.Sprintf("/cli-%d", time.Now().UnixNano())
	open := zk.WorldACL(zk.PermAll)
	for _, n := range []struct { // parents first
		path string
		data []byte
	}{{"", nil}, {"/config", []byte("text")}, {"/config/topics", []byte(`{"v":1}`)}, {"/config/binary", []byte{0xff, 0x00, 0xfe}}, {"/brokers", nil}} {
		_, err := c.Create(root+n.path, n.data, 0, open)
		require.NoError(t, err)
	}

	dir, keyDir := t.TempDir(), t.TempDir()
	const key = "0123456789abcdef0123456789abcdef"
	keyFile := filepath.Join(keyDir, "key")
	require.NoError(t, os.WriteFile(keyFile, []byte(key), 0o600))
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "k", Key: "key"}}}}
	st.Name = "s"
	e := &arkivev1.ZooKeeperEnsemble{Spec: arkivev1.ZooKeeperEnsembleSpec{Servers: []string{server}, Chroot: root}}
	e.Name = "zk"
	zb := &arkivev1.ZooKeeperBackup{Spec: arkivev1.ZooKeeperBackupSpec{Storage: "s", Ensemble: "zk"}}
	zb.Name, zb.Namespace = "tree", "kafka"
	in, err := specs.ZooKeeperBackupInput(zb, e, st)
	require.NoError(t, err)
	acts := &zookeeper.Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{"k#key": key} }}
	res, err := acts.Snapshot(context.Background(), zookeeperbackup.SnapshotInput{Connection: in.Connection, Spec: in.Spec, ID: "20261202T080000Z-000001", Time: time.Now()})
	require.NoError(t, err)
	require.Equal(t, 5, res.Nodes)

	storage := "file://" + dir
	out, _, err := runCLI("inspect", "--storage", storage)
	require.NoError(t, err)
	require.Contains(t, out, "zookeeper backup kafka/tree  (1 snapshots)")
	require.Regexp(t, `20261202T080000Z-000001\s+\S+\s+5\s+consistent\s+0x[0-9a-f]+-0x[0-9a-f]+\s+.*true`, out)
	out, _, err = runCLI("inspect", "--storage", storage, "--snapshot", "newest", "--key-file", keyFile)
	require.NoError(t, err)
	require.Regexp(t, `/config/binary\s+persistent\s+3 B\s+world:anyone`, out)
	require.Regexp(t, `/brokers\s+persistent\s+null`, out)

	out, _, err = runCLI("verify", "--storage", storage, "--backup", "kafka/tree", "--key-file", keyFile)
	require.NoError(t, err)
	require.Contains(t, out, "zookeeper backup kafka/tree is whole: 1 snapshots, 5 nodes")

	out, _, err = runCLI("export", "--storage", storage, "--backup", "kafka/tree", "--key-file", keyFile, "--znode", "/config")
	require.NoError(t, err)
	var lines []map[string]any
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		var m map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &m))
		lines = append(lines, m)
	}
	require.Len(t, lines, 3, out)
	require.Equal(t, "/config", lines[0]["path"], "parents first")
	byPath := map[string]map[string]any{}
	for _, l := range lines {
		byPath[l["path"].(string)] = l
	}
	require.Equal(t, "text", byPath["/config"]["data"])
	require.Equal(t, "/wD+", byPath["/config/binary"]["dataBase64"])
	require.NotContains(t, byPath["/config/binary"], "data")
	_, _, err = runCLI("export", "--storage", storage, "--backup", "kafka/tree", "--key-file", keyFile, "--znode", "/nope")
	require.ErrorContains(t, err, "holds no node /nope")

	chunk := filepath.Join(dir, "zookeeper", "kafka", "tree", "snapshots", "20261202T080000Z-000001", "000000.jsonl.zst")
	data, err := os.ReadFile(chunk)
	require.NoError(t, err)
	data[len(data)/2] ^= 0xff
	require.NoError(t, os.WriteFile(chunk, data, 0o600))
	out, _, err = runCLI("verify", "--storage", storage, "--backup", "kafka/tree", "--key-file", keyFile)
	require.Error(t, err)
	require.Contains(t, out, "PROBLEM snapshot 20261202T080000Z-000001")
	require.Contains(t, out, "SHA-256 differs from the manifest's")
}
