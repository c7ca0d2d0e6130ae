package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gocloud.dev/blob"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

// The digest identity the ZooKeeper tests write ACLs for; zkWrongPassword must appear in no
// history.
const (
	zkUser          = "arkive"
	zkPassword      = "zk-digest-pass-7c1d"
	zkWrongPassword = "zk-wrong-pass-41aa"
)

// zkBed is Temporal, MinIO (an encrypted Storage), two real ZooKeeper servers (3.9 as the
// source, 3.8 as the target, each test under chroots of its own) and a worker.
type zkBed struct {
	c       client.Client
	queue   string
	storage *arkivev1.Storage
	sr      secrets.Map
	src     string // host:port of the source server
	dst     string // host:port of the target server
	id      int64
}

func newZKBed(t testing.TB) *zkBed {
	t.Helper()
	b := &zkBed{src: testenv.ZooKeeper(t), dst: testenv.ZooKeeper38(t), id: time.Now().UnixNano()}
	endpoint, id, secretKey := testenv.MinIOBucket(t, "arkive-zookeeper")
	b.sr = secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": secretKey,
		"backup-key#key": "0123456789abcdef0123456789abcdef",
		"zk#username":    zkUser, "zk#password": zkPassword, "zk-wrong#username": zkUser, "zk-wrong#password": zkWrongPassword}
	b.storage = &arkivev1.Storage{ObjectMeta: metav1.ObjectMeta{Name: "minio", Namespace: "arkive"}, Spec: arkivev1.StorageSpec{
		S3:         &arkivev1.S3Storage{Bucket: "arkive-zookeeper", Endpoint: endpoint, ForcePathStyle: true, CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"}},
		Prefix:     fmt.Sprintf("t%d/", b.id),
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "backup-key", Key: "key"}},
	}}
	var err error
	b.c, err = client.Dial(client.Options{HostPort: testenv.Temporal(t)})
	require.NoError(t, err)
	t.Cleanup(b.c.Close)
	b.queue = fmt.Sprintf("zookeeper-%d", b.id)
	w := worker.New(b.c, worker.Options{TaskQueue: b.queue, Secrets: func(string) secrets.Resolver { return b.sr }})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return b
}

// conn is a session on server authenticated as the test's digest user.
func zkConn(t testing.TB, server string) *zk.Conn {
	t.Helper()
	c, events, err := zk.Connect([]string{server}, 30*time.Second, zk.WithLogInfo(false))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	for ev := range events {
		if ev.State == zk.StateHasSession {
			break
		}
	}
	require.NoError(t, c.AddAuth("digest", []byte(zkUser+":"+zkPassword)))
	return c
}

// ensemble is a ZooKeeperEnsemble on server under chroot, authenticated with the digest Secret.
func (b *zkBed) ensemble(name, server, chroot, secret string) *arkivev1.ZooKeeperEnsemble {
	e := &arkivev1.ZooKeeperEnsemble{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "arkive"},
		Spec: arkivev1.ZooKeeperEnsembleSpec{Servers: []string{server}, Chroot: chroot}}
	if secret != "" {
		e.Spec.Digest = &arkivev1.BasicAuth{SecretName: secret}
	}
	return e
}

// chroot makes an empty node for a test's tree and returns its path. Trees stay until the
// servers restart (hack/servers.sh start begins with empty ones).
func (b *zkBed) chroot(t testing.TB, c *zk.Conn, name string) string {
	t.Helper()
	p := fmt.Sprintf("/%s-%d", name, b.id)
	_, err := c.Create(p, nil, 0, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	return p
}

// startBackup starts a ZooKeeperBackup workflow and returns its id.
func (b *zkBed) startBackup(t *testing.T, name string, e *arkivev1.ZooKeeperEnsemble, spec arkivev1.ZooKeeperBackupSpec) string {
	t.Helper()
	zb := &arkivev1.ZooKeeperBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "arkive"}, Spec: spec}
	zb.Spec.Storage, zb.Spec.Ensemble = b.storage.Name, e.Name
	in, err := specs.ZooKeeperBackupInput(zb, e, b.storage)
	require.NoError(t, err)
	wid := workflows.WorkflowID("ZooKeeperBackup", "arkive", fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	_, err = b.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: b.queue}, zookeeperbackup.WorkflowName, zookeeperbackup.RunInput{Input: in})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	return wid
}

