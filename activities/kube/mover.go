package kube

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
)

// The mover's Pods, in the namespaces of the volumes they copy, and their Temporal Secrets
// (secrets: activities.go grants what those need).
// +kubebuilder:rbac:groups="",resources=pods,verbs=get;list;watch;create;delete

// Mover Pod names and labels.
const (
	MoverLabel     = "arkive.io/mover"
	MoverMountPath = "/arkive/volume"
	// MoverStoragePath is where a mover mounts the claim of a Storage kept in one.
	MoverStoragePath = "/arkive/storage"
	moverContainer   = "mover"
	moverNamePrefix  = "arkive-mover-"
)

// MoverTemplate is what a worker knows about how to make mover Pods: its own image and the
// Temporal connection the mover needs.
type MoverTemplate struct {
	// Image is the arkive image the mover runs (the worker's own).
	Image string
	// Args are the connection flags every mover gets (--temporal-address, TLS files...).
	Args []string
	// ServiceAccount may read the Storage's Secrets in the volume's namespace.
	ServiceAccount string
	// Temporal is how the worker reaches a Temporal that needs TLS or an API key.
	Temporal MoverTemporal
}

// MoverTemporal is the worker's own Temporal TLS and API-key settings: flags and the paths of
// its files. A mover gets the same settings from a Secret that StartMover fills from those
// files beside the mover Pod (named as the Pod, owned by it, deleted with it) and mounts at
// MoverTemporalPath: the values go from the worker's files to the API server only, never into
// the Pod spec, a workflow's input or its history.
type MoverTemporal struct {
	TLS                                   bool
	CAFile, CertFile, KeyFile, APIKeyFile string
	ServerName                            string
}

// MoverTemporalPath is where a mover Pod mounts its Temporal Secret.
const MoverTemporalPath = "/arkive/temporal"

// files are the Secret's keys, the worker's files they come from and the mover
// flags that name them.
func (t MoverTemporal) files() []struct{ key, path, flag string } {
	var out []struct{ key, path, flag string }
	for _, f := range []struct{ key, path, flag string }{
		{"ca.crt", t.CAFile, "--temporal-tls-ca"}, {"tls.crt", t.CertFile, "--temporal-tls-cert"},
		{"tls.key", t.KeyFile, "--temporal-tls-key"}, {"api-key", t.APIKeyFile, "--temporal-api-key"},
	} {
		if f.path != "" {
			out = append(out, f)
		}
	}
	return out
}

// args are the mover's flags for these settings (files at the mount).
func (t MoverTemporal) args() []string {
	var out []string
	if t.TLS {
		out = append(out, "--temporal-tls")
	}
	if t.ServerName != "" {
		out = append(out, "--temporal-tls-server-name", t.ServerName)
	}
	for _, f := range t.files() {
		out = append(out, f.flag, MoverTemporalPath+"/"+f.key)
	}
	return out
}

// needsSecret says whether movers get a Temporal Secret.
func (t MoverTemporal) needsSecret() bool { return len(t.files()) > 0 }

// moverLabels are the labels of what Arkive makes for a mover.
func moverLabels() map[string]string {
	return map[string]string{"app.kubernetes.io/name": "arkive-mover", "app.kubernetes.io/part-of": "arkive"}
}

// temporalSecret makes (or refreshes) the mover's Temporal Secret from the worker's files; it
// returns nil when the worker needs none.
func (a *Activities) temporalSecret(ctx context.Context, cs kubernetes.Interface, ns, name string) (*corev1.Secret, error) {
	files := a.Mover.Temporal.files()
	if len(files) == 0 {
		return nil, nil
	}
	sec := &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: moverLabels()}, Data: map[string][]byte{}}
	for _, f := range files {
		b, err := os.ReadFile(f.path)
		if err != nil {
			// The worker's own file: its flag is named, never its contents.
			return nil, backupstore.Invalid(fmt.Errorf("the mover's Temporal credentials (%s): %w", f.flag, err))
		}
		sec.Data[f.key] = b
	}
	made, err := cs.CoreV1().Secrets(ns).Create(ctx, sec, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		// An attempt that stopped before its Pod was made: the files may have been rotated since.
		made, err = cs.CoreV1().Secrets(ns).Update(ctx, sec, metav1.UpdateOptions{})
	}
	if err != nil {
		return nil, fmt.Errorf("mover Secret %s/%s: %w", ns, name, err)
	}
	return made, nil
}

