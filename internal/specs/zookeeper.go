package specs

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"

	"github.com/robfig/cron/v3"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/zookeeperbackup"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

// DefaultZooKeeperParallelism is the CRD default of ZooKeeperBackup.spec.parallelism.
const DefaultZooKeeperParallelism = 16

func zookeeperConnection(ns, backup string, e *arkivev1.ZooKeeperEnsemble, st *arkivev1.Storage) (workflows.ZooKeeperConnection, error) {
	ej, err := json.Marshal(e.Spec)
	if err != nil {
		return workflows.ZooKeeperConnection{}, err
	}
	sj, err := json.Marshal(st.Spec)
	return workflows.ZooKeeperConnection{Namespace: ns, Backup: backup, Ensemble: ej, Storage: sj, StorageName: st.Name}, err
}

// globs checks path globs: absolute, and valid glob syntax segment by segment.
func globs(field string, gs []string) error {
	for i, g := range gs {
		if !strings.HasPrefix(g, "/") {
			return fmt.Errorf("%s[%d]: %q must be an absolute path glob (start with /)", field, i, g)
		}
		for _, seg := range strings.Split(strings.Trim(g, "/"), "/") {
			if _, err := path.Match(seg, ""); err != nil {
				return fmt.Errorf("%s[%d]: %q is not a valid glob: %v", field, i, g, err)
			}
		}
	}
	return nil
}

// ZooKeeperBackupInput builds the workflow input of a ZooKeeperBackup from it and the ensemble
// and Storage it names.
func ZooKeeperBackupInput(b *arkivev1.ZooKeeperBackup, e *arkivev1.ZooKeeperEnsemble, st *arkivev1.Storage) (zookeeperbackup.Input, error) {
	ns := Namespace(b.Namespace)
	if err := sameRefs(named{"spec.ensemble", "ZooKeeperEnsemble", b.Spec.Ensemble, e.Name}, named{"spec.storage", "Storage", b.Spec.Storage, st.Name}); err != nil {
		return zookeeperbackup.Input{}, err
	}
	if err := NoStorageClaim(st); err != nil {
		return zookeeperbackup.Input{}, err
	}
	spec, err := ZooKeeperBackupSpec(b.Spec)
	if err != nil {
		return zookeeperbackup.Input{}, err
	}
	conn, err := zookeeperConnection(ns, BackupName(ns, b.Name), e, st)
	return zookeeperbackup.Input{Connection: conn, Spec: spec}, err
}

// ZooKeeperBackupSpec converts and checks a ZooKeeperBackup spec, applying the CRD defaults.
func ZooKeeperBackupSpec(s arkivev1.ZooKeeperBackupSpec) (zookeeperbackup.Spec, error) {
	out := zookeeperbackup.Spec{Enabled: s.Enabled == nil || *s.Enabled, Schedule: s.Schedule, Include: s.Paths.Include,
		Exclude: s.Paths.Exclude, IncludeEphemeral: s.IncludeEphemeral, Parallelism: int(s.Parallelism)}
	if out.Parallelism == 0 {
		out.Parallelism = DefaultZooKeeperParallelism
	}
	if s.Schedule != "" {
		if _, err := cron.ParseStandard(s.Schedule); err != nil {
			return out, fmt.Errorf("spec.schedule: %q is not a valid cron expression: %v", s.Schedule, err)
		}
	}
	if err := globs("spec.paths.include", s.Paths.Include); err != nil {
		return out, err
	}
	if err := globs("spec.paths.exclude", s.Paths.Exclude); err != nil {
		return out, err
	}
	for i, t := range s.NodeTypes {
		field := fmt.Sprintf("spec.nodeTypes[%d]", i)
		if err := globs(field+".paths", t.Paths); err != nil {
			return out, err
		}
		nt := zookeeperbackup.NodeType{Paths: t.Paths, Type: t.Type}
		switch t.Type {
		case "Container":
		case "TTL":
			if t.TTL == nil || t.TTL.Duration <= 0 {
				return out, fmt.Errorf("%s.ttl: a TTL node type needs a positive ttl", field)
			}
			nt.TTL = t.TTL.Duration
		default:
			return out, fmt.Errorf("%s.type: %q is not Container or TTL", field, t.Type)
		}
		out.NodeTypes = append(out.NodeTypes, nt)
	}
	var err error
	out.KeepLast, out.MaxAge, err = retention(s.Retention)
	return out, err
}

// ZooKeeperRestoreInput builds the workflow input of a ZooKeeperRestore from it, the Storage
// holding the snapshot and the target ensemble.
func ZooKeeperRestoreInput(r *arkivev1.ZooKeeperRestore, st *arkivev1.Storage, e *arkivev1.ZooKeeperEnsemble) (zookeeperrestore.Input, error) {
	ns := Namespace(r.Namespace)
	if err := sameRefs(named{"spec.source.storage", "Storage", r.Spec.Source.Storage, st.Name}, named{"spec.ensemble", "ZooKeeperEnsemble", r.Spec.Ensemble, e.Name}); err != nil {
		return zookeeperrestore.Input{}, err
	}
	if err := NoStorageClaim(st); err != nil {
		return zookeeperrestore.Input{}, err
	}
	s := r.Spec
	spec := zookeeperrestore.Spec{Snapshot: s.Source.Snapshot, Include: s.Paths.Include, Exclude: s.Paths.Exclude,
		Policy: string(s.Policy), RestoreACLs: s.RestoreACLs == nil || *s.RestoreACLs, DryRun: s.DryRun}
	if spec.Policy == "" {
		spec.Policy = zookeeperrestore.PolicySkip
	}
	switch spec.Policy {
	case zookeeperrestore.PolicySkip, zookeeperrestore.PolicyOverwrite, zookeeperrestore.PolicyMirror, zookeeperrestore.PolicyFail:
	default:
		return zookeeperrestore.Input{}, fmt.Errorf("spec.policy: %q is not Skip, Overwrite, Mirror or Fail", spec.Policy)
	}
	if s.Source.Backup == "" {
		return zookeeperrestore.Input{}, fmt.Errorf("spec.source.backup: must not be empty")
	}
	if err := globs("spec.paths.include", s.Paths.Include); err != nil {
		return zookeeperrestore.Input{}, err
	}
	if err := globs("spec.paths.exclude", s.Paths.Exclude); err != nil {
		return zookeeperrestore.Input{}, err
	}
	seen := map[string]bool{}
	for i, m := range s.PathMapping {
		for _, v := range []struct{ f, p string }{{"from", m.From}, {"to", m.To}} {
			if !strings.HasPrefix(v.p, "/") || path.Clean(v.p) != v.p || v.p == "/" {
				return zookeeperrestore.Input{}, fmt.Errorf("spec.pathMapping[%d].%s: %q must be a clean absolute path other than /", i, v.f, v.p)
			}
		}
		if seen[m.From] {
			return zookeeperrestore.Input{}, fmt.Errorf("spec.pathMapping[%d].from: %q is mapped twice", i, m.From)
		}
		seen[m.From] = true
		spec.PathMapping = append(spec.PathMapping, zookeeperrestore.PathMapping{From: m.From, To: m.To})
	}
	for _, m := range s.ACLMapping {
		spec.ACLMapping = append(spec.ACLMapping, zookeeperrestore.ACLMapping{Scheme: m.Scheme, ID: m.ID, ToScheme: m.ToScheme, ToID: m.ToID})
	}
	conn, err := zookeeperConnection(ns, s.Source.Backup, e, st)
	return zookeeperrestore.Input{Connection: conn, Spec: spec}, err
}