// backup takes one snapshot and returns the workflow's status after it.
func (b *zkBed) backup(t *testing.T, name string, e *arkivev1.ZooKeeperEnsemble, spec arkivev1.ZooKeeperBackupSpec) zookeeperbackup.Status {
	t.Helper()
	wid := b.startBackup(t, name, e, spec)
	st := waitForStatus(t, b.c, wid, func(s zookeeperbackup.Status) bool {
		return s.LastSnapshot != "" || s.Phase == zookeeperbackup.PhaseError
	})
	require.Equal(t, zookeeperbackup.PhaseRunning, st.Phase, st.LastError)
	return st
}

// restore runs a ZooKeeperRestore to its end.
func (b *zkBed) restore(t *testing.T, backup string, e *arkivev1.ZooKeeperEnsemble, spec arkivev1.ZooKeeperRestoreSpec) (zookeeperrestore.Status, string, error) {
	t.Helper()
	zr := &arkivev1.ZooKeeperRestore{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "arkive"}, Spec: spec}
	zr.Spec.Source.Storage, zr.Spec.Source.Backup, zr.Spec.Ensemble = b.storage.Name, backup, e.Name
	in, err := specs.ZooKeeperRestoreInput(zr, b.storage, e)
	require.NoError(t, err)
	wid := workflows.WorkflowID("ZooKeeperRestore", "arkive", fmt.Sprintf("r-%d", time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	run, err := b.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: b.queue}, zookeeperrestore.WorkflowName, in)
	require.NoError(t, err)
	var st zookeeperrestore.Status
	err = run.Get(ctx, &st)
	if err != nil {
		v, qerr := b.c.QueryWorkflow(ctx, wid, run.GetRunID(), workflows.QueryStatus)
		require.NoError(t, qerr)
		require.NoError(t, v.Get(&st))
	}
	return st, wid, err
}

// snapshotNodes reads a stored snapshot's nodes back.
func (b *zkBed) snapshotNodes(t *testing.T, backup, id string) (*archive.ZooKeeperSnapshotRef, []archive.ZNode) {
	t.Helper()
	ctx := context.Background()
	store, err := blobstore.Open(ctx, b.storage.Spec, b.sr)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.ZooKeeper(backup)
	require.NoError(t, err)
	m, err := backups.ZooKeeperManifest(ctx, store, layout)
	require.NoError(t, err)
	require.NotNil(t, m)
	ref := m.Find(id)
	require.NotNil(t, ref, "snapshot %s is in the manifest", id)
	key := []byte(b.sr["backup-key#key"])
	var nodes []archive.ZNode
	require.NoError(t, backups.ZNodes(ctx, store, *ref, key, 0, func(_ int, ns []archive.ZNode) error {
		nodes = append(nodes, ns...)
		return nil
	}))
	return ref, nodes
}

// kazooNode is one line of worker/testdata/kazoo_dump.py.
type kazooNode struct {
	Path      string  `json:"path"`
	Data      *string `json:"data"`
	ACL       [][]any `json:"acl"`
	Ephemeral bool    `json:"ephemeral"`
	Children  int     `json:"children"`
}

// kazooDump reads a subtree with kazoo, a client we did not write.
func kazooDump(t *testing.T, server, root string) map[string]kazooNode {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, testenv.Kazoo(t), "testdata/kazoo_dump.py", server, root, zkUser+":"+zkPassword).Output()
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		t.Fatalf("kazoo dump: %v: %s", err, ee.Stderr)
	}
	require.NoError(t, err)
	nodes := map[string]kazooNode{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(nil, 4<<20)
	for sc.Scan() {
		var n kazooNode
		require.NoError(t, json.Unmarshal(sc.Bytes(), &n))
		nodes[n.Path] = n
	}
	require.NoError(t, sc.Err())
	return nodes
}