// ownSecret makes the mover Pod the owner of its Temporal Secret, so that Kubernetes' garbage
// collector deletes the Secret with the Pod even when no StopMover runs.
func ownSecret(ctx context.Context, cs kubernetes.Interface, sec *corev1.Secret, pod *corev1.Pod) error {
	sec.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Pod", Name: pod.Name, UID: pod.UID}}
	if _, err := cs.CoreV1().Secrets(pod.Namespace).Update(ctx, sec, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("mover Secret %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	return nil
}

// MoverInput and MoverResult are the contract's.
type (
	MoverInput  = resourcebackup.MoverInput
	MoverResult = resourcebackup.MoverResult
)

// MoverName is the Pod name and task queue of the mover with this key.
func MoverName(key string) string {
	sum := sha256.Sum256([]byte(key))
	return moverNamePrefix + hex.EncodeToString(sum[:])[:20]
}

func (a *Activities) clientset() (kubernetes.Interface, error) {
	if a.Config == nil {
		_, err := a.clients() // says the worker has no Kubernetes access
		return nil, err
	}
	cs, err := kubernetes.NewForConfig(a.Config)
	if err != nil {
		return nil, backupstore.Invalid(err)
	}
	return cs, nil
}

// StartMover creates the mover Pod for a volume, or finds the one an earlier attempt created,
// and waits until it runs. A claim that does not exist, or a Pod that cannot start (its image,
// its volume), ends with an error naming the volume.
func (a *Activities) StartMover(ctx context.Context, in MoverInput) (_ MoverResult, err error) {
	defer func() { err = classify(err) }()
	cs, err := a.clientset()
	if err != nil {
		return MoverResult{}, err
	}
	vol := in.Namespace + "/" + in.Claim
	var pvc *corev1.PersistentVolumeClaim
	if in.Claim != "" {
		pvc, err = cs.CoreV1().PersistentVolumeClaims(in.Namespace).Get(ctx, in.Claim, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return MoverResult{}, backupstore.Invalid(fmt.Errorf("volume %s: the PersistentVolumeClaim does not exist", vol))
		}
		if err != nil {
			return MoverResult{}, fmt.Errorf("volume %s: %w", vol, err)
		}
	}
	if in.Storage != nil {
		if in.Storage.Namespace != in.Namespace {
			return MoverResult{}, backupstore.Invalid(fmt.Errorf("volume %s: the storage's claim %s/%s is in another namespace; a Pod mounts claims of its own namespace only",
				vol, in.Storage.Namespace, in.Storage.Name))
		}
		if _, err := EnsureStorageClaim(ctx, cs, *in.Storage); err != nil {
			return MoverResult{}, err
		}
		if in.Claim == "" {
			vol = "storage " + in.Namespace + "/" + in.Storage.Name
		}
	}
	name := MoverName(in.Key)
	res := MoverResult{Pod: name, TaskQueue: name}
	pod, err := cs.CoreV1().Pods(in.Namespace).Get(ctx, name, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		if pvc != nil {
			if res.Node, err = nodeInUse(ctx, cs, pvc); err != nil {
				return res, fmt.Errorf("volume %s: %w", vol, err)
			}
		}
		sec, err := a.temporalSecret(ctx, cs, in.Namespace, name)
		if err != nil {
			return res, fmt.Errorf("volume %s: %w", vol, err)
		}
		pod = a.moverPod(name, in, res.Node)
		if pod, err = cs.CoreV1().Pods(in.Namespace).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
			return res, fmt.Errorf("volume %s: create mover Pod: %w", vol, err)
		}
		if sec != nil {
			if err := ownSecret(ctx, cs, sec, pod); err != nil {
				return res, fmt.Errorf("volume %s: %w", vol, err)
			}
		}
	case err != nil:
		return res, fmt.Errorf("volume %s: %w", vol, err)
	default:
		res.Node = pod.Spec.NodeName
	}
	stop := beat.Start(ctx, nil)
	defer stop()
	deadline := time.Now().Add(MoverStartTimeout)
	for {
		if time.Now().After(deadline) {
			return res, backupstore.Invalid(fmt.Errorf("volume %s: mover Pod %s did not start within %s: %s", vol, name, MoverStartTimeout, pendingReason(pod)))
		}
		if msg := moverFailure(pod); msg != "" {
			return res, backupstore.Invalid(fmt.Errorf("volume %s: mover Pod %s: %s", vol, name, msg))
		}
		if pod.Status.Phase == corev1.PodRunning {
			res.Node = pod.Spec.NodeName
			return res, nil
		}
		select {
		case <-ctx.Done():
			return res, ctx.Err()
		case <-time.After(500 * time.Millisecond):
		}
		if pod, err = cs.CoreV1().Pods(in.Namespace).Get(ctx, name, metav1.GetOptions{}); err != nil {
			return res, fmt.Errorf("volume %s: mover Pod %s: %w", vol, name, err)
		}
	}
}

// StopMover deletes a mover Pod; one that is gone already is fine.
func (a *Activities) StopMover(ctx context.Context, in MoverInput) (err error) {
	defer func() { err = classify(err) }()
	cs, err := a.clientset()
	if err != nil {
		return err
	}
	name := MoverName(in.Key)
	err = cs.CoreV1().Pods(in.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if a.Mover.Temporal.needsSecret() {
		// Its Temporal Secret goes too (the garbage collector would, later, as its owner's).
		err = cs.CoreV1().Secrets(in.Namespace).Delete(ctx, name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}

// MoverStartTimeout is how long a mover Pod may stay pending (unschedulable, its volume not
// attachable, its image slow to pull) before the backup or restore says why and stops.
const MoverStartTimeout = 5 * time.Minute

// pendingReason sums up why a Pod is not running from its conditions.
func pendingReason(p *corev1.Pod) string {
	var out []string
	for _, c := range p.Status.Conditions {
		if c.Status != corev1.ConditionTrue && c.Message != "" {
			out = append(out, fmt.Sprintf("%s: %s", c.Reason, c.Message))
		}
	}
	if len(out) == 0 {
		return "phase " + string(p.Status.Phase)
	}
	return strings.Join(out, "; ")
}

// moverFailure says why a mover Pod will not run, or "".
func moverFailure(p *corev1.Pod) string {
	if p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded {
		return fmt.Sprintf("ended (%s) before it ran: %s", p.Status.Phase, p.Status.Message)
	}
	for _, c := range p.Status.ContainerStatuses {
		if w := c.State.Waiting; w != nil && slices.Contains([]string{"ErrImagePull", "ImagePullBackOff", "InvalidImageName",
			"CreateContainerConfigError", "CreateContainerError"}, w.Reason) {
			return fmt.Sprintf("%s: %s", w.Reason, w.Message)
		}
	}
	return ""
}

// nodeInUse finds the node of a running Pod that mounts a ReadWriteOnce claim: a second node
// could not attach it (Multi-Attach), so the mover must run there.
func nodeInUse(ctx context.Context, cs kubernetes.Interface, pvc *corev1.PersistentVolumeClaim) (string, error) {
	if !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOnce) && !slices.Contains(pvc.Spec.AccessModes, corev1.ReadWriteOncePod) {
		return "", nil
	}
	pods, err := cs.CoreV1().Pods(pvc.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	for _, p := range pods.Items {
		if p.Spec.NodeName == "" || p.Labels[MoverLabel] != "" || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
			continue
		}
		for _, v := range p.Spec.Volumes {
			if v.PersistentVolumeClaim != nil && v.PersistentVolumeClaim.ClaimName == pvc.Name {
				return p.Spec.NodeName, nil
			}
		}
	}
	return "", nil
}

// moverPod is the mover's Pod: one container running `arkive mover` on its own task queue with
// the claim mounted (read-only for a backup), under the restricted Pod Security profile unless
// the input asks to read every file. Never privileged, never a hostPath.
func (a *Activities) moverPod(name string, in MoverInput, node string) *corev1.Pod {
	no, yes := false, true
	nonRoot := int64(65532)
	sc := &corev1.SecurityContext{AllowPrivilegeEscalation: &no, ReadOnlyRootFilesystem: &yes,
		Capabilities: &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}}}
	podSC := &corev1.PodSecurityContext{RunAsNonRoot: &yes, RunAsUser: &nonRoot, FSGroup: in.FSGroup,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault}}
	if in.RunAsUser != nil {
		podSC.RunAsUser = in.RunAsUser
		podSC.RunAsNonRoot = ptrBool(*in.RunAsUser != 0)
	}
	if in.ReadAllFiles {
		root := int64(0)
		podSC.RunAsNonRoot, podSC.RunAsUser = &no, &root
		// DAC_OVERRIDE, not DAC_READ_SEARCH: the baseline Pod Security profile allows only the
		// runtime's default capabilities, and DAC_READ_SEARCH is not one (the API server refused
		// it in the test). A backup's mount is read-only, so it only reads.
		sc.Capabilities.Add = []corev1.Capability{"DAC_OVERRIDE"}
		if in.Write {
			// A restore sets owners and modes as they were: that takes CHOWN and FOWNER.
			sc.Capabilities.Add = append(sc.Capabilities.Add, "CHOWN", "FOWNER")
		}
	}
	if in.Storage != nil && podSC.FSGroup == nil && !in.ReadAllFiles && !(in.Write && in.Claim != "") {
		// A new volume's root belongs to root: the kubelet gives the fsGroup write access to
		// the storage claim (only when its root's group differs), so the non-root mover can
		// write backups there. Not for a restore's target claim, whose groups are the files'.
		podSC.FSGroup = podSC.RunAsUser
		policy := corev1.FSGroupChangeOnRootMismatch
		podSC.FSGroupChangePolicy = &policy
	}
	args := []string{"mover", "--task-queue", name, "--kube-secrets"}
	var mounts []corev1.VolumeMount
	var volumes []corev1.Volume
	claim := func(vol, claim, path string, readOnly bool) {
		mounts = append(mounts, corev1.VolumeMount{Name: vol, MountPath: path, ReadOnly: readOnly})
		volumes = append(volumes, corev1.Volume{Name: vol, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claim, ReadOnly: readOnly}}})
	}
	label := in.Claim
	if in.Claim != "" {
		args = append(args, "--volume", MoverMountPath)
		claim("volume", in.Claim, MoverMountPath, !in.Write)
	}
	if in.Storage != nil {
		args = append(args, "--storage-claim", MoverStoragePath)
		claim("storage", in.Storage.Name, MoverStoragePath, false)
		if label == "" {
			label = in.Storage.Name
		}
	}
	args = append(args, a.Mover.Args...)
	if a.Mover.Temporal.needsSecret() {
		// Readable by the mover whatever its user (the files are root's), and by nobody else:
		// the mount is this Pod's only. No fsGroup for it: on a restore's target claim the
		// kubelet would change the restored files' groups.
		ro := int32(0o444)
		mounts = append(mounts, corev1.VolumeMount{Name: "temporal", MountPath: MoverTemporalPath, ReadOnly: true})
		volumes = append(volumes, corev1.Volume{Name: "temporal", VolumeSource: corev1.VolumeSource{
			Secret: &corev1.SecretVolumeSource{SecretName: name, DefaultMode: &ro}}})
	}
	args = append(args, a.Mover.Temporal.args()...)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: in.Namespace,
			Labels: moverLabels()},
		Spec: corev1.PodSpec{
			ServiceAccountName: a.Mover.ServiceAccount,
			RestartPolicy:      corev1.RestartPolicyAlways, // a crashed mover comes back and takes its activity again
			SecurityContext:    podSC,
			Containers: []corev1.Container{{
				Name: moverContainer, Image: a.Mover.Image, Command: []string{"arkive"}, Args: args,
				SecurityContext: sc,
				VolumeMounts:    mounts,
			}},
			Volumes: volumes,
		},
	}
	pod.Labels[MoverLabel] = label
	if node != "" {
		pod.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: []corev1.NodeSelectorTerm{{
				MatchFields: []corev1.NodeSelectorRequirement{{Key: "metadata.name", Operator: corev1.NodeSelectorOpIn, Values: []string{node}}}}}}}}
	}
	return pod
}

