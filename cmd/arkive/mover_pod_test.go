package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	sdkworker "go.temporal.io/sdk/worker"
	"go.temporal.io/sdk/workflow"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	"arkive.io/arkive/activities/kube"
	"arkive.io/arkive/activities/volume"
	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/internal/testnode"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/resourcebackup"
	rr "arkive.io/arkive/workflows/resourcerestore"
)

// startKube starts a real API server (envtest's kube-apiserver and etcd) for the test.
func startKube(t *testing.T) (*rest.Config, kubernetes.Interface) {
	t.Helper()
	log.SetLogger(logr.Discard())
	env := &envtest.Environment{BinaryAssetsDirectory: testenv.KubeAssets(t)}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	cs, err := kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	return cfg, cs
}

// writeKubeconfig writes a kubeconfig for cfg: what the test node gives its processes in place
// of a service account token.
func writeKubeconfig(t *testing.T, cfg *rest.Config) string {
	kc := clientcmdapi.NewConfig()
	kc.Clusters["envtest"] = &clientcmdapi.Cluster{Server: cfg.Host, CertificateAuthorityData: cfg.CAData}
	kc.AuthInfos["envtest"] = &clientcmdapi.AuthInfo{ClientCertificateData: cfg.CertData, ClientKeyData: cfg.KeyData, Token: cfg.BearerToken}
	kc.Contexts["envtest"] = &clientcmdapi.Context{Cluster: "envtest", AuthInfo: "envtest"}
	kc.CurrentContext = "envtest"
	path := filepath.Join(t.TempDir(), "kubeconfig")
	require.NoError(t, clientcmd.WriteToFile(*kc, path))
	return path
}

// hostPathClaim makes a PersistentVolume on dir (the test node's stand-in for a real volume)
// and a ReadWriteOnce claim bound to it.
func hostPathClaim(t *testing.T, cs kubernetes.Interface, ns, name, dir string) {
	ctx := context.Background()
	_, err := cs.CoreV1().PersistentVolumes().Create(ctx, &corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: ns + "-" + name},
		Spec: corev1.PersistentVolumeSpec{Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
			AccessModes:            []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: dir}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			VolumeName: ns + "-" + name,
			Resources:  corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}}},
		metav1.CreateOptions{})
	require.NoError(t, err)
}

