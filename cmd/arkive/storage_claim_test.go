package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	corev1 "k8s.io/api/core/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/dynamic"

	"arkive.io/arkive/activities/kube"
	"arkive.io/arkive/activities/storage"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/internal/testnode"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/check"
	"arkive.io/arkive/workflows/resourcebackup"
	rr "arkive.io/arkive/workflows/resourcerestore"
)

// readSample decodes the objects of a file of deploy/samples into out (by kind).
func readSample(t *testing.T, name string, out map[string]any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "deploy", "samples", name))
	require.NoError(t, err)
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			return
		}
		require.NoError(t, err)
		var meta metav1.TypeMeta
		require.NoError(t, json.Unmarshal(raw, &meta))
		if obj, ok := out[meta.Kind]; ok {
			require.NoError(t, json.Unmarshal(raw, obj))
		}
	}
}

var apiManagers = schema.GroupVersionResource{Group: "apps.3scale.net", Version: "v1alpha1", Resource: "apimanagers"}

// #15 acceptance 4, the seed's shape: the 3scale samples as they are. The ResourceBackup takes
// the 13 Secrets, the 2 ConfigMaps, the APIManager and the files of the system-storage claim
// into a Storage kept in a claim made from volume.create (the seed's backup destination PVC):
// the Storage's check makes the claim, mover Pods mount it (workers never do), the status names
// it with the snapshot's start and completion time, and no mover is left. After everything is
// deleted, the ResourceRestore sample brings all of it back from that claim. Real API server
// (Pod Security at baseline, as the restore's readAllFiles needs), real Temporal, test nodes
// in place of kubelets and a provisioner stand-in (internal/testnode).
func TestThreeScaleSamplesBackUpIntoAClaimAndRestore(t *testing.T) {
	temporal := testenv.Temporal(t)
	bin := buildArkive(t)
	cfg, cs := startKube(t)
	dyn, err := dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	ctx := context.Background()

	rb, st, restore := &arkivev1.ResourceBackup{}, &arkivev1.Storage{}, &arkivev1.ResourceRestore{}
	readSample(t, "resourcebackup-3scale.yaml", map[string]any{"ResourceBackup": rb, "Storage": st})
	readSample(t, "resourcerestore-3scale.yaml", map[string]any{"ResourceRestore": restore})
	require.NotNil(t, st.Spec.Volume, "the sample's Storage is a claim")
	require.NotNil(t, st.Spec.Volume.Create, "the sample's Storage is a claim made from volume.create")
	ns := rb.Namespace

	_, err = cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "baseline"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// The objects the sample names, and the APIManager with its CRD.
	secretNames := rb.Spec.Resources[0].Names
	require.Len(t, secretNames, 13)
	for _, name := range secretNames {
		_, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name},
			Data: map[string][]byte{"value": []byte("secret of " + name)}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: st.Spec.Encryption.KeySecret.Name},
		Data: map[string][]byte{st.Spec.Encryption.KeySecret.Key: []byte("0123456789abcdef0123456789abcdef")}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for _, name := range rb.Spec.Resources[1].Names {
		_, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name},
			Data: map[string]string{"THREESCALE_SUPERDOMAIN": "example.com"}}, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "apimanagers.apps.3scale.net"},
		"spec": map[string]any{"group": "apps.3scale.net", "scope": "Namespaced",
			"names": map[string]any{"plural": "apimanagers", "singular": "apimanager", "kind": "APIManager", "listKind": "APIManagerList"},
			"versions": []any{map[string]any{"name": "v1alpha1", "served": true, "storage": true,
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "properties": map[string]any{
					"spec": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}}}}}
	_, err = dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")).Create(ctx, crd, metav1.CreateOptions{})
	require.NoError(t, err)
	apim := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "apps.3scale.net/v1alpha1", "kind": "APIManager",
		"metadata": map[string]any{"name": "apimanager", "namespace": ns}, "spec": map[string]any{"wildcardDomain": "example.com"}}}
	testenv.Eventually(t, time.Minute, "the APIManager CRD is served", func() (bool, string) {
		_, err := dyn.Resource(apiManagers).Namespace(ns).Create(ctx, apim, metav1.CreateOptions{})
		return err == nil, fmt.Sprint(err)
	})
	// The System FileStorage claim, its files owned by 3scale's system user.
	files := t.TempDir()
	for i := range 40 {
		p := filepath.Join(files, "public", "system", fmt.Sprintf("logo-%02d.png", i))
		require.NoError(t, os.MkdirAll(filepath.Dir(p), 0o755))
		require.NoError(t, os.WriteFile(p, bytes.Repeat([]byte{byte(i)}, 4096+i), 0o640))
		require.NoError(t, os.Lchown(p, 1001, 1001))
	}
	hostPathClaim(t, cs, ns, "system-storage", files)
	want := filepath.Join(t.TempDir(), "want")
	out, err := exec.Command("cp", "-a", files, want).CombinedOutput()
	require.NoError(t, err, string(out))

	kubeconfig := writeKubeconfig(t, cfg)
	testnode.Start(t, cs, "node-a", true, map[string]string{"arkive": bin}, []string{"KUBECONFIG=" + kubeconfig})
	provisioned := t.TempDir()
	testnode.Provision(t, cs, provisioned)
	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	q := fmt.Sprintf("storage-claim-test-%d", time.Now().UnixNano())
	mover := kube.MoverTemplate{Image: "ghcr.io/arkive/arkive:test", Args: []string{"--temporal-address", temporal}}
	wk := worker.New(c, worker.Options{TaskQueue: q, Kube: cfg, Secrets: func(n string) secrets.Resolver { return secrets.Kube(cs, n) }, MoverPods: mover})
	require.NoError(t, wk.Start())
	defer wk.Stop()

	// The Storage's check makes the claim; a second check finds it.
	claim := arkivev1.StorageClaimName(st.Name)
	acts := &kube.Activities{Config: cfg, Mover: mover}
	stActs := &storage.Activities{Secrets: func(string) secrets.Resolver { return secrets.Kube(cs, ns) }, Claims: acts.StorageClaim}
	spec, err := json.Marshal(st.Spec)
	require.NoError(t, err)
	res, err := stActs.Check(ctx, check.Input{Kind: check.KindStorage, Namespace: ns, Name: st.Name, Spec: spec})
	require.NoError(t, err)
	require.True(t, res.OK, res.Message)
	require.Contains(t, res.Message, "PersistentVolumeClaim "+claim+" created")
	pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, claim, metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, st.Spec.Volume.Create.Size.String(), pvc.Spec.Resources.Requests.Storage().String())
	res, err = stActs.Check(ctx, check.Input{Kind: check.KindStorage, Namespace: ns, Name: st.Name, Spec: spec})
	require.NoError(t, err)
	require.True(t, res.OK, res.Message)
	require.NotContains(t, res.Message, "created")
	// Kinds whose activities run on the workers refuse such a Storage, naming the field.
	_, err = specs.KafkaBackupInput(&arkivev1.KafkaBackup{ObjectMeta: metav1.ObjectMeta{Name: "k", Namespace: ns},
		Spec: arkivev1.KafkaBackupSpec{Source: "kafka", Sink: st.Name}}, &arkivev1.KafkaCluster{ObjectMeta: metav1.ObjectMeta{Name: "kafka"}}, st)
	require.ErrorContains(t, err, "spec.storage: Storage "+st.Name+" keeps its backups in PersistentVolumeClaim "+claim)

	// The backup.
	in, wid := startBackup(t, c, q, rb, st)
	bst := waitBackup(t, c, wid, 3*time.Minute, "the first snapshot", func(s resourcebackup.Status) bool {
		return s.LastSnapshot != "" || s.Phase == resourcebackup.PhaseError
	})
	require.Equal(t, resourcebackup.PhaseRunning, bst.Phase, bst.LastError)
	require.Equal(t, claim, bst.StorageClaim, "the status names the claim")
	require.False(t, bst.LastBackupTime.IsZero(), "start time")
	require.False(t, bst.LastCompletionTime.Before(bst.LastBackupTime), "completion time %s after start %s", bst.LastCompletionTime, bst.LastBackupTime)
	require.Equal(t, 13+2+1+2, bst.Objects, "the Secrets, ConfigMaps and APIManager, its CRD and the namespace")
	require.Equal(t, 1, bst.Volumes)
	requireNoMovers(t, cs, ns, "no mover is left after the backup")
	// The backup is in the claim, and nowhere else.
	claimDir := filepath.Join(provisioned, "pv-"+ns+"-"+claim)
	for _, dir := range []string{"resources", "volumes"} {
		entries, err := os.ReadDir(filepath.Join(claimDir, dir))
		require.NoError(t, err, "the claim holds %s", dir)
		require.NotEmpty(t, entries)
	}
	var found []string
	require.NoError(t, filepath.WalkDir(claimDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			data, _ := os.ReadFile(p)
			if bytes.Contains(data, []byte("secret of ")) {
				found = append(found, p)
			}
		}
		return err
	}))
	require.Empty(t, found, "Secrets are stored encrypted")

	// Everything goes; the restore sample brings it back from the claim.
	for _, name := range secretNames {
		require.NoError(t, cs.CoreV1().Secrets(ns).Delete(ctx, name, metav1.DeleteOptions{}))
	}
	for _, name := range rb.Spec.Resources[1].Names {
		require.NoError(t, cs.CoreV1().ConfigMaps(ns).Delete(ctx, name, metav1.DeleteOptions{}))
	}
	require.NoError(t, dyn.Resource(apiManagers).Namespace(ns).Delete(ctx, "apimanager", metav1.DeleteOptions{}))
	require.NoError(t, os.RemoveAll(filepath.Join(files, "public")))
	rin, err := specs.ResourceRestoreInput(restore, st)
	require.NoError(t, err)
	require.Equal(t, in.Backup, rin.Connection.Backup, "the restore sample names the backup sample's backup")
	run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: q}, rr.WorkflowName, rin)
	require.NoError(t, err)
	var rst rr.Status
	require.NoError(t, run.Get(ctx, &rst))
	require.Equal(t, rr.PhaseDone, rst.Phase, rst.LastError)
	require.False(t, rst.CompletionTime.Before(rst.StartTime))
	for _, name := range secretNames {
		s, err := cs.CoreV1().Secrets(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, "secret of "+name, string(s.Data["value"]))
	}
	for _, name := range rb.Spec.Resources[1].Names {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		require.Equal(t, "example.com", cm.Data["THREESCALE_SUPERDOMAIN"])
	}
	got, err := dyn.Resource(apiManagers).Namespace(ns).Get(ctx, "apimanager", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "example.com", got.Object["spec"].(map[string]any)["wildcardDomain"])
	require.Equal(t, []rr.VolumeResult{{Volume: ns + "/system-storage", Target: ns + "/system-storage", Files: 40, Bytes: rst.Volumes[0].Bytes}}, rst.Volumes)
	requireSameFiles(t, want, files)
	var stt syscall.Stat_t
	require.NoError(t, syscall.Lstat(filepath.Join(files, "public", "system", "logo-07.png"), &stt))
	require.Equal(t, [2]uint32{1001, 1001}, [2]uint32{stt.Uid, stt.Gid}, "owners are restored")
	requireNoMovers(t, cs, ns, "no mover is left after the restore")

	// A claim that does not exist ends the run with a status naming it.
	missing := rb.DeepCopy()
	missing.Name, missing.Spec.Volumes = "missing", []arkivev1.VolumeSelection{{Claims: []string{"system-storage-old"}}}
	_, wid3 := startBackup(t, c, q, missing, st)
	mst := waitBackup(t, c, wid3, time.Minute, "the run fails", func(s resourcebackup.Status) bool { return s.Phase == resourcebackup.PhaseError })
	require.Contains(t, mst.LastError, "spec.volumes[0].claims: volume 3scale/system-storage-old: the PersistentVolumeClaim does not exist")

	// Deleting a ResourceBackup cancels its workflow (operator/work.go): a mover it started goes
	// too. This one waits for ever beside a claim in use on a node nobody runs.
	hostPathClaim(t, cs, ns, "busy", t.TempDir())
	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "busy-app"}, Spec: corev1.PodSpec{NodeName: "node-z",
		Containers: []corev1.Container{{Name: "app", Image: "app", VolumeMounts: []corev1.VolumeMount{{Name: "d", MountPath: "/d"}}}},
		Volumes:    []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "busy"}}}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)
	busy := rb.DeepCopy()
	busy.Name, busy.Spec.Volumes = "busy", []arkivev1.VolumeSelection{{Claims: []string{"busy"}}}
	_, wid2 := startBackup(t, c, q, busy, st)
	testenv.Eventually(t, time.Minute, "the busy claim's mover Pod, waiting for node-z", func() (bool, string) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.MoverLabel + "=busy"})
		return err == nil && len(pods.Items) == 1, fmt.Sprint(err)
	})
	require.NoError(t, c.CancelWorkflow(ctx, wid2, ""))
	require.NoError(t, c.GetWorkflow(ctx, wid2, "").Get(ctx, nil), "a cancelled backup ends (its StopMover ran before)")
	requireNoMovers(t, cs, ns, "a cancelled backup's mover is deleted")
}

// startBackup starts rb's workflow on queue q (under a unique id) and returns its input and id.
func startBackup(t *testing.T, c client.Client, q string, rb *arkivev1.ResourceBackup, st *arkivev1.Storage) (resourcebackup.Input, string) {
	t.Helper()
	in, err := specs.ResourceBackupInput(rb, st)
	require.NoError(t, err)
	wid := workflows.WorkflowID("ResourceBackup", rb.Namespace, fmt.Sprintf("%s-%d", rb.Name, time.Now().UnixNano()))
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: q}, resourcebackup.WorkflowName, resourcebackup.RunInput{Input: in})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	return in, wid
}

// waitBackup queries a ResourceBackup's status until done holds.
func waitBackup(t *testing.T, c client.Client, wid string, within time.Duration, what string, done func(resourcebackup.Status) bool) resourcebackup.Status {
	t.Helper()
	var st resourcebackup.Status
	testenv.Eventually(t, within, what, func() (bool, string) {
		v, err := c.QueryWorkflow(context.Background(), wid, "", workflows.QueryStatus)
		if err != nil || v.Get(&st) != nil {
			return false, fmt.Sprint(err)
		}
		return done(st), st.Phase
	})
	return st
}