func ptrBool(b bool) *bool { return &b }

// ListVolumes resolves spec.volumes into claims: named ones (each must exist) and those a
// selector matches, each once, sorted by namespace and name.
func (a *Activities) ListVolumes(ctx context.Context, in resourcebackup.ListVolumesInput) (_ resourcebackup.ListVolumesResult, err error) {
	defer func() { err = classify(err) }()
	cs, err := a.clientset()
	if err != nil {
		return resourcebackup.ListVolumesResult{}, err
	}
	seen := map[string]bool{}
	var out []resourcebackup.Claim
	add := func(i int, pvc *corev1.PersistentVolumeClaim) {
		k := pvc.Namespace + "/" + pvc.Name
		if seen[k] {
			return
		}
		seen[k] = true
		c := resourcebackup.Claim{Namespace: pvc.Namespace, Name: pvc.Name, Spec: i}
		if q, ok := pvc.Spec.Resources.Requests[corev1.ResourceStorage]; ok {
			c.Capacity = q.String()
		}
		if pvc.Spec.StorageClassName != nil {
			c.StorageClass = *pvc.Spec.StorageClassName
		}
		for _, m := range pvc.Spec.AccessModes {
			c.AccessModes = append(c.AccessModes, string(m))
		}
		out = append(out, c)
	}
	for i, v := range in.Volumes {
		for _, name := range v.Claims {
			pvc, err := cs.CoreV1().PersistentVolumeClaims(v.Namespace).Get(ctx, name, metav1.GetOptions{})
			if apierrors.IsNotFound(err) {
				return resourcebackup.ListVolumesResult{}, backupstore.Invalid(fmt.Errorf(
					"spec.volumes[%d].claims: volume %s/%s: the PersistentVolumeClaim does not exist", i, v.Namespace, name))
			}
			if err != nil {
				return resourcebackup.ListVolumesResult{}, err
			}
			add(i, pvc)
		}
		if v.Selector != "" {
			list, err := cs.CoreV1().PersistentVolumeClaims(v.Namespace).List(ctx, metav1.ListOptions{LabelSelector: v.Selector})
			if err != nil {
				return resourcebackup.ListVolumesResult{}, fmt.Errorf("spec.volumes[%d].selector: %w", i, err)
			}
			for j := range list.Items {
				add(i, &list.Items[j])
			}
		}
	}
	slices.SortFunc(out, func(a, b resourcebackup.Claim) int {
		return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
	})
	return resourcebackup.ListVolumesResult{Claims: out}, nil
}