// #15 acceptance 5 (the mover's lifecycle, without the resource workflows yet) on a real API
// server with Pod Security admission at `restricted`, and a test node (internal/testnode) in
// place of a kubelet: StartMover creates a Pod the API server accepts (no privileged, no
// hostPath), placed on the node where the ReadWriteOnce claim is in use; a retried StartMover
// finds the same Pod; the Pod's `arkive mover` backs the volume up and another restores it into
// a second claim; StopMover leaves no Pod and no process; a missing claim is named.
func TestMoverPodsBackUpAndRestoreAVolume(t *testing.T) {
	temporal := testenv.Temporal(t)
	bin := buildArkive(t)
	cfg, cs := startKube(t)
	ctx := context.Background()

	const ns = "apps"
	_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns,
		Labels: map[string]string{"pod-security.kubernetes.io/enforce": "restricted"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// The control: this API server does enforce the profile.
	yes := true
	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "privileged"}, Spec: corev1.PodSpec{
		Containers: []corev1.Container{{Name: "c", Image: "x", SecurityContext: &corev1.SecurityContext{Privileged: &yes}}}}}, metav1.CreateOptions{})
	require.ErrorContains(t, err, "violates PodSecurity")

	src, dst, store := t.TempDir(), t.TempDir(), t.TempDir()
	for i := range 50 {
		require.NoError(t, os.WriteFile(filepath.Join(src, fmt.Sprintf("file-%02d", i)), []byte(fmt.Sprintf("content %d\n", i)), 0o644))
	}
	require.NoError(t, os.Mkdir(filepath.Join(src, "sub"), 0o750))
	require.NoError(t, os.WriteFile(filepath.Join(src, "sub", "deep"), make([]byte, 3<<20), 0o600))
	hostPathClaim(t, cs, ns, "data", src)
	hostPathClaim(t, cs, ns, "restored", dst)
	_, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "app-config"},
		Data: map[string]string{"mode": "production"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "storage-key"},
		Data: map[string][]byte{"key": []byte("0123456789abcdef0123456789abcdef")}}, metav1.CreateOptions{})
	require.NoError(t, err)
	// The application using the claim runs on node-b: the mover must go there too.
	no := false
	_, err = cs.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "app"}, Spec: corev1.PodSpec{
		NodeName: "node-b", SecurityContext: &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: ptrTo(int64(1000)),
			SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}},
		Containers: []corev1.Container{{Name: "app", Image: "app", Command: []string{"sleep", "600"},
			SecurityContext: &corev1.SecurityContext{AllowPrivilegeEscalation: &no, Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}},
			VolumeMounts:    []corev1.VolumeMount{{Name: "data", MountPath: "/data"}}}},
		Volumes: []corev1.Volume{{Name: "data", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: "data"}}}},
	}}, metav1.CreateOptions{})
	require.NoError(t, err)

	kubeconfig := writeKubeconfig(t, cfg)
	commands := map[string]string{"arkive": bin, "sleep": "/bin/sleep"}
	nodeA := testnode.Start(t, cs, "node-a", true, commands, []string{"KUBECONFIG=" + kubeconfig})
	nodeB := testnode.Start(t, cs, "node-b", false, commands, []string{"KUBECONFIG=" + kubeconfig})

	c, err := client.Dial(client.Options{HostPort: temporal})
	require.NoError(t, err)
	defer c.Close()
	wq := fmt.Sprintf("mover-pod-test-%d", time.Now().UnixNano())
	w := sdkworker.New(c, wq, sdkworker.Options{})
	w.RegisterWorkflowWithOptions(moverRoundTrip, workflow.RegisterOptions{Name: "moverRoundTrip"})
	require.NoError(t, w.Start())
	defer w.Stop()
	spec, err := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: store},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "storage-key", Key: "key"}}})
	require.NoError(t, err)
	conn := workflows.ResourceConnection{Namespace: ns, Backup: ns + "/platform", Storage: spec, StorageName: "st"}

	acts := &kube.Activities{Config: cfg, Mover: kube.MoverTemplate{Image: "ghcr.io/arkive/arkive:test", Args: []string{"--temporal-address", temporal}}}
	// A worker whose Temporal needs mTLS and an API key (#18 point 3) gives its movers the
	// same, through a Secret beside each mover Pod: the restore below runs that way, its mover
	// reaching Temporal only through the test's authenticating TLS proxy.
	pkiDir := t.TempDir()
	pki := newTestPKI(t, pkiDir)
	const apiKey = "arkive-mover-api-key-51d3"
	apiKeyFile := filepath.Join(pkiDir, "api-key")
	require.NoError(t, os.WriteFile(apiKeyFile, []byte(apiKey), 0o600))
	proxy := startAuthProxy(t, temporal, pki, apiKey)
	tlsActs := &kube.Activities{Config: cfg, Mover: kube.MoverTemplate{Image: "ghcr.io/arkive/arkive:test", Args: []string{"--temporal-address", proxy.addr},
		Temporal: kube.MoverTemporal{CAFile: pki.ca, CertFile: pki.cert, KeyFile: pki.key, APIKeyFile: apiKeyFile, ServerName: "temporal.test"}}}
	viaMover := func(acts *kube.Activities, in kube.MoverInput, restore bool) rr.VolumeRestoreResult {
		m, err := acts.StartMover(ctx, in)
		require.NoError(t, err)
		again, err := acts.StartMover(ctx, in)
		require.NoError(t, err)
		require.Equal(t, m, again, "a retried StartMover finds the same mover")
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: kube.MoverLabel})
		require.NoError(t, err)
		require.Len(t, pods.Items, 1, "one mover Pod")
		pod := pods.Items[0]
		require.Equal(t, m.Pod, pod.Name)
		for _, v := range pod.Spec.Volumes {
			require.Nil(t, v.HostPath, "no hostPath volume")
		}
		for _, ctr := range pod.Spec.Containers {
			require.True(t, ctr.SecurityContext.Privileged == nil || !*ctr.SecurityContext.Privileged, "never privileged")
			require.Equal(t, !restore, ctr.VolumeMounts[0].ReadOnly, "a backup mounts the volume read-only")
		}
		secure := acts.Mover.Temporal.APIKeyFile != ""
		if secure {
			spec, err := json.Marshal(pod.Spec)
			require.NoError(t, err)
			require.NotContains(t, string(spec), apiKey, "the key is in no Pod spec")
			require.Contains(t, pod.Spec.Containers[0].Args, kube.MoverTemporalPath+"/api-key")
			sec, err := cs.CoreV1().Secrets(ns).Get(ctx, pod.Name, metav1.GetOptions{})
			require.NoError(t, err, "the mover's Temporal Secret")
			require.Equal(t, apiKey, string(sec.Data["api-key"]))
			require.Len(t, sec.OwnerReferences, 1)
			require.Equal(t, pod.UID, sec.OwnerReferences[0].UID, "owned by its Pod: collected with it")
		}
		before := proxy.authorized.Load()
		var res rr.VolumeRestoreResult
		wr, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: wq}, "moverRoundTrip",
			moverRoundTripInput{Queue: m.TaskQueue, Conn: conn, Restore: restore})
		require.NoError(t, err)
		require.NoError(t, wr.Get(ctx, &res))
		if secure {
			require.Greater(t, proxy.authorized.Load(), before, "the mover's calls went through the TLS proxy with the key")
		}
		require.NoError(t, acts.StopMover(ctx, in))
		require.NoError(t, acts.StopMover(ctx, in), "stopping a stopped mover is fine")
		require.Eventually(t, func() bool {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, m.Pod, metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		}, time.Minute, 50*time.Millisecond, "the mover Pod is deleted")
		_, err = cs.CoreV1().Secrets(ns).Get(ctx, m.Pod, metav1.GetOptions{})
		require.True(t, apierrors.IsNotFound(err), "no mover Secret is left")
		return res
	}

	res := viaMover(acts, kube.MoverInput{Namespace: ns, Claim: "data", Key: "backup-1"}, false)
	require.Equal(t, 51, res.Files)
	got, err := acts.StartMover(ctx, kube.MoverInput{Namespace: ns, Claim: "data", Key: "placement"})
	require.NoError(t, err)
	require.Equal(t, "node-b", got.Node, "a ReadWriteOnce claim in use on node-b gets its mover there")
	require.NoError(t, acts.StopMover(ctx, kube.MoverInput{Namespace: ns, Key: "placement"}))

	res = viaMover(tlsActs, kube.MoverInput{Namespace: ns, Claim: "restored", Key: "restore-1", Write: true}, true)
	require.Equal(t, 51, res.Files)
	requireSameFiles(t, src, dst)
	require.Eventually(t, func() bool { return nodeA.Running()+nodeB.Running() == 1 }, time.Minute, 50*time.Millisecond,
		"only the application's process runs on the test nodes")

	_, err = acts.StartMover(ctx, kube.MoverInput{Namespace: ns, Claim: "missing", Key: "x"})
	require.ErrorContains(t, err, "volume apps/missing: the PersistentVolumeClaim does not exist")

	// Through the ResourceBackup workflow: its ConfigMaps and the claim's files, by a mover Pod
	// the workflow starts and removes.
	rq := wq + "-rb"
	wk := worker.New(c, worker.Options{TaskQueue: rq, Kube: cfg, Secrets: func(n string) secrets.Resolver { return secrets.Kube(cs, n) },
		MoverPods: acts.Mover})
	require.NoError(t, wk.Start())
	defer wk.Stop()
	storage := &arkivev1.Storage{ObjectMeta: metav1.ObjectMeta{Name: "st", Namespace: ns}, Spec: arkivev1.StorageSpec{
		Volume:     &arkivev1.VolumeStorage{Path: store},
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "storage-key", Key: "key"}}}}
	rbObj := &arkivev1.ResourceBackup{ObjectMeta: metav1.ObjectMeta{Name: "platform", Namespace: ns}, Spec: arkivev1.ResourceBackupSpec{
		ResourceSelection: arkivev1.ResourceSelection{Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}}}, Storage: "st",
		Volumes: []arkivev1.VolumeSelection{{Claims: []string{"data"}}}}}
	in, err := specs.ResourceBackupInput(rbObj, storage)
	require.NoError(t, err)
	wid := workflows.WorkflowID("ResourceBackup", ns, fmt.Sprintf("platform-%d", time.Now().UnixNano()))
	_, err = c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: rq}, resourcebackup.WorkflowName, resourcebackup.RunInput{Input: in})
	require.NoError(t, err)
	t.Cleanup(func() { _ = c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	var st resourcebackup.Status
	require.Eventually(t, func() bool {
		v, err := c.QueryWorkflow(ctx, wid, "", workflows.QueryStatus)
		if err != nil || v.Get(&st) != nil {
			return false
		}
		return st.LastSnapshot != "" || st.Phase == resourcebackup.PhaseError
	}, 3*time.Minute, 100*time.Millisecond)
	require.Equal(t, resourcebackup.PhaseRunning, st.Phase, st.LastError)
	require.Equal(t, 1, st.Volumes)
	var data int64
	require.NoError(t, filepath.WalkDir(src, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			info, _ := d.Info()
			data += info.Size()
		}
		return err
	}))
	require.Equal(t, data, st.VolumeBytes)
	requireNoMovers(t, cs, ns, "the workflow's mover is gone once the snapshot is taken")

	// The run's volume snapshot holds the claim's files exactly.
	vs, err := blobstore.OpenURL(ctx, "file://"+store)
	require.NoError(t, err)
	layout, err := blobstore.Volumes(in.Backup)
	require.NoError(t, err)
	repo, err := volume.Open(ctx, vs, layout, []byte("0123456789abcdef0123456789abcdef"))
	require.NoError(t, err)
	defer repo.Close()
	m, err := repo.Manifest(ctx)
	require.NoError(t, err)
	ref := m.Find(resourcebackup.VolumeSnapshotID(st.LastSnapshot, ns, "data"))
	require.NotNil(t, ref, "volume snapshot of run %s", st.LastSnapshot)
	require.Equal(t, st.LastSnapshot, ref.Run)
	require.Equal(t, "1Gi", ref.Claim.Capacity)
	again := t.TempDir()
	_, err = repo.Restore(ctx, ref, again, volume.RestoreOptions{})
	require.NoError(t, err)
	requireSameFiles(t, src, again)

	// A ResourceRestore of the run brings the files back into a claim it creates (claimMapping
	// onto a claim that does not exist; the test's provisioner binds it to a directory).
	provisioned := t.TempDir()
	testnode.Provision(t, cs, provisioned)
	rrObj := &arkivev1.ResourceRestore{ObjectMeta: metav1.ObjectMeta{Name: "back", Namespace: ns}, Spec: arkivev1.ResourceRestoreSpec{
		Source:  arkivev1.SchemaSnapshotSource{Storage: "st", Backup: in.Backup, Snapshot: st.LastSnapshot},
		Volumes: &arkivev1.VolumeRestore{ClaimMapping: []arkivev1.ClaimMapping{{From: ns + "/data", To: ns + "/data-copy"}}}}}
	rin, err := specs.ResourceRestoreInput(rrObj, storage)
	require.NoError(t, err)
	rrun, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{TaskQueue: rq}, rr.WorkflowName, rin)
	require.NoError(t, err)
	var rst rr.Status
	require.NoError(t, rrun.Get(ctx, &rst))
	require.Equal(t, rr.PhaseDone, rst.Phase, rst.LastError)
	require.Equal(t, []rr.VolumeResult{{Volume: ns + "/data", Target: ns + "/data-copy", Created: true, Files: 51, Bytes: data}}, rst.Volumes)
	copyClaim, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(ctx, "data-copy", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "1Gi", copyClaim.Spec.Resources.Requests.Storage().String(), "created with the captured size")
	requireSameFiles(t, src, filepath.Join(provisioned, "pv-"+ns+"-data-copy"))
	requireNoMovers(t, cs, ns, "the restore's mover is gone too")

	// The command line reads volume snapshots: inspect lists them and their files, verify
	// --deep re-hashes every chunk and finds a damaged pack, export extracts a subtree.
	keyFile := filepath.Join(t.TempDir(), "key")
	require.NoError(t, os.WriteFile(keyFile, []byte("0123456789abcdef0123456789abcdef"), 0o600))
	cli := func(args ...string) (string, error) {
		var out, errOut strings.Builder
		err := run(append(args, "--storage", "file://"+store, "--key-file", keyFile), &out, &errOut)
		return out.String(), err
	}
	out, err := cli("inspect", "--backup", in.Backup, "--snapshot", "newest")
	require.NoError(t, err)
	require.Contains(t, out, "volume backup apps/platform")
	require.Contains(t, out, `"sub/deep"`)
	out, err = cli("verify", "--backup", in.Backup, "--deep")
	require.NoError(t, err, out)
	require.Contains(t, out, "volume backup apps/platform is whole")
	into := t.TempDir()
	out, err = cli("export", "--backup", in.Backup, "--path", "/sub", "--into", into)
	require.NoError(t, err, out)
	deep, err := os.ReadFile(filepath.Join(into, "sub", "deep"))
	require.NoError(t, err)
	require.Len(t, deep, 3<<20)
	_, err = os.Stat(filepath.Join(into, "file-00"))
	require.True(t, os.IsNotExist(err), "only the subtree is extracted")
	packs, err := filepath.Glob(filepath.Join(store, "volumes", "apps", "platform", "packs", "*", "*"))
	require.NoError(t, err)
	require.NotEmpty(t, packs)
	for _, p := range packs { // flip a byte in the middle of every pack: blobs fail authentication
		b, err := os.ReadFile(p)
		require.NoError(t, err)
		b[len(b)/2] ^= 0xff
		require.NoError(t, os.WriteFile(p, b, 0o644))
	}
	out, err = cli("verify", "--backup", in.Backup, "--deep")
	require.Error(t, err)
	require.Contains(t, out, "PROBLEM volume snapshot")
}

// requireNoMovers waits until no mover Pod is left in ns (a deleted Pod goes once its node
// has stopped it).
func requireNoMovers(t *testing.T, cs kubernetes.Interface, ns, msg string) {
	t.Helper()
	require.Eventually(t, func() bool {
		pods, err := cs.CoreV1().Pods(ns).List(context.Background(), metav1.ListOptions{LabelSelector: kube.MoverLabel})
		require.NoError(t, err)
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil {
				t.Fatalf("%s: mover Pod %s is not even being deleted (created %s, node %q, phase %s)", msg, p.Name, p.CreationTimestamp, p.Spec.NodeName, p.Status.Phase)
			}
		}
		return len(pods.Items) == 0
	}, time.Minute, 50*time.Millisecond, msg)
}