// seedTree makes about n nodes under root: ten top-level nodes with four children each, level
// by level down to depth 8, data of every shape (text, empty, null, bytes that are not UTF-8, a
// few of 1 MiB − 1 KiB), every 50th node readable only by the digest user, and /special with a
// container, a TTL node, sequential children with a gap and an ephemeral node.
func seedTree(t *testing.T, c *zk.Conn, root string, n int) {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	open, private := zk.WorldACL(zk.PermAll), zk.DigestACL(zk.PermAll, zkUser, zkPassword)
	var ops []any
	size, made := 0, 0
	flush := func() {
		if len(ops) > 0 {
			_, err := c.Multi(ops...)
			require.NoError(t, err)
			ops, size = ops[:0], 0
		}
	}
	add := func(p string, data []byte, acl []zk.ACL) {
		if len(data) > 100<<10 {
			flush()
			_, err := c.Create(p, data, 0, acl)
			require.NoError(t, err)
		} else {
			if len(ops) >= 500 || size+len(data) > 400<<10 {
				flush()
			}
			ops = append(ops, &zk.CreateRequest{Path: p, Data: data, Acl: acl})
			size += len(data) + len(p)
		}
		made++
	}
	data := func(i int) []byte {
		switch {
		case i%6000 == 7:
			b := make([]byte, 1<<20-1<<10)
			for j := range b {
				b[j] = byte(rng.UintN(256))
			}
			return b
		case i%97 == 3:
			return []byte{0xff, 0xfe, 0x00, byte(i), 0xc3, 0x28}
		case i%101 == 5:
			return []byte{}
		case i%103 == 9:
			return nil
		}
		return fmt.Appendf(nil, `{"node":%d,"v":"%x"}`, i, rng.Uint64())
	}
	level := []string{root}
	for depth := 1; depth <= 7 && made < n; depth++ {
		var next []string
		fan := 4
		if depth == 1 {
			fan = 10
		}
		for _, p := range level {
			for k := range fan {
				if made >= n {
					break
				}
				cp := fmt.Sprintf("%s/n%d", p, k)
				acl := open
				if made%50 == 25 {
					acl = private
				}
				add(cp, data(made), acl)
				next = append(next, cp)
			}
		}
		level = next
	}
	deep := root
	for _, seg := range []string{"deep", "a", "b", "c", "d", "e", "f", "g"} {
		deep += "/" + seg
		add(deep, []byte(seg), open)
	}
	add(root+"/special", []byte("special"), open)
	add(root+"/special/plain", []byte("plain"), open)
	add(root+"/special/plain/c", nil, open)
	add(root+"/special/seq", nil, open)
	flush()
	_, err := c.CreateContainer(root+"/special/container", []byte("box"), zk.FlagContainer, private)
	require.NoError(t, err)
	_, err = c.Create(root+"/special/container/c", nil, 0, open)
	require.NoError(t, err)
	_, err = c.CreateTTL(root+"/special/ttl", []byte("ttl"), zk.FlagTTL, open, 3*time.Second)
	require.NoError(t, err)
	_, err = c.Create(root+"/special/ttl/c", nil, 0, open)
	require.NoError(t, err)
	var seq []string
	for range 3 {
		p, err := c.Create(root+"/special/seq/item-", []byte("s"), zk.FlagSequence, open)
		require.NoError(t, err)
		seq = append(seq, p)
	}
	require.NoError(t, c.Delete(seq[0], -1)) // the counter is now past the highest name, as after real use
	_, err = c.Create(root+"/special/session", []byte("mine"), zk.FlagEphemeral, open)
	require.NoError(t, err)
}

