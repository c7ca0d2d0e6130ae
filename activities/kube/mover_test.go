package kube

import (
	"testing"

	"github.com/stretchr/testify/require"
	corev1 "k8s.io/api/core/v1"

	"arkive.io/arkive/workflows"
)

// A mover that writes a Storage's claim gets the kubelet's fsGroup handling so its non-root
// user can write a fresh volume's root; a restore's target claim never has its groups changed,
// and a user's own fsGroup is kept.
func TestMoverPodFSGroupForTheStorageClaim(t *testing.T) {
	a := &Activities{Mover: MoverTemplate{Image: "arkive"}}
	st := &workflows.StorageClaim{Namespace: "apps", Name: "arkive-st"}
	one := int64(1001)
	for _, c := range []struct {
		name string
		in   MoverInput
		want *int64
	}{
		{"storage only", MoverInput{Namespace: "apps", Storage: st}, ptrInt(65532)},
		{"backup of a volume into the storage", MoverInput{Namespace: "apps", Claim: "data", Storage: st}, ptrInt(65532)},
		{"as the files' owner", MoverInput{Namespace: "apps", Claim: "data", Storage: st, RunAsUser: &one}, &one},
		{"restore into a claim", MoverInput{Namespace: "apps", Claim: "data", Storage: st, Write: true}, nil},
		{"no storage claim", MoverInput{Namespace: "apps", Claim: "data"}, nil},
		{"root", MoverInput{Namespace: "apps", Storage: st, ReadAllFiles: true}, nil},
	} {
		p := a.moverPod("m", c.in, "")
		require.Equal(t, c.want, p.Spec.SecurityContext.FSGroup, c.name)
		if c.want != nil {
			require.Equal(t, corev1.FSGroupChangeOnRootMismatch, *p.Spec.SecurityContext.FSGroupChangePolicy, c.name)
		}
		for _, m := range p.Spec.Containers[0].VolumeMounts {
			if m.Name == "storage" {
				require.False(t, m.ReadOnly, "%s: the storage claim is written", c.name)
			}
		}
	}
}

func ptrInt(v int64) *int64 { return &v }
