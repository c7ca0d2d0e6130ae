package specs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/robfig/cron/v3"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/pathglob"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/resourcebackup"
	"arkive.io/arkive/workflows/resourcerestore"
)

// DefaultRestoreParallelism is the CRD default of ResourceRestore.spec.parallelism.
const DefaultRestoreParallelism = 16

func resourceConnection(ns, backup string, st *arkivev1.Storage) (workflows.ResourceConnection, error) {
	sj, err := json.Marshal(st.Spec)
	return workflows.ResourceConnection{Namespace: ns, Backup: backup, Storage: sj, StorageName: st.Name, StorageClaim: StorageClaim(st)}, err
}

// StorageClaim is the claim a Storage keeps its backups in (volume.claim or volume.create),
// or nil for any other Storage.
func StorageClaim(st *arkivev1.Storage) *workflows.StorageClaim {
	name := st.BackupClaim()
	if name == "" {
		return nil
	}
	sc := &workflows.StorageClaim{Namespace: Namespace(st.Namespace), Name: name}
	if c := st.Spec.Volume.Create; c != nil && st.Spec.Volume.Claim == "" {
		sc.Create = &workflows.ClaimTemplate{Size: c.Size.String(), StorageClass: c.StorageClassName, VolumeName: c.VolumeName}
		for _, m := range c.AccessModes {
			sc.Create.AccessModes = append(sc.Create.AccessModes, string(m))
		}
	}
	return sc
}

// NoStorageClaim refuses a Storage kept in a claim for the kinds whose activities run on the
// workers (Kafka, Schema Registry, ZooKeeper): workers do not mount it.
func NoStorageClaim(st *arkivev1.Storage) error {
	if c := st.BackupClaim(); c != "" {
		return fmt.Errorf("spec.storage: Storage %s keeps its backups in PersistentVolumeClaim %s, which only the mover Pods of ResourceBackup and "+
			"ResourceRestore mount; use a Storage with volume.path (the claim mounted on the workers) or object storage", st.Name, c)
	}
	return nil
}

// ResourceBackupInput builds the workflow input of a ResourceBackup from it and the Storage it
// names. A backup that selects Secrets is refused here when the Storage has no encryption
// (unless allowUnencryptedSecrets), so the status says so before any workflow runs.
func ResourceBackupInput(b *arkivev1.ResourceBackup, st *arkivev1.Storage) (resourcebackup.Input, error) {
	ns := Namespace(b.Namespace)
	if err := sameRefs(named{"spec.storage", "Storage", b.Spec.Storage, st.Name}); err != nil {
		return resourcebackup.Input{}, err
	}
	spec, err := ResourceBackupSpec(ns, b.Spec)
	if err != nil {
		return resourcebackup.Input{}, err
	}
	if SelectsSecrets(spec.Selection) && st.Spec.Encryption == nil && !spec.AllowUnencryptedSecrets {
		return resourcebackup.Input{}, fmt.Errorf("spec.resources selects Secrets and Storage %s has no encryption: Secrets are never stored in plain text; "+
			"set spec.encryption on the Storage, or spec.allowUnencryptedSecrets", st.Name)
	}
	if sc := StorageClaim(st); sc != nil {
		for i, v := range spec.Volumes {
			if v.Namespace != sc.Namespace {
				return resourcebackup.Input{}, fmt.Errorf("spec.volumes[%d].namespace: %s is not the namespace of Storage %s, whose PersistentVolumeClaim %s keeps the backups: "+
					"a mover Pod mounts the volume and that claim together, and a Pod mounts claims of its own namespace only", i, v.Namespace, st.Name, sc.Name)
			}
		}
	}
	conn, err := resourceConnection(ns, BackupName(ns, b.Name), st)
	return resourcebackup.Input{Connection: conn, Spec: spec}, err
}

// SelectsSecrets says whether a selection takes Secrets.
func SelectsSecrets(sel workflows.ResourceSelection) bool {
	return slices.ContainsFunc(sel.Resources, func(t workflows.ResourceType) bool { return t.Group == "" && t.Kind == "Secret" })
}

// ResourceBackupSpec converts and checks a ResourceBackup spec in namespace ns, applying the CRD
// defaults (enabled; the resource's own namespace when none is selected).
func ResourceBackupSpec(ns string, s arkivev1.ResourceBackupSpec) (resourcebackup.Spec, error) {
	out := resourcebackup.Spec{Enabled: s.Enabled == nil || *s.Enabled, Schedule: s.Schedule,
		IncludeClusterScoped: s.IncludeClusterScoped, AllowUnencryptedSecrets: s.AllowUnencryptedSecrets}
	if s.Schedule != "" {
		if _, err := cron.ParseStandard(s.Schedule); err != nil {
			return out, fmt.Errorf("spec.schedule: %q is not a valid cron expression: %v", s.Schedule, err)
		}
	}
	if len(s.Resources) == 0 {
		return out, fmt.Errorf("spec.resources: name at least one kind")
	}
	var err error
	if out.KeepLast, out.MaxAge, err = retention(s.Retention); err != nil {
		return out, err
	}
	if out.Selection, err = selection("spec", s.ResourceSelection); err != nil {
		return out, err
	}
	if len(out.Selection.Namespaces) == 0 && out.Selection.NamespaceSelector == "" {
		out.Selection.Namespaces = []string{ns}
	}
	for i, v := range s.Volumes {
		field := fmt.Sprintf("spec.volumes[%d]", i)
		vs := resourcebackup.VolumeSpec{Namespace: v.Namespace, Claims: v.Claims, Include: v.Include, Exclude: v.Exclude,
			RunAsUser: v.RunAsUser, FSGroup: v.FSGroup, ReadAllFiles: v.ReadAllFiles}
		if vs.Namespace == "" {
			vs.Namespace = ns
		}
		if len(v.Claims) == 0 && v.Selector == nil {
			return out, fmt.Errorf("%s: name claims or give a selector", field)
		}
		if v.Selector != nil {
			sel, err := metav1.LabelSelectorAsSelector(v.Selector)
			if err != nil {
				return out, fmt.Errorf("%s.selector: %v", field, err)
			}
			vs.Selector = sel.String()
		}
		if _, err := pathglob.New(field, v.Include, v.Exclude); err != nil {
			return out, err
		}
		out.Volumes = append(out.Volumes, vs)
	}
	return out, nil
}

