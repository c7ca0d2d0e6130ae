package worker_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/stretchr/testify/require"
	"go.temporal.io/sdk/client"
	"gocloud.dev/blob"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apiresource "k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	"sigs.k8s.io/controller-runtime/pkg/log"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
)

// secretMarker is in the value of every Secret the resource tests make: it must appear in no
// workflow history and no stored object.
const secretMarker = "s3cr3t-VALUE-9f2c1e"

// kubeBed is a real kube-apiserver + etcd (envtest; no controller manager, so no namespace,
// garbage-collector or token controllers), Temporal, MinIO, and a worker with Kubernetes access.
type kubeBed struct {
	cfg     *rest.Config
	cs      *kubernetes.Clientset
	dyn     dynamic.Interface
	c       client.Client
	queue   string
	storage *arkivev1.Storage
	bucket  string
	sr      secrets.Map
}

var widgetGVR = schema.GroupVersionResource{Group: "test.arkive.io", Version: "v1", Resource: "widgets"}

func newKubeBed(t testing.TB) *kubeBed {
	t.Helper()
	log.SetLogger(logr.Discard())
	env := &envtest.Environment{BinaryAssetsDirectory: testenv.KubeAssets(t)}
	cfg, err := env.Start()
	require.NoError(t, err)
	t.Cleanup(func() { _ = env.Stop() })
	b := &kubeBed{cfg: cfg, bucket: "arkive-resources"}
	b.cs, err = kubernetes.NewForConfig(cfg)
	require.NoError(t, err)
	b.dyn, err = dynamic.NewForConfig(cfg)
	require.NoError(t, err)
	endpoint, id, secretKey := testenv.MinIOBucket(t, b.bucket)
	b.sr = secrets.Map{"minio#AWS_ACCESS_KEY_ID": id, "minio#AWS_SECRET_ACCESS_KEY": secretKey,
		"backup-key#key": "0123456789abcdef0123456789abcdef", "other-key#key": "fedcba9876543210fedcba9876543210"}
	b.storage = &arkivev1.Storage{ObjectMeta: metav1.ObjectMeta{Name: "minio", Namespace: "arkive"}, Spec: arkivev1.StorageSpec{
		S3:         &arkivev1.S3Storage{Bucket: b.bucket, Endpoint: endpoint, ForcePathStyle: true, CredentialsSecret: &arkivev1.S3Credentials{Name: "minio"}},
		Prefix:     fmt.Sprintf("t%d/", time.Now().UnixNano()),
		Encryption: &arkivev1.StorageEncryption{KeySecret: arkivev1.SecretKeyRef{Name: "backup-key", Key: "key"}},
	}}
	b.c, err = client.Dial(client.Options{HostPort: testenv.Temporal(t)})
	require.NoError(t, err)
	t.Cleanup(b.c.Close)
	b.queue = fmt.Sprintf("resources-%d", time.Now().UnixNano())
	w := worker.New(b.c, worker.Options{TaskQueue: b.queue, Kube: cfg, Secrets: func(string) secrets.Resolver { return b.sr }})
	require.NoError(t, w.Start())
	t.Cleanup(w.Stop)
	return b
}

// widgetCRD is a custom resource with a status subresource.
func (b *kubeBed) createWidgetCRD(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	crd := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
		"metadata": map[string]any{"name": "widgets.test.arkive.io"},
		"spec": map[string]any{
			"group": "test.arkive.io", "scope": "Namespaced",
			"names": map[string]any{"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
			"versions": []any{map[string]any{"name": "v1", "served": true, "storage": true,
				"subresources": map[string]any{"status": map[string]any{}},
				"schema": map[string]any{"openAPIV3Schema": map[string]any{"type": "object", "properties": map[string]any{
					"spec":   map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
					"status": map[string]any{"type": "object", "x-kubernetes-preserve-unknown-fields": true},
				}}}}},
		},
	}}
	_, err := b.dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")).Create(ctx, crd, metav1.CreateOptions{})
	require.NoError(t, err)
	testenv.Eventually(t, time.Minute, "the Widget CRD is served", func() (bool, string) {
		_, err := b.dyn.Resource(widgetGVR).Namespace("default").List(ctx, metav1.ListOptions{})
		return err == nil, fmt.Sprint(err)
	})
}

