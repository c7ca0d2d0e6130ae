package specs

import (
	"fmt"
	"time"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
)

// DefaultBackupIntervalSecs is the CRD default of SchemaRegistryBackup.spec.backupIntervalSecs.
const DefaultBackupIntervalSecs = 3600

func schemaConnection(ns, backup string, sr *arkivev1.SchemaRegistry, st *arkivev1.Storage) (schemabackup.Connection, error) {
	rj, sj, err := specsJSON(sr.Spec, st.Spec)
	if err != nil {
		return schemabackup.Connection{}, err
	}
	return schemabackup.Connection{Namespace: ns, Backup: backup, Registry: rj, Storage: sj}, nil
}

// SchemaBackupInput builds the workflow input of a SchemaRegistryBackup from it and the
// SchemaRegistry and Storage it names (references only, never Secret values).
func SchemaBackupInput(b *arkivev1.SchemaRegistryBackup, sr *arkivev1.SchemaRegistry, st *arkivev1.Storage) (schemabackup.Input, error) {
	ns := Namespace(b.Namespace)
	if err := sameRefs(named{"spec.registry", "SchemaRegistry", b.Spec.Registry, sr.Name}, named{"spec.storage", "Storage", b.Spec.Storage, st.Name}); err != nil {
		return schemabackup.Input{}, err
	}
	if err := NoStorageClaim(st); err != nil {
		return schemabackup.Input{}, err
	}
	spec, err := SchemaBackupSpec(b.Spec)
	if err != nil {
		return schemabackup.Input{}, err
	}
	conn, err := schemaConnection(ns, BackupName(ns, b.Name), sr, st)
	return schemabackup.Input{Connection: conn, Spec: spec}, err
}

// SchemaBackupSpec converts and validates a SchemaRegistryBackup spec, applying the CRD defaults.
func SchemaBackupSpec(s arkivev1.SchemaRegistryBackupSpec) (schemabackup.Spec, error) {
	secs := s.BackupIntervalSecs
	if secs == 0 {
		secs = DefaultBackupIntervalSecs
	}
	if secs < 0 {
		return schemabackup.Spec{}, fmt.Errorf("spec.backupIntervalSecs: %d must be positive", secs)
	}
	out := schemabackup.Spec{Enabled: s.Enabled, Interval: time.Duration(secs) * time.Second}
	var err error
	out.KeepLast, out.MaxAge, err = retention(s.Retention)
	return out, err
}

// SchemaRestoreInput builds the workflow input of a SchemaRegistryRestore from it, the target
// SchemaRegistry and the source Storage.
func SchemaRestoreInput(r *arkivev1.SchemaRegistryRestore, sr *arkivev1.SchemaRegistry, st *arkivev1.Storage) (schemarestore.Input, error) {
	ns := Namespace(r.Namespace)
	if err := sameRefs(named{"spec.target", "SchemaRegistry", r.Spec.Target, sr.Name}, named{"spec.source.storage", "Storage", r.Spec.Source.Storage, st.Name}); err != nil {
		return schemarestore.Input{}, err
	}
	if err := NoStorageClaim(st); err != nil {
		return schemarestore.Input{}, err
	}
	if r.Spec.Source.Backup == "" {
		return schemarestore.Input{}, fmt.Errorf("spec.source.backup: must not be empty")
	}
	spec := schemarestore.Spec{Snapshot: r.Spec.Source.Snapshot, DryRun: r.Spec.DryRun}
	if f := r.Spec.Subjects; f != nil {
		spec.Names, spec.Prefixes = f.Names, f.Prefixes
	}
	seen := map[string]int{}
	for i, rn := range r.Spec.Renames {
		if rn.From == "" || rn.To == "" {
			return schemarestore.Input{}, fmt.Errorf("spec.renames[%d]: from and to must both be set", i)
		}
		if j, dup := seen[rn.To]; dup {
			return schemarestore.Input{}, fmt.Errorf("spec.renames[%d].to: %q is also the target of spec.renames[%d]", i, rn.To, j)
		}
		seen[rn.To] = i
		spec.Renames = append(spec.Renames, schemarestore.Rename{From: rn.From, To: rn.To})
	}
	conn, err := schemaConnection(ns, r.Spec.Source.Backup, sr, st)
	return schemarestore.Input{Connection: conn, Spec: spec}, err
}
