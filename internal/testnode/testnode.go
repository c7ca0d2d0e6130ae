// Package testnode is a stand-in for a kubelet, for tests: envtest runs a real API server and
// etcd but no node, so Pods it accepts never run. A Node polls Pods on the API server, takes
// each one it may run (no node yet, or required node affinity naming it), binds it to itself,
// and runs its containers' commands as local processes, with every PersistentVolumeClaim the Pod
// mounts replaced by the local directory of its PersistentVolume's hostPath, and every Secret
// volume by a directory holding its keys as files (paths in the command's arguments are
// rewritten from the mount path to that directory). It reports the Pod
// Running, restarts a container that exits when the restart policy says so, and on deletion
// stops the processes (SIGTERM) and removes the Pod as a kubelet confirms a deletion.
//
// What a real kubelet adds and this does not: images (a container's command is looked up in a
// table of local executables), mount namespaces and real mounts (read-only mounts are not
// enforced), the Pod's security context (user ids, capabilities, seccomp: the API server's Pod
// Security admission still checks the spec), service account tokens (processes get the
// environment the test gives), probes, resource limits, and the scheduler's filtering beyond
// required node affinity.
package testnode

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Node runs Pods bound to it.
type Node struct {
	Name string
	// dir holds the files of Secret volumes, a directory per Pod volume (a kubelet's tmpfs).
	dir        string
	cs         kubernetes.Interface
	scheduling bool
	// commands maps a container's command (its first word) to a local executable.
	commands map[string]string
	env      []string
	// Log receives each process's output.
	log func(format string, args ...any)

	mu    sync.Mutex
	pods  map[types.UID]*running
	ended chan struct{}
}

type running struct {
	pod  *corev1.Pod
	cmd  *exec.Cmd
	done chan struct{}
	stop bool
}

// Start runs a node named name until the test ends. commands maps container commands to local
// executables ("arkive" → the test's build); env is added to every process's environment (for
// example KUBECONFIG, in place of a service account token). A scheduling node also takes
// Pods that name no node (the stand-in for the scheduler's choice: give one node of a test
// that role, so two do not race for a Pod).
func Start(t *testing.T, cs kubernetes.Interface, name string, scheduling bool, commands map[string]string, env []string) *Node {
	n := &Node{Name: name, dir: t.TempDir(), cs: cs, scheduling: scheduling, commands: commands, env: env, log: t.Logf, pods: map[types.UID]*running{}, ended: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	// Polled, not watched: a watch on envtest's API server can end early ("too large resource
	// version") and a kubelet stand-in must not go deaf.
	go func() {
		defer close(n.ended)
		for ctx.Err() == nil {
			list, err := cs.CoreV1().Pods("").List(ctx, metav1.ListOptions{})
			if err == nil {
				seen := map[types.UID]bool{}
				for i := range list.Items {
					seen[list.Items[i].UID] = true
					n.sync(ctx, &list.Items[i])
				}
				n.mu.Lock()
				var gone []types.UID
				for uid := range n.pods {
					if !seen[uid] {
						gone = append(gone, uid)
					}
				}
				n.mu.Unlock()
				for _, uid := range gone {
					n.stopPod(uid)
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(50 * time.Millisecond):
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-n.ended
		n.mu.Lock()
		uids := make([]types.UID, 0, len(n.pods))
		for uid := range n.pods {
			uids = append(uids, uid)
		}
		n.mu.Unlock()
		for _, uid := range uids {
			n.stopPod(uid)
		}
	})
	return n
}

// mayRun says whether this node may run p: Pods bound here, unbound Pods whose required node
// affinity names this node, and (on the scheduling node) unbound Pods without one.
func (n *Node) mayRun(p *corev1.Pod) bool {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName == n.Name
	}
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return n.scheduling
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, r := range append(term.MatchFields, term.MatchExpressions...) {
			if (r.Key == "metadata.name" || r.Key == "kubernetes.io/hostname") && r.Operator == corev1.NodeSelectorOpIn {
				for _, v := range r.Values {
					if v == n.Name {
						return true
					}
				}
			}
		}
	}
	return false
}

func (n *Node) sync(ctx context.Context, p *corev1.Pod) {
	if p.DeletionTimestamp != nil {
		n.stopPod(p.UID)
		if p.Spec.NodeName == n.Name {
			zero := int64(0)
			_ = n.cs.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero,
				Preconditions: &metav1.Preconditions{UID: &p.UID}})
		}
		return
	}
	n.mu.Lock()
	_, known := n.pods[p.UID]
	n.mu.Unlock()
	if known || !n.mayRun(p) || p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		return
	}
	if p.Spec.NodeName == "" {
		err := n.cs.CoreV1().Pods(p.Namespace).Bind(ctx, &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: p.Name, Namespace: p.Namespace, UID: p.UID},
			Target: corev1.ObjectReference{Kind: "Node", Name: n.Name}}, metav1.CreateOptions{})
		if err != nil {
			n.log("test node %s: bind %s/%s: %v", n.Name, p.Namespace, p.Name, err)
			return
		}
		p.Spec.NodeName = n.Name
	}
	r := &running{pod: p, done: make(chan struct{})}
	n.mu.Lock()
	n.pods[p.UID] = r
	n.mu.Unlock()
	go n.run(ctx, r)
}