// populate makes the round trip's objects in ns: 50 Secrets (kubernetes.io/tls,
// dockerconfigjson and a ServiceAccount token among them), 50 ConfigMaps (some with
// binaryData), 20 Widgets (each after the first owned by the first, with a status), a
// Service, a ServiceAccount, a Role and RoleBinding, and a PVC.
func (b *kubeBed) populate(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	_, err := b.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{"team": "kafka"}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = b.cs.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	for i := range 50 {
		s := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("secret-%02d", i), Labels: map[string]string{"app": "kafka"}},
			Data: map[string][]byte{"password": []byte(fmt.Sprintf("%s-%02d", secretMarker, i))}}
		switch i {
		case 0:
			s.Type = corev1.SecretTypeTLS
			s.Data = map[string][]byte{"tls.crt": []byte(secretMarker + "-crt"), "tls.key": []byte(secretMarker + "-key")}
		case 1:
			s.Type = corev1.SecretTypeDockerConfigJson
			s.Data = map[string][]byte{".dockerconfigjson": []byte(`{"auths":{"r.example":{"auth":"` + secretMarker + `"}}}`)}
		case 2:
			s.Type = corev1.SecretTypeServiceAccountToken
			s.Annotations = map[string]string{"kubernetes.io/service-account.name": "app"}
			s.Data = map[string][]byte{"token": []byte(secretMarker + "-token")}
		}
		_, err := b.cs.CoreV1().Secrets(ns).Create(ctx, s, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	for i := range 50 {
		cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("config-%02d", i)}, Data: map[string]string{"server.properties": fmt.Sprintf("broker.id=%d", i)}}
		if i%10 == 0 {
			cm.BinaryData = map[string][]byte{"blob": {0, 1, 2, 0xff, byte(i)}}
		}
		_, err := b.cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
		require.NoError(t, err)
	}
	var owner *unstructured.Unstructured
	for i := range 20 {
		w := &unstructured.Unstructured{Object: map[string]any{"apiVersion": "test.arkive.io/v1", "kind": "Widget",
			"metadata": map[string]any{"name": fmt.Sprintf("widget-%02d", i)},
			"spec":     map[string]any{"configMap": fmt.Sprintf("config-%02d", i), "secret": fmt.Sprintf("secret-%02d", i+3), "size": int64(i)}}}
		if owner != nil {
			w.SetOwnerReferences([]metav1.OwnerReference{{APIVersion: "test.arkive.io/v1", Kind: "Widget", Name: owner.GetName(), UID: owner.GetUID(), Controller: ptr.To(true)}})
		}
		created, err := b.dyn.Resource(widgetGVR).Namespace(ns).Create(ctx, w, metav1.CreateOptions{})
		require.NoError(t, err)
		created.Object["status"] = map[string]any{"ready": true}
		created, err = b.dyn.Resource(widgetGVR).Namespace(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{})
		require.NoError(t, err)
		if owner == nil {
			owner = created
		}
	}
	_, err = b.cs.CoreV1().Services(ns).Create(ctx, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "kafka"}, Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, Selector: map[string]string{"app": "kafka"}, Ports: []corev1.ServicePort{{Name: "tcp", Port: 9092}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = b.cs.RbacV1().Roles(ns).Create(ctx, &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "kafka-reader"},
		Rules: []rbacv1.PolicyRule{{APIGroups: []string{""}, Resources: []string{"configmaps"}, Verbs: []string{"get"}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = b.cs.RbacV1().RoleBindings(ns).Create(ctx, &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "kafka-readers"},
		RoleRef:  rbacv1.RoleRef{APIGroup: "rbac.authorization.k8s.io", Kind: "Role", Name: "kafka-reader"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "app", Namespace: ns}}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = b.cs.CoreV1().PersistentVolumeClaims(ns).Create(ctx, &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data"},
		Spec: corev1.PersistentVolumeClaimSpec{AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: apiresource.MustParse("1Gi")}}}}, metav1.CreateOptions{})
	require.NoError(t, err)
}

// allKinds is the round trip's selection.
var allKinds = []arkivev1.ResourceType{{Kind: "Secret"}, {Kind: "ConfigMap"}, {Group: "test.arkive.io", Kind: "Widget"}, {Kind: "Service"},
	{Kind: "ServiceAccount"}, {Group: "rbac.authorization.k8s.io", Kind: "Role"}, {Group: "rbac.authorization.k8s.io", Kind: "RoleBinding"},
	{Kind: "PersistentVolumeClaim"}}

