package worker_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/sync/errgroup"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"arkive.io/arkive/activities/kube"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
)

// benchObjects is how many ConfigMaps and Secrets (half each, ~2 KiB of data) the resource
// benchmark backs up and restores; ARKIVE_BENCH_OBJECTS overrides the 10,000.
func benchObjects() int {
	if n, err := strconv.Atoi(os.Getenv("ARKIVE_BENCH_OBJECTS")); err == nil && n > 0 {
		return n
	}
	return 10_000
}

// benchParallelism is the restore's parallelism, and the bare create loop's.
const benchParallelism = 16

var benchGVRs = []schema.GroupVersionResource{{Version: "v1", Resource: "configmaps"}, {Version: "v1", Resource: "secrets"}}

// Issue 14, acceptance 8: backup and restore of 10,000 ConfigMaps and Secrets of ~2 KiB on the
// envtest API server, each against its bare client-go baseline in the same run:
//   - x-bare-list: backup objects/s (the Snapshot activity: paginated list, chunks compressed and
//     encrypted, index and manifest written) ÷ objects/s of a bare paginated list whose pages are
//     written as JSON objects to the same storage;
//   - x-bare-create: restore objects/s (PlanRestore, then every ApplyStep, into a fresh
//     namespace) ÷ objects/s of a bare create loop with the same parallelism;
//   - restore-objects-per-s.
//
// The activities run in the benchmark's process (no Temporal round trips); run with
// -benchtime=1x: every iteration adds 4×N objects to etcd.
func BenchmarkResourceBackupAndRestore(b *testing.B) {
	kb := newKubeBed(b)
	ctx := context.Background()
	n := benchObjects()
	src := fmt.Sprintf("bench-%d", time.Now().UnixNano()%100000)
	_, err := kb.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: src}}, metav1.CreateOptions{})
	require.NoError(b, err)
	payload := strings.Repeat("k=v;", 512) // 2 KiB
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(benchParallelism)
	for i := range n {
		g.Go(func() error {
			name := fmt.Sprintf("obj-%05d", i)
			if i%2 == 0 {
				_, err := kb.cs.CoreV1().ConfigMaps(src).Create(gctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string]string{"v": payload}}, metav1.CreateOptions{})
				return err
			}
			_, err := kb.cs.CoreV1().Secrets(src).Create(gctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name}, Data: map[string][]byte{"v": []byte(payload)}}, metav1.CreateOptions{})
			return err
		})
	}
	require.NoError(b, g.Wait())
	acts := &kube.Activities{Config: kb.cfg, Secrets: func(string) secrets.Resolver { return kb.sr }}
	rb := &arkivev1.ResourceBackup{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "arkive"}, Spec: arkivev1.ResourceBackupSpec{Storage: kb.storage.Name,
		ResourceSelection: arkivev1.ResourceSelection{Namespaces: []string{src}, Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}, {Kind: "Secret"}}}}}
	bin, err := specs.ResourceBackupInput(rb, kb.storage)
	require.NoError(b, err)
	store, err := blobstore.Open(ctx, kb.storage.Spec, kb.sr)
	require.NoError(b, err)
	defer store.Close()

	var bareList, backup, bareCreate, restore time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Backup and its baseline, alternating which runs first.
		listOnce := func() {
			start := time.Now()
			got := 0
			for _, r := range benchGVRs {
				opts := metav1.ListOptions{Limit: 500}
				for page := 0; ; page++ {
					l, err := kb.dyn.Resource(r).Namespace(src).List(ctx, opts)
					require.NoError(b, err)
					data, err := json.Marshal(l)
					require.NoError(b, err)
					require.NoError(b, store.Put(ctx, fmt.Sprintf("bare/%d/%s/%06d.json", i, r.Resource, page), data))
					got += len(l.Items)
					if opts.Continue = l.GetContinue(); opts.Continue == "" {
						break
					}
				}
			}
			require.Equal(b, n, got)
			bareList += time.Since(start)
		}
		backupOnce := func() {
			start := time.Now()
			res, err := acts.Snapshot(ctx, resourcebackup.SnapshotInput{Connection: bin.Connection, Spec: bin.Spec,
				ID: fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i), Time: time.Now()})
			require.NoError(b, err)
			require.Equal(b, n+1, res.Objects) // and the namespace
			backup += time.Since(start)
		}
		if i%2 == 0 {
			listOnce()
			backupOnce()
		} else {
			backupOnce()
			listOnce()
		}

		// Restore and its baseline.
		bareNS, restoreNS := fmt.Sprintf("%s-bare-%d", src, i), fmt.Sprintf("%s-restored-%d", src, i)
		createOnce := func() {
			var objs []*unstructured.Unstructured
			for _, r := range benchGVRs {
				l, err := kb.dyn.Resource(r).Namespace(src).List(ctx, metav1.ListOptions{})
				require.NoError(b, err)
				for j := range l.Items {
					u := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "v1", "kind": l.Items[j].GetKind(),
						"metadata": map[string]any{"name": l.Items[j].GetName()}, "data": l.Items[j].Object["data"]}}
					objs = append(objs, u)
				}
			}
			start := time.Now()
			_, err := kb.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: bareNS}}, metav1.CreateOptions{})
			require.NoError(b, err)
			g, gctx := errgroup.WithContext(ctx)
			g.SetLimit(benchParallelism)
			for _, u := range objs {
				g.Go(func() error {
					r := benchGVRs[0]
					if u.GetKind() == "Secret" {
						r = benchGVRs[1]
					}
					_, err := kb.dyn.Resource(r).Namespace(bareNS).Create(gctx, u, metav1.CreateOptions{})
					return err
				})
			}
			require.NoError(b, g.Wait())
			bareCreate += time.Since(start)
		}
		restoreOnce := func() {
			rs := &arkivev1.ResourceRestore{ObjectMeta: metav1.ObjectMeta{Name: "bench", Namespace: "arkive"}, Spec: arkivev1.ResourceRestoreSpec{
				Source:           arkivev1.SchemaSnapshotSource{Storage: kb.storage.Name, Backup: bin.Backup},
				NamespaceMapping: []arkivev1.NamespaceMapping{{From: src, To: restoreNS}}, Parallelism: benchParallelism}}
			in, err := specs.ResourceRestoreInput(rs, kb.storage)
			require.NoError(b, err)
			start := time.Now()
			plan, err := acts.PlanRestore(ctx, in)
			require.NoError(b, err)
			created := 0
			for _, step := range plan.Steps {
				res, err := acts.ApplyStep(ctx, resourcerestore.ApplyInput{Connection: in.Connection, Spec: in.Spec, Snapshot: plan.Snapshot, Step: step.Name})
				require.NoError(b, err)
				created += res.Counts.Created
			}
			require.Equal(b, n+1, created)
			restore += time.Since(start)
		}
		if i%2 == 0 {
			createOnce()
			restoreOnce()
		} else {
			restoreOnce()
			createOnce()
		}
	}
	b.StopTimer()
	objs := float64(n * b.N)
	b.ReportMetric(bareList.Seconds()/backup.Seconds(), "x-bare-list")
	b.ReportMetric(bareCreate.Seconds()/restore.Seconds(), "x-bare-create")
	b.ReportMetric(objs/restore.Seconds(), "restore-objects-per-s")
	b.ReportMetric(objs/backup.Seconds(), "backup-objects-per-s")
	b.ReportMetric(objs/bareList.Seconds(), "bare-list-objects-per-s")
	b.ReportMetric(objs/bareCreate.Seconds(), "bare-create-objects-per-s")
}