// run starts the Pod's first container and keeps it going as its restart policy says.
func (n *Node) run(ctx context.Context, r *running) {
	defer close(r.done)
	p := r.pod
	restarts := int32(0)
	for {
		cmd, err := n.command(ctx, p)
		if err == nil {
			err = cmd.Start()
		}
		if err != nil {
			n.setStatus(ctx, p, corev1.PodPending, restarts, &corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{
				Reason: "CreateContainerConfigError", Message: err.Error()}})
			return
		}
		n.mu.Lock()
		r.cmd = cmd
		stopped := r.stop
		n.mu.Unlock()
		if stopped {
			_ = cmd.Process.Kill()
		}
		n.setStatus(ctx, p, corev1.PodRunning, restarts, &corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}})
		err = cmd.Wait()
		n.mu.Lock()
		stopped = r.stop
		n.mu.Unlock()
		if stopped || ctx.Err() != nil {
			return
		}
		code := 0
		if err != nil {
			code = 1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
		}
		if p.Spec.RestartPolicy == corev1.RestartPolicyNever || (p.Spec.RestartPolicy == corev1.RestartPolicyOnFailure && code == 0) {
			phase := corev1.PodSucceeded
			if code != 0 {
				phase = corev1.PodFailed
			}
			n.setStatus(ctx, p, phase, restarts, &corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: int32(code)}})
			return
		}
		restarts++
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond): // a kubelet backs off; a little is enough here
		}
	}
}

// command builds the local process of the Pod's first container.
func (n *Node) command(ctx context.Context, p *corev1.Pod) (*exec.Cmd, error) {
	c := p.Spec.Containers[0]
	if len(c.Command) == 0 {
		return nil, fmt.Errorf("container %s has no command (the test node runs no images)", c.Name)
	}
	exe, ok := n.commands[c.Command[0]]
	if !ok {
		return nil, fmt.Errorf("test node has no executable for command %q", c.Command[0])
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		// A kubelet waits for a new claim to be bound before it starts the container.
		var dir string
		var err error
		for wait := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			if dir, err = n.volumeDir(ctx, p, m.Name); err == nil || time.Now().After(wait) || ctx.Err() != nil {
				break
			}
		}
		if err != nil {
			return nil, err
		}
		mounts[m.MountPath] = dir
	}
	args := append(append([]string{}, c.Command[1:]...), c.Args...)
	for i, a := range args {
		for mp, dir := range mounts {
			if a == mp || strings.HasPrefix(a, mp+"/") {
				args[i] = dir + strings.TrimPrefix(a, mp)
			}
		}
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), n.env...)
	for _, e := range c.Env {
		cmd.Env = append(cmd.Env, e.Name+"="+e.Value)
	}
	cmd.Stdout, cmd.Stderr = logWriter{n, p.Name}, logWriter{n, p.Name}
	return cmd, nil
}