// backup runs a ResourceBackup of ns until its first snapshot and returns the snapshot id.
func (b *kubeBed) backup(t *testing.T, name string, spec arkivev1.ResourceBackupSpec) (string, client.WorkflowRun) {
	t.Helper()
	rb := &arkivev1.ResourceBackup{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "arkive"}, Spec: spec}
	rb.Spec.Storage = b.storage.Name
	in, err := specs.ResourceBackupInput(rb, b.storage)
	require.NoError(t, err)
	wid := workflows.WorkflowID("ResourceBackup", "arkive", fmt.Sprintf("%s-%d", name, time.Now().UnixNano()))
	run, err := b.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: b.queue}, resourcebackup.WorkflowName, resourcebackup.RunInput{Input: in})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	st := waitForStatus(t, b.c, wid, func(s resourcebackup.Status) bool {
		return s.LastSnapshot != "" || s.Phase == resourcebackup.PhaseError
	})
	require.Equal(t, resourcebackup.PhaseRunning, st.Phase, st.LastError)
	return st.LastSnapshot, run
}

// restore runs a ResourceRestore to its end.
func (b *kubeBed) restore(t *testing.T, backup string, spec arkivev1.ResourceRestoreSpec) (resourcerestore.Status, client.WorkflowRun, error) {
	t.Helper()
	rs := &arkivev1.ResourceRestore{ObjectMeta: metav1.ObjectMeta{Name: "r", Namespace: "arkive"}, Spec: spec}
	rs.Spec.Source.Storage, rs.Spec.Source.Backup = b.storage.Name, backup
	in, err := specs.ResourceRestoreInput(rs, b.storage)
	require.NoError(t, err)
	wid := workflows.WorkflowID("ResourceRestore", "arkive", fmt.Sprintf("r-%d", time.Now().UnixNano()))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	run, err := b.c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: wid, TaskQueue: b.queue}, resourcerestore.WorkflowName, in)
	require.NoError(t, err)
	var st resourcerestore.Status
	err = run.Get(ctx, &st)
	if err != nil { // a failed run's status is its last query answer
		v, qerr := b.c.QueryWorkflow(ctx, wid, run.GetRunID(), workflows.QueryStatus)
		require.NoError(t, qerr)
		require.NoError(t, v.Get(&st))
	}
	return st, run, err
}

// snapshotOf reads every object of the listed kinds in ns as the API server returns them.
func (b *kubeBed) snapshotOf(t *testing.T, ns string) map[string]*unstructured.Unstructured {
	t.Helper()
	out := map[string]*unstructured.Unstructured{}
	for _, r := range []schema.GroupVersionResource{{Version: "v1", Resource: "secrets"}, {Version: "v1", Resource: "configmaps"}, widgetGVR,
		{Version: "v1", Resource: "services"}, {Version: "v1", Resource: "serviceaccounts"}, {Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "roles"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Resource: "rolebindings"}, {Version: "v1", Resource: "persistentvolumeclaims"}} {
		l, err := b.dyn.Resource(r).Namespace(ns).List(context.Background(), metav1.ListOptions{})
		require.NoError(t, err)
		for i := range l.Items {
			out[r.Resource+"/"+l.Items[i].GetName()] = &l.Items[i]
		}
	}
	return out
}

// documented strips exactly the fields docs/kubernetes-resources.md says a restore does not
// keep, written out here on their own (not with the code under test), plus the namespace.
func documented(u *unstructured.Unstructured) map[string]any {
	c := u.DeepCopy().Object
	for _, f := range []string{"uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "namespace"} {
		unstructured.RemoveNestedField(c, "metadata", f)
	}
	unstructured.RemoveNestedField(c, "status")
	unstructured.RemoveNestedField(c, "spec", "clusterIP")
	unstructured.RemoveNestedField(c, "spec", "clusterIPs")
	unstructured.RemoveNestedField(c, "spec", "volumeName")
	if ports, ok, _ := unstructured.NestedSlice(c, "spec", "ports"); ok {
		for _, p := range ports {
			delete(p.(map[string]any), "nodePort")
		}
		_ = unstructured.SetNestedSlice(c, ports, "spec", "ports")
	}
	if refs, ok, _ := unstructured.NestedSlice(c, "metadata", "ownerReferences"); ok {
		for _, r := range refs {
			delete(r.(map[string]any), "uid")
		}
		_ = unstructured.SetNestedSlice(c, refs, "metadata", "ownerReferences")
	}
	if subjects, ok, _ := unstructured.NestedSlice(c, "subjects"); ok {
		for _, s := range subjects {
			delete(s.(map[string]any), "namespace")
		}
		_ = unstructured.SetNestedSlice(c, subjects, "subjects")
	}
	return c
}