// Issue 16, acceptance 1: a tree of 50,000 nodes (depth 8, data up to 1 MiB − 1 KiB, empty,
// null and non-UTF-8 data, digest ACLs, container and TTL nodes, sequential children) backed
// up from ZooKeeper 3.9 and restored into an empty ZooKeeper 3.8: every node's data, ACL and
// type read back by kazoo are equal, the ephemeral node is left out, container and TTL nodes
// behave as such, and a sequential create under the restored parent does not collide.
func TestZooKeeperRoundTrip(t *testing.T) {
	b := newZKBed(t)
	src, dst := zkConn(t, b.src), zkConn(t, b.dst)
	srcRoot, dstRoot := b.chroot(t, src, "src"), b.chroot(t, dst, "dst")
	seedTree(t, src, srcRoot, 50_000)

	from := b.ensemble("source", b.src, srcRoot, "zk")
	spec := arkivev1.ZooKeeperBackupSpec{NodeTypes: []arkivev1.ZNodeType{
		{Paths: []string{"/special/container"}, Type: "Container"},
		{Paths: []string{"/special/ttl"}, Type: "TTL", TTL: &metav1.Duration{Duration: 3 * time.Second}},
	}}
	// The shared ZooKeeper serves other packages' tests running at the same time, and any write
	// anywhere on it moves the zxid a consistent walk must see unchanged. A walk whose zxid moved
	// is taken again under a new name, twice at most: this tree itself stays quiet.
	var st zookeeperbackup.Status
	name := "tree"
	for attempt := 1; ; attempt++ {
		st = b.backup(t, name, from, spec)
		require.Len(t, st.Listed, 1)
		l := st.Listed[0]
		if l.Consistency == zookeeperbackup.Consistent || l.StartZxid == l.EndZxid || attempt == 3 {
			break
		}
		t.Logf("the server's zxid moved from %#x to %#x during walk %d (another test wrote to it); again", l.StartZxid, l.EndZxid, attempt)
		name = fmt.Sprintf("tree-%d", attempt+1)
	}
	require.Equal(t, zookeeperbackup.Consistent, st.Listed[0].Consistency, "nothing wrote during the walk")
	require.Contains(t, st.Warning, "1 ephemeral nodes left out")
	ref, stored := b.snapshotNodes(t, "arkive/"+name, st.LastSnapshot)
	require.Greater(t, len(ref.Chunks), 1, "a tree this size spans several chunks")
	types := map[string]archive.ZNode{}
	for _, n := range stored {
		types[n.Path] = n
	}
	require.Equal(t, archive.ZNodeContainer, types["/special/container"].Type)
	require.Equal(t, archive.ZNodeTTL, types["/special/ttl"].Type)
	require.Equal(t, int64(3000), types["/special/ttl"].TTLMillis)
	require.Equal(t, int32(4), types["/special/seq"].Stat.Cversion, "the parent's sequence counter is stored: three creates and a delete")

	to := b.ensemble("target", b.dst, dstRoot, "zk")
	rs, _, err := b.restore(t, "arkive/"+name, to, arkivev1.ZooKeeperRestoreSpec{})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, zookeeperrestore.PhaseDone, rs.Phase)
	require.Equal(t, len(stored)-1, rs.Counts.Created, "every node but the chroot itself is created")
	require.Equal(t, 1, rs.Counts.Unchanged)

	want, got := kazooDump(t, b.src, srcRoot), kazooDump(t, b.dst, dstRoot)
	require.True(t, want["/special/session"].Ephemeral)
	delete(want, "/special/session")
	require.Len(t, got, len(want))
	require.GreaterOrEqual(t, len(want), 50_000)
	nulls, empties, large, private := 0, 0, 0, 0
	for p, w := range want {
		g, ok := got[p]
		require.True(t, ok, "%s is restored", p)
		require.Equal(t, w.Data, g.Data, "data of %s", p)
		require.Equal(t, w.ACL, g.ACL, "ACL of %s", p)
		require.False(t, g.Ephemeral, p)
		switch {
		case w.Data == nil:
			nulls++
		case *w.Data == "":
			empties++
		case len(*w.Data) > 1<<20:
			large++
		}
		if len(w.ACL) == 1 && w.ACL[0][1] == "digest" {
			private++
		}
	}
	require.Positive(t, nulls)
	require.Positive(t, empties)
	require.GreaterOrEqual(t, large, 8)
	require.GreaterOrEqual(t, private, 900)

	// The next sequential child lands after the restored ones: the counter was advanced.
	p, err := dst.Create(dstRoot+"/special/seq/item-", nil, zk.FlagSequence, zk.WorldACL(zk.PermAll))
	require.NoError(t, err, "a sequential create under the restored parent must not collide")
	require.Greater(t, p, dstRoot+"/special/seq/item-0000000002")

	// Container and TTL nodes: once their only child is gone the server removes them; the
	// persistent node beside them stays.
	for _, n := range []string{"container", "ttl", "plain"} {
		require.NoError(t, dst.Delete(dstRoot+"/special/"+n+"/c", -1))
	}
	testenv.Eventually(t, time.Minute, "the server reaps the restored container and TTL nodes", func() (bool, string) {
		c, _, err := dst.Exists(dstRoot + "/special/container")
		require.NoError(t, err)
		l, _, err := dst.Exists(dstRoot + "/special/ttl")
		require.NoError(t, err)
		return !c && !l, fmt.Sprintf("container exists: %v, ttl exists: %v", c, l)
	})
	ok, _, err := dst.Exists(dstRoot + "/special/plain")
	require.NoError(t, err)
	require.True(t, ok, "a persistent node without children stays")

	// A second restore of the same snapshot writes nothing.
	rs, _, err = b.restore(t, "arkive/"+name, to, arkivev1.ZooKeeperRestoreSpec{Paths: arkivev1.ZNodePaths{Exclude: []string{"/special"}}})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, zookeeperrestore.ReasonUnchanged, rs.Reason)
}

