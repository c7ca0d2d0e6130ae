package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/zookeeperbackup"
)

// Issue 16, acceptance 6 (the restart): a ZooKeeper server of its own restarts (SIGKILL, then
// started again on its data) while a backup walks its tree. The backup recovers on its own and
// stores a whole snapshot, and marks it honestly: consistent only if its walk began after the
// restart and nothing changed during it, fuzzy otherwise.
func TestZooKeeperBackupRecoversFromServerRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("long fault test")
	}
	t.Parallel() // mostly waiting for heartbeat timeouts and restarts: overlapped with the other fault tests
	const port, nodes = "23181", 30_000
	bed := ownBed(t, port, "ARKIVE_ZOOKEEPER_PORT="+port)
	bed.servers("start", "zookeeper")
	server := "127.0.0.1:" + port
	c, events, err := zk.Connect([]string{server}, 30*time.Second, zk.WithLogInfo(false))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	for ev := range events {
		if ev.State == zk.StateHasSession {
			break
		}
	}
	open := zk.WorldACL(zk.PermAll)
	var ops []any
	for i := range nodes {
		p := fmt.Sprintf("/n%d", i/100)
		if i%100 != 0 {
			p += fmt.Sprintf("/c%d", i%100)
		}
		ops = append(ops, &zk.CreateRequest{Path: p, Data: fmt.Appendf(nil, "%d:%01000d", i, i), Acl: open})
		if len(ops) == 400 {
			_, err := c.Multi(ops...)
			require.NoError(t, err)
			ops = ops[:0]
		}
	}
	c.Close()

	dir := t.TempDir()
	st := &arkivev1.Storage{Spec: arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}}
	st.Name = "s"
	e := &arkivev1.ZooKeeperEnsemble{Spec: arkivev1.ZooKeeperEnsembleSpec{Servers: []string{server},
		SessionTimeout: &metav1.Duration{Duration: 4 * time.Second}}}
	e.Name = "private"
	zb := &arkivev1.ZooKeeperBackup{Spec: arkivev1.ZooKeeperBackupSpec{Storage: "s", Ensemble: "private", Parallelism: 1}}
	zb.Name, zb.Namespace = fmt.Sprintf("restart%d", time.Now().UnixNano()%1e9), "default"
	in, err := specs.ZooKeeperBackupInput(zb, e, st)
	require.NoError(t, err)
	tc, err := client.Dial(client.Options{HostPort: testenv.Temporal(t)})
	require.NoError(t, err)
	defer tc.Close()
	queue := "zkrestart-" + zb.Name
	w := worker.New(tc, worker.Options{TaskQueue: queue, Secrets: func(string) secrets.Resolver { return secrets.Map{} }})
	require.NoError(t, w.Start())
	defer w.Stop()
	wid := workflows.WorkflowID("ZooKeeperBackup", "default", zb.Name)
	_, err = tc.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: queue}, zookeeperbackup.WorkflowName, zookeeperbackup.RunInput{Input: in})
	require.NoError(t, err)
	defer func() { _ = tc.TerminateWorkflow(context.Background(), wid, "", "test done") }()

	// The restart lands mid-walk: once the first chunk of the snapshot is stored.
	chunks := filepath.Join(dir, "zookeeper", "default", zb.Name, "snapshots")
	testenv.Eventually(t, time.Minute, "the walk has stored its first chunk", func() (bool, string) {
		m, _ := filepath.Glob(filepath.Join(chunks, "*", "000000.jsonl.zst"))
		return len(m) > 0, ""
	})
	bed.servers("kill", "zookeeper")
	bed.servers("start", "zookeeper")
	restarted := zkZxid(t, server)

	var s zookeeperbackup.Status
	testenv.Eventually(t, 3*time.Minute, "a snapshot after the restart", func() (bool, string) {
		v, err := tc.QueryWorkflow(context.Background(), wid, "", workflows.QueryStatus)
		if err != nil {
			return false, err.Error()
		}
		s = zookeeperbackup.Status{}
		require.NoError(t, v.Get(&s))
		require.NotEqual(t, zookeeperbackup.PhaseError, s.Phase, s.LastError)
		return s.LastSnapshot != "", fmt.Sprintf("%s %s %s", s.Phase, s.Reason, s.LastError)
	})
	require.Len(t, s.Listed, 1)
	snap := s.Listed[0]
	t.Logf("snapshot %+v; server zxid after the restart %#x", snap, restarted)
	require.Equal(t, nodes+1, snap.Nodes, "every node and the root")
	if snap.Consistency == zookeeperbackup.Consistent {
		require.GreaterOrEqual(t, snap.StartZxid, restarted, "a consistent snapshot's walk began after the restart")
		require.Equal(t, snap.StartZxid, snap.EndZxid)
	} else {
		require.Equal(t, zookeeperbackup.Fuzzy, snap.Consistency)
		require.Contains(t, s.Warning, "fuzzy")
	}
}

// zkZxid reads a server's last zxid with the srvr four-letter word.
func zkZxid(t *testing.T, server string) int64 {
	t.Helper()
	var z int64
	testenv.Eventually(t, time.Minute, "the server answers srvr", func() (bool, string) {
		conn, err := net.DialTimeout("tcp", server, 5*time.Second)
		if err != nil {
			return false, err.Error()
		}
		defer conn.Close()
		// Bounded: a server still starting can fail to close a four-letter-word connection.
		_ = conn.SetDeadline(time.Now().Add(3 * time.Second))
		if _, err := conn.Write([]byte("srvr")); err != nil {
			return false, err.Error()
		}
		out, _ := io.ReadAll(conn)
		m := regexp.MustCompile(`Zxid: 0x([0-9a-f]+)`).FindSubmatch(out)
		if m == nil {
			return false, string(out)
		}
		z, err = strconv.ParseInt(string(m[1]), 16, 64)
		return err == nil, fmt.Sprint(err)
	})
	return z
}