// deleteNamespace deletes every object of ns, then ns itself. envtest has no namespace
// controller, so the test empties the namespace and finalizes it as that controller would.
func (b *kubeBed) deleteNamespace(t *testing.T, ns string) {
	t.Helper()
	ctx := context.Background()
	for key := range b.snapshotOf(t, ns) {
		res, name, _ := strings.Cut(key, "/")
		r := schema.GroupVersionResource{Version: "v1", Resource: res}
		switch res {
		case "widgets":
			r = widgetGVR
		case "roles", "rolebindings":
			r.Group = "rbac.authorization.k8s.io"
		}
		require.NoError(t, b.dyn.Resource(r).Namespace(ns).Delete(ctx, name, metav1.DeleteOptions{}))
		// A PVC keeps its pvc-protection finalizer until a controller removes it; there is none.
		_, err := b.dyn.Resource(r).Namespace(ns).Patch(ctx, name, types.MergePatchType, []byte(`{"metadata":{"finalizers":null}}`), metav1.PatchOptions{})
		require.True(t, err == nil || apierrors.IsNotFound(err), "%v", err)
	}
	require.NoError(t, b.cs.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}))
	n, err := b.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	require.NoError(t, err)
	n.Spec.Finalizers = nil
	_, err = b.cs.CoreV1().Namespaces().Finalize(ctx, n, metav1.UpdateOptions{})
	require.NoError(t, err)
	testenv.Eventually(t, time.Minute, "namespace "+ns+" is gone", func() (bool, string) {
		_, err := b.cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
}

// widget404s reads the API server's count of 404 answers for widgets.
func (b *kubeBed) widget404s(t *testing.T) int {
	t.Helper()
	raw, err := b.cs.RESTClient().Get().AbsPath("/metrics").DoRaw(context.Background())
	require.NoError(t, err)
	re := regexp.MustCompile(`^apiserver_request_total\{(.*)\} (\d+)`)
	total := 0
	sc := bufio.NewScanner(bytes.NewReader(raw))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		m := re.FindStringSubmatch(sc.Text())
		if m != nil && strings.Contains(m[1], `code="404"`) && strings.Contains(m[1], `resource="widgets"`) {
			n, _ := strconv.Atoi(m[2])
			total += n
		}
	}
	return total
}

// storedBytes reads every object the storage holds under the test's prefix.
func (b *kubeBed) storedBytes(t *testing.T) []byte {
	t.Helper()
	ctx := context.Background()
	st, err := blobstore.Open(ctx, b.storage.Spec, b.sr)
	require.NoError(t, err)
	defer st.Close()
	var all bytes.Buffer
	it := st.List(&blob.ListOptions{})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		require.NoError(t, err)
		data, err := st.ReadAll(ctx, obj.Key)
		require.NoError(t, err)
		all.Write(data)
	}
	return all.Bytes()
}