// Issue 16, acceptance 2: with a writer changing nodes during the walk, the snapshot is marked
// fuzzy with its zxid range and every stored node holds one of the values it had during the
// window; without a writer the snapshot is consistent.
func TestZooKeeperConsistency(t *testing.T) {
	b := newZKBed(t)
	src := zkConn(t, b.src)
	root := b.chroot(t, src, "fuzzy")
	seedTree(t, src, root, 20_000)
	hot := []string{root + "/n0", root + "/n1/n2", root + "/n9/n3/n1"}
	seen := map[string]map[string]bool{}
	for _, p := range hot {
		d, _, err := src.Get(p)
		require.NoError(t, err)
		seen[p[len(root):]] = map[string]bool{string(d): true}
	}
	e := b.ensemble("source", b.src, root, "zk")

	// The zxid is the whole ensemble's: a write by another test running at the same time on
	// the shared server makes a snapshot fuzzy too (rightly: it cannot tell where the write
	// went). So a quiet tree must give a consistent snapshot within a few tries, not the first.
	var reasons []string
	for i := range 5 {
		quiet := b.backup(t, fmt.Sprintf("quiet-%d", i), e, arkivev1.ZooKeeperBackupSpec{})
		if quiet.Listed[0].Consistency == zookeeperbackup.Consistent {
			require.Equal(t, quiet.Listed[0].StartZxid, quiet.Listed[0].EndZxid)
			break
		}
		reasons = append(reasons, fmt.Sprintf("zxid %#x to %#x", quiet.Listed[0].StartZxid, quiet.Listed[0].EndZxid))
		require.Less(t, i, 4, "no consistent snapshot of a quiet tree in 5 tries: %v", reasons)
	}

	var mu sync.Mutex
	var stop atomic.Bool
	var writes atomic.Int64
	done := make(chan error, 1)
	go func() {
		for i := 0; !stop.Load(); i++ {
			p := hot[i%len(hot)]
			v := fmt.Sprintf("write-%d", i)
			mu.Lock()
			seen[p[len(root):]][v] = true // recorded before the write: it may be read from then on
			mu.Unlock()
			if _, err := src.Set(p, []byte(v), -1); err != nil {
				done <- err
				return
			}
			writes.Add(1)
		}
		done <- nil
	}()
	testenv.Eventually(t, time.Minute, "the writer is writing", func() (bool, string) { return writes.Load() > 10, "" })
	busy := b.backup(t, "busy", e, arkivev1.ZooKeeperBackupSpec{Parallelism: 4})
	stop.Store(true)
	require.NoError(t, <-done)
	s := busy.Listed[0]
	require.Equal(t, zookeeperbackup.Fuzzy, s.Consistency)
	require.Less(t, s.StartZxid, s.EndZxid)
	require.Contains(t, busy.Warning, "fuzzy")
	_, nodes := b.snapshotNodes(t, "arkive/busy", s.ID)
	checked := 0
	for _, n := range nodes {
		if vals, ok := seen[n.Path]; ok {
			require.True(t, vals[string(n.Data)], "%s holds %q, a value it never had", n.Path, n.Data)
			require.LessOrEqual(t, n.Stat.Mzxid, s.EndZxid)
			checked++
		}
	}
	require.Equal(t, len(hot), checked)
}