// volumeDir is the local directory of a Pod volume: a claim's PersistentVolume's hostPath.
func (n *Node) volumeDir(ctx context.Context, p *corev1.Pod, name string) (string, error) {
	for _, v := range p.Spec.Volumes {
		if v.Name != name {
			continue
		}
		if v.Secret != nil {
			return n.secretDir(ctx, p, v)
		}
		if v.PersistentVolumeClaim == nil {
			return "", fmt.Errorf("volume %s: the test node mounts only PersistentVolumeClaims and Secrets", name)
		}
		pvc, err := n.cs.CoreV1().PersistentVolumeClaims(p.Namespace).Get(ctx, v.PersistentVolumeClaim.ClaimName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("volume %s: %w", name, err)
		}
		if pvc.Spec.VolumeName == "" {
			return "", fmt.Errorf("volume %s: claim %s is not bound yet", name, pvc.Name)
		}
		pv, err := n.cs.CoreV1().PersistentVolumes().Get(ctx, pvc.Spec.VolumeName, metav1.GetOptions{})
		if err != nil {
			return "", fmt.Errorf("volume %s: claim %s is not bound to a PersistentVolume: %w", name, pvc.Name, err)
		}
		if pv.Spec.HostPath == nil {
			return "", fmt.Errorf("volume %s: PersistentVolume %s has no hostPath for the test node", name, pv.Name)
		}
		return pv.Spec.HostPath.Path, nil
	}
	return "", fmt.Errorf("volume %s is not in the Pod", name)
}

// secretDir writes a Secret volume's keys as files (mode defaultMode, 0644 unset) into a
// directory of the Pod's, as a kubelet does into a tmpfs; a Secret not there yet is an error
// the caller retries, as a kubelet retries the mount.
func (n *Node) secretDir(ctx context.Context, p *corev1.Pod, v corev1.Volume) (string, error) {
	sec, err := n.cs.CoreV1().Secrets(p.Namespace).Get(ctx, v.Secret.SecretName, metav1.GetOptions{})
	if err != nil {
		return "", fmt.Errorf("volume %s: %w", v.Name, err)
	}
	dir := filepath.Join(n.dir, string(p.UID), v.Name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	mode := os.FileMode(0o644)
	if v.Secret.DefaultMode != nil {
		mode = os.FileMode(*v.Secret.DefaultMode)
	}
	for k, b := range sec.Data {
		_ = os.Remove(filepath.Join(dir, k)) // read-only from an earlier start of the Pod
		if err := os.WriteFile(filepath.Join(dir, k), b, mode); err != nil {
			return "", err
		}
	}
	return dir, nil
}

func (n *Node) setStatus(ctx context.Context, p *corev1.Pod, phase corev1.PodPhase, restarts int32, state *corev1.ContainerState) {
	for range 5 {
		cur, err := n.cs.CoreV1().Pods(p.Namespace).Get(ctx, p.Name, metav1.GetOptions{})
		if err != nil || cur.UID != p.UID {
			return
		}
		ready := corev1.ConditionFalse
		if phase == corev1.PodRunning {
			ready = corev1.ConditionTrue
		}
		cur.Status.Phase = phase
		cur.Status.HostIP = "127.0.0.1"
		cur.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: ready, LastTransitionTime: metav1.Now()}}
		cur.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: p.Spec.Containers[0].Name, Image: p.Spec.Containers[0].Image,
			Ready: ready == corev1.ConditionTrue, RestartCount: restarts, State: *state}}
		if _, err = n.cs.CoreV1().Pods(p.Namespace).UpdateStatus(ctx, cur, metav1.UpdateOptions{}); err == nil {
			return
		}
	}
}

// stopPod ends a Pod's process: SIGTERM, then SIGKILL after 10 seconds, as a kubelet's grace
// period would.
func (n *Node) stopPod(uid types.UID) {
	n.mu.Lock()
	r, ok := n.pods[uid]
	if ok {
		r.stop = true
	}
	cmd := (*exec.Cmd)(nil)
	if ok {
		cmd = r.cmd
	}
	n.mu.Unlock()
	if !ok {
		return
	}
	if cmd != nil && cmd.Process != nil {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-r.done
		}
	} else {
		<-r.done
	}
}

// Running counts the Pods whose processes run.
func (n *Node) Running() int {
	n.mu.Lock()
	defer n.mu.Unlock()
	c := 0
	for _, r := range n.pods {
		if !r.stop {
			c++
		}
	}
	return c
}

type logWriter struct {
	n   *Node
	pod string
}

func (w logWriter) Write(b []byte) (int, error) {
	w.n.log("%s: %s", w.pod, strings.TrimRight(string(b), "\n"))
	return len(b), nil
}