// Issue 14, acceptances 1, 2, 4 and 5: a namespace of Secrets, ConfigMaps, custom resources
// with owner references, a Service, RBAC and a PVC is backed up, the namespace and the CRD
// deleted, and restored: every object equals the original but for the documented fields, owner
// references point at the new uids, custom resources come after the configuration they name
// and without a 404 for their kind, and a second restore changes nothing. Then the same
// snapshot into another namespace; then the security checks.
func TestResourceBackupRestoreRoundTrip(t *testing.T) {
	b := newKubeBed(t)
	ctx := context.Background()
	b.createWidgetCRD(t)
	ns := fmt.Sprintf("platform-%d", time.Now().UnixNano()%100000)
	b.populate(t, ns)
	before := b.snapshotOf(t, ns)
	require.Len(t, before, 50+50+20+5) // Service, ServiceAccount, Role, RoleBinding, PVC (no "default" ServiceAccount: no controller manager)

	id, backupRun := b.backup(t, "platform", arkivev1.ResourceBackupSpec{ResourceSelection: arkivev1.ResourceSelection{Namespaces: []string{ns}, Resources: allKinds}})
	require.NotEmpty(t, id)

	// The namespace and the CRD go: the restore must bring the CRD back before the Widgets.
	b.deleteNamespace(t, ns)
	require.NoError(t, b.dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")).Delete(ctx, "widgets.test.arkive.io", metav1.DeleteOptions{}))
	testenv.Eventually(t, time.Minute, "the Widget CRD is gone", func() (bool, string) {
		_, err := b.dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions")).Get(ctx, "widgets.test.arkive.io", metav1.GetOptions{})
		return apierrors.IsNotFound(err), fmt.Sprint(err)
	})
	notFound := b.widget404s(t)

	st, restoreRun, err := b.restore(t, "arkive/platform", arkivev1.ResourceRestoreSpec{})
	require.NoError(t, err, st.LastError)
	require.Equal(t, resourcerestore.PhaseDone, st.Phase, st.LastError)
	require.Equal(t, len(before)-1+2, st.Counts.Created, "every object but the token Secret, plus the namespace and the CRD, is created: %+v", st.Counts)
	require.Equal(t, notFound, b.widget404s(t), "the restore made no request for a Widget before its kind was served")

	after := b.snapshotOf(t, ns)
	require.Len(t, after, len(before)-1)
	require.NotContains(t, after, "secrets/secret-02", "the ServiceAccount token Secret is not restored")
	for key, orig := range before {
		if key == "secrets/secret-02" {
			continue
		}
		got := after[key]
		require.NotNil(t, got, key)
		require.Equal(t, documented(orig), documented(got), "%s equals the original but for the documented fields", key)
	}
	newOwner := after["widgets/widget-00"].GetUID()
	require.NotEqual(t, before["widgets/widget-00"].GetUID(), newOwner)
	for i := 1; i < 20; i++ {
		refs := after[fmt.Sprintf("widgets/widget-%02d", i)].GetOwnerReferences()
		require.Len(t, refs, 1)
		require.Equal(t, newOwner, refs[0].UID, "widget-%02d's owner reference points at the restored owner", i)
	}
	_, found, _ := unstructured.NestedMap(after["widgets/widget-05"].Object, "status")
	require.False(t, found, "status is not restored unless asked for")
	// Custom resources are created after every Secret and ConfigMap: resource versions are
	// etcd revisions, which only grow.
	lastConfig, firstWidget := int64(0), int64(1<<62)
	for key, u := range after {
		rv, err := strconv.ParseInt(u.GetResourceVersion(), 10, 64)
		require.NoError(t, err)
		switch {
		case strings.HasPrefix(key, "secrets/"), strings.HasPrefix(key, "configmaps/"):
			lastConfig = max(lastConfig, rv)
		case strings.HasPrefix(key, "widgets/"):
			firstWidget = min(firstWidget, rv)
		}
	}
	require.Less(t, lastConfig, firstWidget, "the Widgets were created after the Secrets and ConfigMaps")

	// A second restore with Skip changes nothing.
	st, _, err = b.restore(t, "arkive/platform", arkivev1.ResourceRestoreSpec{})
	require.NoError(t, err)
	require.Equal(t, resourcerestore.PhaseDone, st.Phase)
	require.Equal(t, resourcerestore.ReasonUnchanged, st.Reason, "%+v", st.Counts)
	again := b.snapshotOf(t, ns)
	for key, u := range after {
		require.Equal(t, u.GetResourceVersion(), again[key].GetResourceVersion(), "%s did not move", key)
	}

	// Namespace mapping: the same set into another namespace, RoleBinding subjects included;
	// the original namespace is untouched.
	mapped := ns + "-copy"
	st, _, err = b.restore(t, "arkive/platform", arkivev1.ResourceRestoreSpec{NamespaceMapping: []arkivev1.NamespaceMapping{{From: ns, To: mapped}}})
	require.NoError(t, err, st.LastError)
	require.Equal(t, resourcerestore.PhaseDone, st.Phase, st.LastError)
	copied := b.snapshotOf(t, mapped)
	require.Len(t, copied, len(after))
	for key, u := range after {
		require.Equal(t, documented(u), documented(copied[key]), key)
		require.Equal(t, mapped, copied[key].GetNamespace())
	}
	subjects, _, _ := unstructured.NestedSlice(copied["rolebindings/kafka-readers"].Object, "subjects")
	require.Equal(t, mapped, subjects[0].(map[string]any)["namespace"], "the RoleBinding's subject is mapped")
	for key, u := range b.snapshotOf(t, ns) {
		require.Equal(t, after[key].GetResourceVersion(), u.GetResourceVersion(), "%s in the original namespace is untouched", key)
	}

	// restoreStatus: the Widgets' stored status is written back through the status subresource.
	withStatus := ns + "-status"
	st, _, err = b.restore(t, "arkive/platform", arkivev1.ResourceRestoreSpec{NamespaceMapping: []arkivev1.NamespaceMapping{{From: ns, To: withStatus}},
		Selection:     arkivev1.ResourceSelection{Resources: []arkivev1.ResourceType{{Group: "test.arkive.io", Kind: "Widget"}}},
		RestoreStatus: []arkivev1.ResourceKind{{Group: "test.arkive.io", Kind: "Widget"}}})
	require.NoError(t, err, st.LastError)
	require.Equal(t, 21, st.Counts.Created, "the namespace and the 20 Widgets (the CRD exists): %+v", st.Counts)
	w, err := b.dyn.Resource(widgetGVR).Namespace(withStatus).Get(ctx, "widget-05", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, map[string]any{"ready": true}, w.Object["status"])

	recordHistory(t, b.c, backupRun.GetID(), "resourcebackup-snapshot")
	recordHistory(t, b.c, restoreRun.GetID(), "resourcerestore-round-trip")

	// Security: no Secret value in the histories or, byte for byte, in the storage.
	requireNotInHistory(t, b.c, backupRun.GetID(), backupRun.GetRunID(), secretMarker, ns)
	requireNotInHistory(t, b.c, restoreRun.GetID(), restoreRun.GetRunID(), secretMarker, "secret-49")
	stored := b.storedBytes(t)
	require.NotEmpty(t, stored)
	require.False(t, bytes.Contains(stored, []byte(secretMarker)), "a Secret value is stored in plain text")
	require.False(t, bytes.Contains(stored, []byte("broker.id=7")), "the snapshot is encrypted as a whole")

	// The wrong key fails a restore with a clear message and writes nothing.
	b.storage.Spec.Encryption.KeySecret.Name = "other-key"
	target := ns + "-wrongkey"
	st, _, err = b.restore(t, "arkive/platform", arkivev1.ResourceRestoreSpec{NamespaceMapping: []arkivev1.NamespaceMapping{{From: ns, To: target}}})
	b.storage.Spec.Encryption.KeySecret.Name = "backup-key"
	require.Error(t, err)
	require.Equal(t, resourcerestore.PhaseFailed, st.Phase)
	require.Contains(t, st.LastError, "cannot be decrypted with the encryption key of Storage minio")
	_, err = b.cs.CoreV1().Namespaces().Get(ctx, target, metav1.GetOptions{})
	require.True(t, apierrors.IsNotFound(err), "nothing was written: %v", err)

	// A backup selecting Secrets into a Storage without encryption is refused, naming it.
	plain := b.storage.DeepCopy()
	plain.Spec.Encryption = nil
	_, err = specs.ResourceBackupInput(&arkivev1.ResourceBackup{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "arkive"},
		Spec: arkivev1.ResourceBackupSpec{Storage: "minio", ResourceSelection: arkivev1.ResourceSelection{Resources: allKinds[:1]}}}, plain)
	require.ErrorContains(t, err, "Storage minio has no encryption")
}