// Issue 16, acceptance 3: Skip, Overwrite, Mirror and Fail on a target with overlapping
// content; Fail writes nothing and names the conflicting paths; a dry run shows the diff and
// writes nothing.
func TestZooKeeperRestorePolicies(t *testing.T) {
	b := newZKBed(t)
	src, dst := zkConn(t, b.src), zkConn(t, b.dst)
	root := b.chroot(t, src, "policies")
	open := zk.WorldACL(zk.PermAll)
	for _, p := range []string{"/app", "/app/same", "/app/changed", "/app/acl", "/app/new", "/app/new/leaf", "/other"} {
		_, err := src.Create(root+p, []byte("snap:"+p), 0, open)
		require.NoError(t, err)
	}
	_, err := src.SetACL(root+"/app/acl", zk.DigestACL(zk.PermAll, zkUser, zkPassword), -1)
	require.NoError(t, err)
	bid := b.startBackup(t, "pol", b.ensemble("source", b.src, root, "zk"), arkivev1.ZooKeeperBackupSpec{})
	st := waitForStatus(t, b.c, bid, func(s zookeeperbackup.Status) bool { return s.LastSnapshot != "" })
	require.Equal(t, 8, st.Listed[0].Nodes)
	recordHistory(t, b.c, bid, "zookeeperbackup-snapshot")

	// Each target: /app/same as stored, /app/changed and /app/acl with other data or ACL,
	// /app/extra and /app/extra/deep not in the snapshot, /outside not selected.
	target := func(name string) (*arkivev1.ZooKeeperEnsemble, string) {
		r := b.chroot(t, dst, name)
		for p, d := range map[string]string{"/app": "snap:/app", "/app/same": "snap:/app/same", "/app/changed": "target data",
			"/app/acl": "snap:/app/acl", "/app/extra": "x", "/app/extra/deep": "y", "/outside": "z"} {
			require.NoError(t, ensurePath(dst, r+p, []byte(d)))
		}
		return b.ensemble(name, b.dst, r, "zk"), r
	}
	read := func(r, p string) string {
		d, _, err := dst.Get(r + p)
		if errors.Is(err, zk.ErrNoNode) {
			return "<none>"
		}
		require.NoError(t, err)
		return string(d)
	}
	aclOf := func(r, p string) string {
		acl, _, err := dst.GetACL(r + p)
		require.NoError(t, err)
		return acl[0].Scheme
	}
	app := arkivev1.ZNodePaths{Include: []string{"/app"}}

	// Skip: new nodes created, existing ones left as they are.
	e, r := target("skip")
	rs, rid, err := b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app})
	require.NoError(t, err, rs.LastError)
	recordHistory(t, b.c, rid, "zookeeperrestore-skip")
	require.Equal(t, zookeeperrestore.Counts{Total: 6, Created: 2, Unchanged: 2, Skipped: 2}, rs.Counts)
	require.Equal(t, "target data", read(r, "/app/changed"))
	require.Equal(t, "world", aclOf(r, "/app/acl"))
	require.Equal(t, "snap:/app/new/leaf", read(r, "/app/new/leaf"))
	require.Equal(t, "x", read(r, "/app/extra"))
	require.Equal(t, "<none>", read(r, "/other"), "outside the selected paths")

	// Overwrite: existing nodes take the stored data and ACL; extra nodes stay.
	e, r = target("overwrite")
	rs, _, err = b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app, Policy: arkivev1.ZNodeOverwrite})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, zookeeperrestore.Counts{Total: 6, Created: 2, Updated: 2, Unchanged: 2}, rs.Counts)
	require.Equal(t, "snap:/app/changed", read(r, "/app/changed"))
	require.Equal(t, "digest", aclOf(r, "/app/acl"))
	require.Equal(t, "x", read(r, "/app/extra"))

	// ACLs not restored: created nodes are open to everyone, and a differing ACL is no change.
	e, r = target("noacl")
	rs, _, err = b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app, Policy: arkivev1.ZNodeOverwrite, RestoreACLs: ptr.To(false)})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, zookeeperrestore.Counts{Total: 6, Created: 2, Updated: 1, Unchanged: 3}, rs.Counts)
	require.Equal(t, "world", aclOf(r, "/app/acl"))

	// ACL mapping: the stored digest identity is written as another one.
	e, r = target("aclmap")
	digest := zk.DigestACL(zk.PermAll, zkUser, zkPassword)[0].ID
	rs, _, err = b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app, Policy: arkivev1.ZNodeOverwrite,
		ACLMapping: []arkivev1.ACLMapping{{Scheme: "digest", ID: digest, ToScheme: "ip", ToID: "127.0.0.1"}}})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, "ip", aclOf(r, "/app/acl"))

	// Mirror: as Overwrite, and nodes under the selected paths that the snapshot lacks go.
	e, r = target("mirror")
	rs, _, err = b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app, Policy: arkivev1.ZNodeMirror})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, zookeeperrestore.Counts{Total: 6, Created: 2, Updated: 2, Unchanged: 2, Deleted: 2}, rs.Counts)
	require.Equal(t, "<none>", read(r, "/app/extra"))
	require.Equal(t, "<none>", read(r, "/app/extra/deep"))
	require.Equal(t, "z", read(r, "/outside"), "Mirror deletes only within the selected paths")

	// Fail: nothing written, the conflicting paths named.
	e, r = target("fail")
	rs, _, err = b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app, Policy: arkivev1.ZNodeFail})
	require.Error(t, err)
	require.Equal(t, zookeeperrestore.PhaseFailed, rs.Phase)
	require.Equal(t, zookeeperrestore.ErrConflict, rs.Reason)
	require.Contains(t, rs.LastError, "/app/changed (data differ)")
	require.Contains(t, rs.LastError, "/app/acl (acl differ)")
	require.Equal(t, "<none>", read(r, "/app/new"), "Fail writes nothing")

	// Dry run (Mirror): the diff, and nothing written.
	e, r = target("dry")
	rs, _, err = b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app, Policy: arkivev1.ZNodeMirror, DryRun: true})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, zookeeperrestore.ReasonDryRun, rs.Reason)
	require.ElementsMatch(t, []string{"create /app/new", "create /app/new/leaf", "update /app/changed: data", "update /app/acl: acl",
		"delete /app/extra", "delete /app/extra/deep"}, rs.Plan.Diff)
	require.Equal(t, "<none>", read(r, "/app/new"))
	require.Equal(t, "x", read(r, "/app/extra"))

	// Path mapping: /app restored under /restored/app, parents made as needed.
	e, r = target("mapped")
	rs, _, err = b.restore(t, "arkive/pol", e, arkivev1.ZooKeeperRestoreSpec{Paths: app,
		PathMapping: []arkivev1.PathMapping{{From: "/app", To: "/restored/app"}}})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, 6, rs.Counts.Created)
	require.Equal(t, "snap:/app/new/leaf", read(r, "/restored/app/new/leaf"))
	require.Equal(t, "target data", read(r, "/app/changed"))
}

