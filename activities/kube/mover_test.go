package kube

import (
	"strings"
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

// A worker's Temporal TLS and API-key settings reach its movers as flags naming files of the
// mounted Secret (named as the Pod), never as values; without them the Pod has no such mount.
func TestMoverPodTemporalCredentialsComeFromItsSecret(t *testing.T) {
	plain := (&Activities{Mover: MoverTemplate{Image: "arkive"}}).moverPod("m", MoverInput{Namespace: "apps", Claim: "data"}, "")
	require.Len(t, plain.Spec.Volumes, 1, "only the volume")
	require.NotContains(t, plain.Spec.Containers[0].Args, "--temporal-tls")

	a := &Activities{Mover: MoverTemplate{Image: "arkive", Temporal: MoverTemporal{TLS: true, CAFile: "/etc/w/ca.pem",
		KeyFile: "/etc/w/key.pem", CertFile: "/etc/w/cert.pem", APIKeyFile: "/etc/w/key", ServerName: "temporal.example"}}}
	p := a.moverPod("arkive-mover-1", MoverInput{Namespace: "apps", Claim: "data", Write: true}, "")
	args := strings.Join(p.Spec.Containers[0].Args, " ")
	for _, want := range []string{"--temporal-tls ", "--temporal-tls-server-name temporal.example", "--temporal-tls-ca /arkive/temporal/ca.crt",
		"--temporal-tls-cert /arkive/temporal/tls.crt", "--temporal-tls-key /arkive/temporal/tls.key", "--temporal-api-key /arkive/temporal/api-key"} {
		require.Contains(t, args, want)
	}
	require.NotContains(t, args, "/etc/w/", "the worker's paths mean nothing in the mover")
	var sec *corev1.SecretVolumeSource
	for _, v := range p.Spec.Volumes {
		if v.Secret != nil {
			sec = v.Secret
		}
	}
	require.NotNil(t, sec)
	require.Equal(t, "arkive-mover-1", sec.SecretName)
	require.Nil(t, p.Spec.SecurityContext.FSGroup, "a restore's target keeps its groups")
	require.Contains(t, p.Spec.Containers[0].VolumeMounts, corev1.VolumeMount{Name: "temporal", MountPath: MoverTemporalPath, ReadOnly: true})
}