// backupFails starts a ResourceBackup whose first snapshot must fail, and returns the status.
func (b *kubeBed) backupFails(t *testing.T, spec arkivev1.ResourceBackupSpec) resourcebackup.Status {
	t.Helper()
	rb := &arkivev1.ResourceBackup{ObjectMeta: metav1.ObjectMeta{Name: "bad", Namespace: "arkive"}, Spec: spec}
	rb.Spec.Storage = b.storage.Name
	in, err := specs.ResourceBackupInput(rb, b.storage)
	require.NoError(t, err)
	wid := workflows.WorkflowID("ResourceBackup", "arkive", fmt.Sprintf("bad-%d", time.Now().UnixNano()))
	_, err = b.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: b.queue}, resourcebackup.WorkflowName, resourcebackup.RunInput{Input: in})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.c.TerminateWorkflow(context.Background(), wid, "", "test done") })
	return waitForStatus(t, b.c, wid, func(s resourcebackup.Status) bool { return s.Phase == resourcebackup.PhaseError })
}

// Issue 14, acceptances 3 and 7: each conflict policy on a target where some objects exist
// with other content (Fail fails in preflight, naming them, and writes nothing; a dry run shows
// the plan and writes nothing), and bad input ends in a message naming the field and the cause.
func TestResourceRestoreConflictsAndBadInput(t *testing.T) {
	b := newKubeBed(t)
	ctx := context.Background()
	b.createWidgetCRD(t)
	ns := fmt.Sprintf("conf-%d", time.Now().UnixNano()%100000)
	b.populate(t, ns)
	b.backup(t, "conf", arkivev1.ResourceBackupSpec{ResourceSelection: arkivev1.ResourceSelection{Namespaces: []string{ns}, Resources: allKinds}})
	target := ns + "-t"
	mapping := []arkivev1.NamespaceMapping{{From: ns, To: target}}
	st, _, err := b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{NamespaceMapping: mapping})
	require.NoError(t, err, st.LastError)

	cms := b.cs.CoreV1().ConfigMaps(target)
	change := func(name, value string) {
		cm, err := cms.Get(ctx, name, metav1.GetOptions{})
		require.NoError(t, err)
		cm.Data["server.properties"] = value
		cm.Data["extra"] = "x"
		_, err = cms.Update(ctx, cm, metav1.UpdateOptions{})
		require.NoError(t, err)
	}
	change("config-00", "changed")
	change("config-03", "changed")
	require.NoError(t, cms.Delete(ctx, "config-01", metav1.DeleteOptions{}))
	absent := func(name string) bool {
		_, err := cms.Get(ctx, name, metav1.GetOptions{})
		return apierrors.IsNotFound(err)
	}

	// Fail: preflight names the objects, nothing is written (config-01 stays absent).
	st, _, err = b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{NamespaceMapping: mapping, ConflictPolicy: arkivev1.ConflictFail})
	require.Error(t, err)
	require.Equal(t, resourcerestore.ErrConflict, st.Reason)
	require.Contains(t, st.LastError, "ConfigMap "+target+"/config-00 (data.server.properties)")
	require.Contains(t, st.LastError, "ConfigMap "+target+"/config-03")
	require.True(t, absent("config-01"), "Fail writes nothing")

	// Dry run: the plan and diff, nothing written.
	st, _, err = b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{NamespaceMapping: mapping, ConflictPolicy: arkivev1.ConflictUpdate, DryRun: true})
	require.NoError(t, err)
	require.Equal(t, resourcerestore.PhaseReady, st.Phase)
	require.Equal(t, resourcerestore.ReasonDryRun, st.Reason)
	require.Contains(t, st.Plan.Diff, "create ConfigMap "+target+"/config-01")
	require.Contains(t, st.Plan.Diff, "update ConfigMap "+target+"/config-00: data.server.properties")
	require.Equal(t, 1, st.Plan.Counts.Created)
	require.Equal(t, 2, st.Plan.Counts.Updated, "%q", st.Plan.Diff)
	require.True(t, absent("config-01"), "a dry run writes nothing")

	// Skip: the changed ones stay as they are; the missing one comes back.
	st, _, err = b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{NamespaceMapping: mapping})
	require.NoError(t, err)
	require.Equal(t, resourcerestore.PhaseDone, st.Phase)
	require.Equal(t, 1, st.Counts.Created)
	require.Equal(t, 2, st.Counts.Skipped)
	cm, err := cms.Get(ctx, "config-00", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "changed", cm.Data["server.properties"])
	require.False(t, absent("config-01"))

	// Update (server-side apply): the stored fields win; a key the snapshot lacks stays.
	st, _, err = b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{NamespaceMapping: mapping, ConflictPolicy: arkivev1.ConflictUpdate})
	require.NoError(t, err)
	require.Equal(t, 2, st.Counts.Updated)
	cm, err = cms.Get(ctx, "config-00", metav1.GetOptions{})
	require.NoError(t, err)
	require.Equal(t, "broker.id=0", cm.Data["server.properties"])
	require.Equal(t, "x", cm.Data["extra"])

	// Recreate: the object is deleted and made anew, exactly as stored.
	change("config-00", "changed again")
	old, err := cms.Get(ctx, "config-00", metav1.GetOptions{})
	require.NoError(t, err)
	st, _, err = b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{NamespaceMapping: mapping, ConflictPolicy: arkivev1.ConflictRecreate})
	require.NoError(t, err)
	require.Equal(t, 1, st.Counts.Updated, "%+v", st.Counts)
	cm, err = cms.Get(ctx, "config-00", metav1.GetOptions{})
	require.NoError(t, err)
	require.NotEqual(t, old.UID, cm.UID)
	require.Equal(t, map[string]string{"server.properties": "broker.id=0"}, cm.Data)

	// Bad input, each named by field and cause.
	sel := func(s arkivev1.ResourceSelection) arkivev1.ResourceBackupSpec {
		return arkivev1.ResourceBackupSpec{ResourceSelection: s}
	}
	bs := b.backupFails(t, sel(arkivev1.ResourceSelection{Namespaces: []string{ns}, Resources: []arkivev1.ResourceType{{Group: "test.arkive.io", Kind: "Gadget"}}}))
	require.Contains(t, bs.LastError, "spec.resources[0]: the cluster serves no kind Gadget.test.arkive.io")
	bs = b.backupFails(t, sel(arkivev1.ResourceSelection{Namespaces: []string{ns}, Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}},
		LabelSelectors: []metav1.LabelSelector{{MatchLabels: map[string]string{"app": "nothing-has-this"}}}}))
	require.Contains(t, bs.LastError, "spec.resources: the selection matches no object")
	bs = b.backupFails(t, sel(arkivev1.ResourceSelection{Namespaces: []string{"no-such-namespace"}, Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}}}))
	require.Contains(t, bs.LastError, `spec.namespaces: namespace "no-such-namespace" does not exist`)

	st, _, err = b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{Source: arkivev1.SchemaSnapshotSource{Snapshot: "no-such-snapshot"}})
	require.Error(t, err)
	require.Contains(t, st.LastError, `spec.source.snapshot: backup "arkive/conf" has no snapshot "no-such-snapshot"`)

	// The target's CRD no longer serves the version the snapshot's Widgets are in.
	crds := b.dyn.Resource(apiextv1.SchemeGroupVersion.WithResource("customresourcedefinitions"))
	crd, err := crds.Get(ctx, "widgets.test.arkive.io", metav1.GetOptions{})
	require.NoError(t, err)
	versions, _, _ := unstructured.NestedSlice(crd.Object, "spec", "versions")
	v1 := versions[0].(map[string]any)
	v2 := (&unstructured.Unstructured{Object: v1}).DeepCopy().Object
	v1["served"], v1["storage"], v2["name"] = false, false, "v2"
	require.NoError(t, unstructured.SetNestedSlice(crd.Object, []any{v1, v2}, "spec", "versions"))
	_, err = crds.Update(ctx, crd, metav1.UpdateOptions{})
	require.NoError(t, err)
	st, _, err = b.restore(t, "arkive/conf", arkivev1.ResourceRestoreSpec{NamespaceMapping: []arkivev1.NamespaceMapping{{From: ns, To: ns + "-v"}}})
	require.Error(t, err)
	require.Contains(t, st.LastError, "Widget.test.arkive.io: the target's CRD widgets.test.arkive.io serves versions v2, not v1")
}