// selection converts a selection; label selectors travel in their string form.
func selection(field string, s arkivev1.ResourceSelection) (workflows.ResourceSelection, error) {
	out := workflows.ResourceSelection{Namespaces: s.Namespaces}
	str := func(f string, ls *metav1.LabelSelector) (string, error) {
		sel, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			return "", fmt.Errorf("%s: %v", f, err)
		}
		return sel.String(), nil
	}
	if s.NamespaceSelector != nil {
		var err error
		if out.NamespaceSelector, err = str(field+".namespaceSelector", s.NamespaceSelector); err != nil {
			return out, err
		}
	}
	for i := range s.LabelSelectors {
		ls, err := str(fmt.Sprintf("%s.labelSelectors[%d]", field, i), &s.LabelSelectors[i])
		if err != nil {
			return out, err
		}
		out.LabelSelectors = append(out.LabelSelectors, ls)
	}
	conv := func(ts []arkivev1.ResourceType) []workflows.ResourceType {
		var out []workflows.ResourceType
		for _, t := range ts {
			out = append(out, workflows.ResourceType{Group: t.Group, Kind: t.Kind, Names: t.Names})
		}
		return out
	}
	out.Resources, out.Exclude = conv(s.Resources), conv(s.Exclude)
	return out, nil
}

// ResourceRestoreInput builds the workflow input of a ResourceRestore from it and the Storage
// holding the snapshot.
func ResourceRestoreInput(r *arkivev1.ResourceRestore, st *arkivev1.Storage) (resourcerestore.Input, error) {
	ns := Namespace(r.Namespace)
	if err := sameRefs(named{"spec.source.storage", "Storage", r.Spec.Source.Storage, st.Name}); err != nil {
		return resourcerestore.Input{}, err
	}
	s := r.Spec
	spec := resourcerestore.Spec{Snapshot: s.Source.Snapshot, ConflictPolicy: string(s.ConflictPolicy), DryRun: s.DryRun,
		Parallelism: int(s.Parallelism)}
	if spec.ConflictPolicy == "" {
		spec.ConflictPolicy = resourcerestore.ConflictSkip
	}
	if !slices.Contains([]string{resourcerestore.ConflictSkip, resourcerestore.ConflictUpdate, resourcerestore.ConflictRecreate, resourcerestore.ConflictFail}, spec.ConflictPolicy) {
		return resourcerestore.Input{}, fmt.Errorf("spec.conflictPolicy: %q is not Skip, Update, Recreate or Fail", spec.ConflictPolicy)
	}
	if spec.Parallelism == 0 {
		spec.Parallelism = DefaultRestoreParallelism
	}
	var err error
	if spec.Selection, err = selection("spec.selection", s.Selection); err != nil {
		return resourcerestore.Input{}, err
	}
	seen := map[string]string{}
	for i, m := range s.NamespaceMapping {
		if from, dup := seen[m.To]; dup {
			return resourcerestore.Input{}, fmt.Errorf("spec.namespaceMapping[%d].to: %q is also where %q goes", i, m.To, from)
		}
		seen[m.To] = m.From
		if spec.NamespaceMapping == nil {
			spec.NamespaceMapping = map[string]string{}
		}
		spec.NamespaceMapping[m.From] = m.To
	}
	for _, k := range s.RestoreStatus {
		spec.RestoreStatus = append(spec.RestoreStatus, resourcerestore.Kind{Group: k.Group, Kind: k.Kind})
	}
	if v := s.Volumes; v != nil {
		vs := &resourcerestore.VolumeSpec{Claims: v.Claims, CreateMissing: v.CreateMissing == nil || *v.CreateMissing,
			RunAsUser: v.RunAsUser, FSGroup: v.FSGroup, ReadAllFiles: v.ReadAllFiles, KeepExisting: v.Overwrite == arkivev1.OverwriteNever}
		for i, c := range v.Claims {
			if !strings.Contains(c, "/") {
				return resourcerestore.Input{}, fmt.Errorf("spec.volumes.claims[%d]: %q must be namespace/name", i, c)
			}
		}
		targets := map[string]string{}
		for i, m := range v.ClaimMapping {
			if from, dup := targets[m.To]; dup {
				return resourcerestore.Input{}, fmt.Errorf("spec.volumes.claimMapping[%d].to: %q is also where %q goes", i, m.To, from)
			}
			targets[m.To] = m.From
			if vs.ClaimMapping == nil {
				vs.ClaimMapping = map[string]string{}
			}
			vs.ClaimMapping[m.From] = m.To
		}
		spec.Volumes = vs
	}
	if s.Source.Backup == "" {
		return resourcerestore.Input{}, fmt.Errorf("spec.source.backup: must not be empty")
	}
	conn, err := resourceConnection(ns, s.Source.Backup, st)
	return resourcerestore.Input{Connection: conn, Spec: spec}, err
}
