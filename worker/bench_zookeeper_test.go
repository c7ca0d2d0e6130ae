package worker_test

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/go-zookeeper/zk"
	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"arkive.io/arkive/activities/zookeeper"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

// benchZNodes is how many ~1 KiB nodes the ZooKeeper benchmark backs up and restores;
// ARKIVE_BENCH_ZNODES overrides the 100,000.
func benchZNodes() int {
	if n, err := strconv.Atoi(os.Getenv("ARKIVE_BENCH_ZNODES")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

// Issue 16, acceptance 7: backup and restore of 100,000 nodes of ~1 KiB on the real ZooKeeper
// servers (3.9 the source, 3.8 the target), each against its bare go-zookeeper baseline in the
// same run:
//   - x-bare-walk: backup nodes/s (the Snapshot activity: Get and GetACL of every node, chunks
//     compressed and encrypted into MinIO, the manifest) ÷ nodes/s of a bare breadth-first walk
//     (Children + Get with the same parallelism) whose data is written in 4 MiB objects to the
//     same storage;
//   - x-bare-create: restore nodes/s (PlanRestore, then ApplyRestore, into an empty chroot) ÷
//     nodes/s of a bare loop creating the same nodes in multi requests of the same size;
//   - peak-rss-MiB: the benchmark process's peak resident memory (the activities run in it).
//
// Each baseline runs before and after Arkive's run and counts as the mean of the two. Run with
// -benchtime=1x on freshly started servers (hack/servers.sh kill zookeeper38, then start): an
// iteration adds 4×N nodes of 1 KiB to their heaps.
func BenchmarkZooKeeperBackupAndRestore(b *testing.B) {
	bed := newZKBed(b)
	src, dst := zkConn(b, bed.src), zkConn(b, bed.dst)
	n := benchZNodes()
	const parallelism = 16
	acts := &zookeeper.Activities{Secrets: func(string) secrets.Resolver { return bed.sr }}
	ctx := context.Background()
	for b.Loop() {
		root := bed.chroot(b, src, "bench")
		open := zk.WorldACL(zk.PermAll)
		// Paths breadth first, as the bare create loop writes them; data is made from the index
		// on the fly (held, 100 MB would dwarf the peak RSS measured).
		data := func(i int) []byte { return fmt.Appendf(nil, "%d:%01000d", i, i) }
		var all []string
		level := []string{root}
		for len(all) < n {
			var next []string
			for _, p := range level {
				for k := range 10 {
					if len(all) == n {
						break
					}
					cp := fmt.Sprintf("%s/n%d", p, k)
					all = append(all, cp)
					next = append(next, cp)
				}
			}
			level = next
		}
		createAll := func(c *zk.Conn, from, to string) {
			var ops []any
			for i, p := range all {
				ops = append(ops, &zk.CreateRequest{Path: to + p[len(from):], Data: data(i), Acl: open})
				if len(ops) == 500 {
					_, err := c.Multi(ops...)
					require.NoError(b, err)
					ops = ops[:0]
				}
			}
			if len(ops) > 0 {
				_, err := c.Multi(ops...)
				require.NoError(b, err)
			}
		}
		createAll(src, root, root)

		// The bare walk: breadth first, Children + Get with the same parallelism, data written
		// in 4 MiB objects to the same storage.
		bareWalk := func() float64 {
			store, err := blobstore.Open(ctx, bed.storage.Spec, bed.sr)
			require.NoError(b, err)
			start := time.Now()
			var mu sync.Mutex
			var buf []byte
			objects, walked := 0, 0
			flush := func() {
				require.NoError(b, store.WriteAll(ctx, fmt.Sprintf("bare/%d/%06d", start.UnixNano(), objects), buf, nil))
				objects++
				buf = buf[:0]
			}
			frontier := []string{root}
			for len(frontier) > 0 {
				var next []string
				g, _ := errgroup.WithContext(ctx)
				g.SetLimit(parallelism)
				for _, p := range frontier {
					g.Go(func() error {
						data, st, err := src.Get(p)
						if err != nil {
							return err
						}
						var kids []string
						if st.NumChildren > 0 {
							if kids, _, err = src.Children(p); err != nil {
								return err
							}
							sort.Strings(kids)
						}
						mu.Lock()
						defer mu.Unlock()
						buf = append(buf, data...)
						walked++
						if len(buf) >= 4<<20 {
							flush()
						}
						for _, k := range kids {
							next = append(next, p+"/"+k)
						}
						return nil
					})
				}
				require.NoError(b, g.Wait())
				frontier = next
			}
			flush()
			store.Close()
			require.Equal(b, n+1, walked)
			return float64(walked) / time.Since(start).Seconds()
		}

		// Bare, Arkive, bare again: the ratio is against the mean of the two bare runs, so
		// the servers warming up (their JIT) or slowing down favours neither side.
		walk1 := bareWalk()
		// Arkive's backup.
		from := bed.ensemble("bench-src", bed.src, root, "")
		zb := &arkivev1.ZooKeeperBackup{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "arkive"},
			Spec: arkivev1.ZooKeeperBackupSpec{Storage: bed.storage.Name, Ensemble: from.Name, Parallelism: parallelism}}
		bin, err := specs.ZooKeeperBackupInput(zb, from, bed.storage)
		require.NoError(b, err)
		start := time.Now()
		res, err := acts.Snapshot(ctx, zookeeperbackup.SnapshotInput{Connection: bin.Connection, Spec: bin.Spec, ID: fmt.Sprintf("20261202T130000Z-%06d", time.Now().UnixNano()%1e6), Time: time.Now()})
		require.NoError(b, err)
		backupRate := float64(res.Nodes) / time.Since(start).Seconds()
		walkRate := (walk1 + bareWalk()) / 2

		bareCreate := func() float64 {
			bare := bed.chroot(b, dst, fmt.Sprintf("bench-bare-%d", time.Now().UnixNano()))
			start := time.Now()
			createAll(dst, root, bare)
			return float64(n) / time.Since(start).Seconds()
		}
		create1 := bareCreate()
		// Arkive's restore into an empty chroot.
		to := bed.ensemble("bench-dst", bed.dst, bed.chroot(b, dst, fmt.Sprintf("bench-dst-%d", time.Now().UnixNano())), "")
		zr := &arkivev1.ZooKeeperRestore{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "arkive"},
			Spec: arkivev1.ZooKeeperRestoreSpec{Source: arkivev1.SchemaSnapshotSource{Storage: bed.storage.Name, Backup: bin.Backup, Snapshot: res.ID}, Ensemble: to.Name}}
		rin, err := specs.ZooKeeperRestoreInput(zr, bed.storage, to)
		require.NoError(b, err)
		start = time.Now()
		plan, err := acts.PlanRestore(ctx, rin)
		require.NoError(b, err)
		applied, err := acts.ApplyRestore(ctx, zookeeperrestore.ApplyInput{Connection: rin.Connection, Spec: rin.Spec, Snapshot: plan.Snapshot})
		require.NoError(b, err)
		restoreRate := float64(applied.Counts.Created) / time.Since(start).Seconds()
		require.Equal(b, n, applied.Counts.Created)

		createRate := (create1 + bareCreate()) / 2

		b.ReportMetric(backupRate/walkRate, "x-bare-walk")
		b.ReportMetric(restoreRate/createRate, "x-bare-create")
		b.ReportMetric(backupRate, "backup-nodes/s")
		b.ReportMetric(restoreRate, "restore-nodes/s")
		b.ReportMetric(testenv.PeakRSSMiB(os.Getpid()), "peak-rss-MiB")
	}
}