// Retention: keepLast 1 keeps the newest snapshot in the manifest and deletes the older one's
// objects from the storage.
func TestResourceBackupRetention(t *testing.T) {
	b := newKubeBed(t)
	ctx := context.Background()
	ns := fmt.Sprintf("ret-%d", time.Now().UnixNano()%100000)
	_, err := b.cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
	require.NoError(t, err)
	_, err = b.cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{})
	require.NoError(t, err)
	first, run := b.backup(t, "ret", arkivev1.ResourceBackupSpec{Retention: &arkivev1.Retention{KeepLast: ptr.To[int32](1)},
		ResourceSelection: arkivev1.ResourceSelection{Namespaces: []string{ns}, Resources: []arkivev1.ResourceType{{Kind: "ConfigMap"}}}})
	keys := func() []string {
		st, err := blobstore.Open(ctx, b.storage.Spec, b.sr)
		require.NoError(t, err)
		defer st.Close()
		var out []string
		it := st.List(&blob.ListOptions{Prefix: "resources/arkive/ret/snapshots/"})
		for {
			obj, err := it.Next(ctx)
			if err == io.EOF {
				return out
			}
			require.NoError(t, err)
			out = append(out, obj.Key)
		}
	}
	require.Len(t, keys(), 2, "a chunk and the index")
	require.NoError(t, b.c.SignalWorkflow(ctx, run.GetID(), "", workflows.SignalTrigger, nil))
	st := waitForStatus(t, b.c, run.GetID(), func(s resourcebackup.Status) bool { return s.LastSnapshot != first && s.Snapshots == 1 })
	got := keys()
	require.Len(t, got, 2)
	for _, k := range got {
		require.Contains(t, k, "/snapshots/"+st.LastSnapshot+"/", "only the newest snapshot's objects are left")
	}
}