// ensurePath creates p with data, and its missing parents empty.
func ensurePath(c *zk.Conn, p string, data []byte) error {
	segs := strings.Split(strings.TrimPrefix(p, "/"), "/")
	for i := range segs {
		sub := "/" + strings.Join(segs[:i+1], "/")
		d := []byte(nil)
		if i == len(segs)-1 {
			d = data
		}
		if _, err := c.Create(sub, d, 0, zk.WorldACL(zk.PermAll)); err != nil && !errors.Is(err, zk.ErrNodeExists) {
			return err
		}
		if i == len(segs)-1 {
			if _, err := c.Set(sub, d, -1); err != nil {
				return err
			}
		}
	}
	return nil
}

// Issue 16, acceptance 6 (part): bad input ends in a clear status naming the cause: a wrong
// digest password (whose bytes appear nowhere in the history), an unreachable ensemble, a
// snapshot id that does not exist, a node larger than the target's jute.maxbuffer.
func TestZooKeeperBadInput(t *testing.T) {
	t.Parallel() // waits on intervals and timeouts, nearly idle: overlapped with the other waiting tests
	b := newZKBed(t)
	src, dst := zkConn(t, b.src), zkConn(t, b.dst)
	root := b.chroot(t, src, "bad")
	_, err := src.Create(root+"/private", []byte("p"), 0, zk.DigestACL(zk.PermAll, zkUser, zkPassword))
	require.NoError(t, err)
	_, err = src.Create(root+"/big", bytes.Repeat([]byte("b"), 200<<10), 0, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)

	wid := b.startBackup(t, "wrong-password", b.ensemble("wrong", b.src, root, "zk-wrong"), arkivev1.ZooKeeperBackupSpec{})
	st := waitForStatus(t, b.c, wid, func(s zookeeperbackup.Status) bool { return s.Phase == zookeeperbackup.PhaseError })
	require.Equal(t, zookeeperbackup.ErrAuthentication, st.Reason)
	require.Contains(t, st.LastError, "/private")
	require.Contains(t, st.LastError, `digest user "arkive"`)
	requireNotInHistory(t, b.c, wid, "", zkWrongPassword, "zk-wrong")

	nowhere := b.ensemble("nowhere", "127.0.0.1:1", "", "")
	nowhere.Spec.SessionTimeout = &metav1.Duration{Duration: 2 * time.Second}
	wid = b.startBackup(t, "unreachable", nowhere, arkivev1.ZooKeeperBackupSpec{})
	st = waitForStatus(t, b.c, wid, func(s zookeeperbackup.Status) bool { return s.LastError != "" })
	require.Equal(t, zookeeperbackup.PhaseInitializing, st.Phase)
	require.Equal(t, zookeeperbackup.ReasonRetrying, st.Reason)
	require.Contains(t, st.LastError, "ensemble 127.0.0.1:1 unreachable")

	good := b.backup(t, "good", b.ensemble("source", b.src, root, "zk"), arkivev1.ZooKeeperBackupSpec{})
	to := b.ensemble("target", b.dst, b.chroot(t, dst, "bad-target"), "zk")
	rs, _, err := b.restore(t, "arkive/good", to, arkivev1.ZooKeeperRestoreSpec{Source: arkivev1.SchemaSnapshotSource{Snapshot: "20200101T000000Z-0001"}})
	require.Error(t, err)
	require.Equal(t, zookeeperrestore.ErrBackupNotFound, rs.Reason)
	require.Contains(t, rs.LastError, `spec.source.snapshot: backup "arkive/good" has no snapshot "20200101T000000Z-0001" (it has `+good.LastSnapshot+")")

	small := to.DeepCopy()
	small.Spec.MaxBufferBytes = 100 << 10
	rs, _, err = b.restore(t, "arkive/good", small, arkivev1.ZooKeeperRestoreSpec{})
	require.Error(t, err)
	require.Equal(t, zookeeperrestore.ErrNodeTooLarge, rs.Reason)
	require.Contains(t, rs.LastError, "/big (204800 bytes of data)")
	children, _, err := dst.Children(to.Spec.Chroot)
	require.NoError(t, err)
	require.Empty(t, children, "nothing is written when a node does not fit")
}