// EnsureClaim makes sure a restore's target claim exists: one that exists is used as it is;
// a missing one is created with the captured size, access modes and storage class when the
// restore allows it, and named in the error otherwise.
func (a *Activities) EnsureClaim(ctx context.Context, in resourcerestore.EnsureClaimInput) (_ resourcerestore.EnsureClaimResult, err error) {
	defer func() { err = classify(err) }()
	cs, err := a.clientset()
	if err != nil {
		return resourcerestore.EnsureClaimResult{}, err
	}
	vol := in.Namespace + "/" + in.Name
	_, err = cs.CoreV1().PersistentVolumeClaims(in.Namespace).Get(ctx, in.Name, metav1.GetOptions{})
	switch {
	case err == nil:
		return resourcerestore.EnsureClaimResult{}, nil
	case !apierrors.IsNotFound(err):
		return resourcerestore.EnsureClaimResult{}, fmt.Errorf("volume %s: %w", vol, err)
	case !in.Create:
		return resourcerestore.EnsureClaimResult{}, backupstore.Invalid(fmt.Errorf(
			"volume %s: the PersistentVolumeClaim does not exist and spec.volumes.createMissing is false", vol))
	}
	capacity := in.Capacity
	if capacity == "" {
		capacity = "1Gi"
	}
	q, err := resource.ParseQuantity(capacity)
	if err != nil {
		return resourcerestore.EnsureClaimResult{}, backupstore.Invalid(fmt.Errorf("volume %s: captured capacity %q: %v", vol, capacity, err))
	}
	pvc := newClaim(in.Namespace, in.Name, q, in.AccessModes)
	if in.StorageClass != "" {
		pvc.Spec.StorageClassName = &in.StorageClass
	}
	_, err = cs.CoreV1().PersistentVolumeClaims(in.Namespace).Create(ctx, pvc, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return resourcerestore.EnsureClaimResult{}, nil // created by a retried attempt, or someone else
	}
	if err != nil {
		return resourcerestore.EnsureClaimResult{}, fmt.Errorf("volume %s: create the claim: %w", vol, err)
	}
	return resourcerestore.EnsureClaimResult{Created: true}, nil
}

// EnsureStorageClaim finds the claim a Storage keeps its backups in, making it from the
// template (volume.create) when it is missing, and says what state it is in. A missing claim
// without a template is named in the error.
func EnsureStorageClaim(ctx context.Context, cs kubernetes.Interface, sc workflows.StorageClaim) (string, error) {
	what := "storage claim " + sc.Namespace + "/" + sc.Name
	pvc, err := cs.CoreV1().PersistentVolumeClaims(sc.Namespace).Get(ctx, sc.Name, metav1.GetOptions{})
	switch {
	case err == nil:
		if pvc.Status.Phase == corev1.ClaimLost {
			return "", backupstore.Invalid(fmt.Errorf("%s: the PersistentVolumeClaim lost its volume", what))
		}
		return fmt.Sprintf("PersistentVolumeClaim %s (%s); mover Pods mount it", sc.Name, claimPhase(pvc)), nil
	case !apierrors.IsNotFound(err):
		return "", fmt.Errorf("%s: %w", what, err)
	case sc.Create == nil:
		return "", backupstore.Invalid(fmt.Errorf("%s: spec.volume.claim: the PersistentVolumeClaim does not exist", what))
	}
	q, err := resource.ParseQuantity(sc.Create.Size)
	if err != nil {
		return "", backupstore.Invalid(fmt.Errorf("%s: spec.volume.create.size %q: %v", what, sc.Create.Size, err))
	}
	pvc = newClaim(sc.Namespace, sc.Name, q, sc.Create.AccessModes)
	pvc.Labels["app.kubernetes.io/component"] = "storage"
	pvc.Spec.StorageClassName, pvc.Spec.VolumeName = sc.Create.StorageClass, sc.Create.VolumeName
	created, err := cs.CoreV1().PersistentVolumeClaims(sc.Namespace).Create(ctx, pvc, metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		return EnsureStorageClaim(ctx, cs, workflows.StorageClaim{Namespace: sc.Namespace, Name: sc.Name}) // made by a retried attempt
	case apierrors.IsInvalid(err) || apierrors.IsForbidden(err):
		return "", backupstore.Invalid(fmt.Errorf("%s: create from spec.volume.create: %w", what, err))
	case err != nil:
		return "", fmt.Errorf("%s: create: %w", what, err)
	}
	return fmt.Sprintf("PersistentVolumeClaim %s created (%s); mover Pods mount it", sc.Name, claimPhase(created)), nil
}