// Retention on the real storage: with keepLast 1, a triggered second snapshot drops the first
// from the manifest and deletes its chunks.
func TestZooKeeperRetention(t *testing.T) {
	b := newZKBed(t)
	src := zkConn(t, b.src)
	root := b.chroot(t, src, "retention")
	_, err := src.Create(root+"/a", []byte("a"), 0, zk.WorldACL(zk.PermAll))
	require.NoError(t, err)
	wid := b.startBackup(t, "keep1", b.ensemble("source", b.src, root, "zk"), arkivev1.ZooKeeperBackupSpec{Retention: &arkivev1.Retention{KeepLast: ptr.To[int32](1)}})
	first := waitForStatus(t, b.c, wid, func(s zookeeperbackup.Status) bool { return s.LastSnapshot != "" })
	require.NoError(t, b.c.SignalWorkflow(context.Background(), wid, "", workflows.SignalTrigger, nil))
	// The status names the new snapshot before retention's prune finishes, so wait for the
	// count to fall back to one; a retention that never drops times out here.
	second := waitForStatus(t, b.c, wid, func(s zookeeperbackup.Status) bool {
		return s.LastSnapshot != first.LastSnapshot && s.Runs == 2 && s.Snapshots == 1
	})
	require.Len(t, second.Listed, 1)

	ctx := context.Background()
	store, err := blobstore.Open(ctx, b.storage.Spec, b.sr)
	require.NoError(t, err)
	defer store.Close()
	layout, err := blobstore.ZooKeeper("arkive/keep1")
	require.NoError(t, err)
	m, err := backups.ZooKeeperManifest(ctx, store, layout)
	require.NoError(t, err)
	require.Len(t, m.Snapshots, 1)
	require.Equal(t, second.LastSnapshot, m.Snapshots[0].ID)
	prefix, err := layout.Snapshot(first.LastSnapshot)
	require.NoError(t, err)
	it := store.List(&blob.ListOptions{Prefix: prefix})
	_, err = it.Next(ctx)
	require.ErrorIs(t, err, io.EOF, "the dropped snapshot's chunks are deleted")
}

// A multi request carries up to three quarters of jute.maxbuffer by the restore's estimate
// (activities/zookeeper session.batchBytes): a parent and three children of 240 KiB, 720 KiB of
// data in all (half of jute.maxbuffer took two requests), go to the target (default
// jute.maxbuffer, 1 MiB) as one multi, which the real server takes: the nodes share the zxid
// that created them.
func TestZooKeeperRestoreFillsMultiRequests(t *testing.T) {
	b := newZKBed(t)
	src, dst := zkConn(t, b.src), zkConn(t, b.dst)
	srcRoot, dstRoot := b.chroot(t, src, "batch-src"), b.chroot(t, dst, "batch-dst")
	open := zk.WorldACL(zk.PermAll)
	data := map[string][]byte{}
	for _, p := range []string{"/big", "/big/a", "/big/b", "/big/c"} {
		data[p] = bytes.Repeat([]byte(p[len(p)-1:]), 240<<10)
		if p == "/big" {
			data[p] = []byte("parent")
		}
		_, err := src.Create(srcRoot+p, data[p], 0, open)
		require.NoError(t, err)
	}
	st := b.backup(t, "batch", b.ensemble("source", b.src, srcRoot, "zk"), arkivev1.ZooKeeperBackupSpec{})
	rs, _, err := b.restore(t, "arkive/batch", b.ensemble("target", b.dst, dstRoot, "zk"), arkivev1.ZooKeeperRestoreSpec{Source: arkivev1.SchemaSnapshotSource{Snapshot: st.LastSnapshot}})
	require.NoError(t, err, rs.LastError)
	zxids := map[int64]bool{}
	for p, want := range data {
		got, stat, err := dst.Get(dstRoot + p)
		require.NoError(t, err)
		require.Equal(t, want, got, p)
		zxids[stat.Czxid] = true
	}
	require.Len(t, zxids, 1, "created in one multi request")
}