// newClaim is a claim Arkive makes: its size and access modes (ReadWriteOnce by default).
func newClaim(namespace, name string, size resource.Quantity, modes []string) *corev1.PersistentVolumeClaim {
	pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: namespace,
		Labels: map[string]string{"app.kubernetes.io/created-by": "arkive"}},
		Spec: corev1.PersistentVolumeClaimSpec{Resources: corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: size}}}}
	for _, m := range modes {
		pvc.Spec.AccessModes = append(pvc.Spec.AccessModes, corev1.PersistentVolumeAccessMode(m))
	}
	if len(pvc.Spec.AccessModes) == 0 {
		pvc.Spec.AccessModes = []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}
	}
	return pvc
}

func claimPhase(pvc *corev1.PersistentVolumeClaim) string {
	if pvc.Status.Phase == "" {
		return string(corev1.ClaimPending)
	}
	return string(pvc.Status.Phase)
}

// StorageClaim is EnsureStorageClaim with this worker's Kubernetes access: the connectivity
// check of a Storage kept in a claim.
func (a *Activities) StorageClaim(ctx context.Context, sc workflows.StorageClaim) (string, error) {
	cs, err := a.clientset()
	if err != nil {
		return "", err
	}
	return EnsureStorageClaim(ctx, cs, sc)
}
