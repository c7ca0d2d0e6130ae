package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"sigs.k8s.io/yaml"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
)

// What inspect, verify and export do with Kubernetes resource backups (ResourceBackup
// snapshots, docs/format.md): list snapshots and (with the key) their objects, check every
// object against its index hash, and print one object as YAML.

// resourceManifest reads a resource backup's manifest; nil when there is none of that name.
func resourceManifest(ctx context.Context, store *blobstore.Store, backup string) (*archive.ResourceManifest, error) {
	layout, err := blobstore.Resources(backup)
	if err != nil {
		return nil, fmt.Errorf("--backup: %w", err)
	}
	return backups.ResourceManifest(ctx, store, layout)
}

// resourceSnapshot is the snapshot id names (the newest when empty).
func resourceSnapshot(m *archive.ResourceManifest, id string) (*archive.ResourceSnapshotRef, error) {
	ref := m.Newest()
	if id != "" {
		ref = m.Find(id)
	}
	if ref == nil {
		var ids []string
		for _, s := range m.Snapshots {
			ids = append(ids, s.ID)
		}
		return nil, fmt.Errorf("--snapshot: resource backup %s has no snapshot %q (it has: %s)", m.Backup, id, strings.Join(ids, ", "))
	}
	return ref, nil
}

// readIndex reads a snapshot's index, saying what to do when the key is missing or wrong.
func readIndex(ctx context.Context, store *blobstore.Store, ref *archive.ResourceSnapshotRef, key []byte) (*archive.ResourceIndex, error) {
	if ref.Encrypted && key == nil {
		return nil, fmt.Errorf("snapshot %s is encrypted: give --key-file", ref.ID)
	}
	return backups.ResourceIndex(ctx, store, *ref, key)
}

func printResourceManifest(w io.Writer, m *archive.ResourceManifest) {
	fmt.Fprintf(w, "resource backup %s  (%d snapshots)\n", m.Backup, len(m.Snapshots))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SNAPSHOT\tTAKEN\tOBJECTS\tSECRETS\tCHUNKS\tBYTES\tENCRYPTED")
	for _, s := range m.Snapshots {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\t%s\t%t\n", s.ID, s.Time.UTC().Format(time.RFC3339), s.Objects, s.Secrets, s.Chunks, humanBytes(s.Bytes), s.Encrypted)
	}
	_ = tw.Flush()
}

// printResourceObjects lists a snapshot's objects: kind, namespace, name.
func printResourceObjects(w io.Writer, ix *archive.ResourceIndex) {
	fmt.Fprintf(w, "  objects of snapshot %s:\n", ix.ID)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  KIND\tNAMESPACE\tNAME")
	for _, o := range ix.Objects {
		k := ix.Kinds[o.Kind]
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", kindWithGroup(k), orDash(o.Namespace), o.Name)
	}
	_ = tw.Flush()
}

func kindWithGroup(k archive.KindInfo) string {
	if k.Group == "" {
		return k.Kind
	}
	return k.Kind + "." + k.Group
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// inspectResources prints the resource backups named and, with snapshot set, that snapshot's
// objects ("newest": the newest snapshot's). It returns how many backups have been printed.
func inspectResources(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, names []string, snapshot string, printed int) (int, error) {
	for _, name := range names {
		m, err := resourceManifest(ctx, store, name)
		if err != nil {
			return printed, err
		}
		if m == nil {
			continue
		}
		if printed > 0 {
			fmt.Fprintln(w)
		}
		printResourceManifest(w, m)
		printed++
		if snapshot == "" {
			continue
		}
		ref, err := resourceSnapshot(m, strings.TrimPrefix(snapshot, "newest"))
		if err != nil {
			return printed, err
		}
		ix, err := readIndex(ctx, store, ref, key)
		if err != nil {
			return printed, err
		}
		printResourceObjects(w, ix)
	}
	return printed, nil
}

// verifyResources checks every snapshot of a resource backup: its index opens, and every object
// is where the index says with the hash it records. Problems are reported, not returned.
func verifyResources(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, m *archive.ResourceManifest) error {
	problems, objects := 0, 0
	for i := range m.Snapshots {
		ref := &m.Snapshots[i]
		ix, err := readIndex(ctx, store, ref, key)
		if err != nil {
			problems++
			fmt.Fprintf(w, "PROBLEM snapshot %s: %v\n", ref.ID, err)
			continue
		}
		if len(ix.Objects) != ref.Objects {
			problems++
			fmt.Fprintf(w, "PROBLEM snapshot %s: the index lists %d objects, the manifest says %d\n", ref.ID, len(ix.Objects), ref.Objects)
		}
		if err := backups.ResourceObjects(ctx, store, *ref, ix, key, nil, func(int, []byte) error { objects++; return nil }); err != nil {
			problems++
			fmt.Fprintf(w, "PROBLEM snapshot %s: %v\n", ref.ID, err)
		}
	}
	if problems > 0 {
		return fmt.Errorf("resource backup %s: %d problem(s) in %d snapshots", m.Backup, problems, len(m.Snapshots))
	}
	fmt.Fprintf(w, "resource backup %s is whole: %d snapshots, %d objects (every object's hash checked)\n", m.Backup, len(m.Snapshots), objects)
	return nil
}

// exportResource prints one object of a snapshot as YAML. object is KIND/NAMESPACE/NAME, or
// KIND/NAME for cluster-scoped kinds; KIND may carry its group (Kafka.kafka.strimzi.io).
func exportResource(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, m *archive.ResourceManifest, snapshot, object string) error {
	parts := strings.Split(object, "/")
	if len(parts) < 2 || len(parts) > 3 {
		return fmt.Errorf("--object: %q is not KIND/NAMESPACE/NAME or KIND/NAME", object)
	}
	kind, ns, name := parts[0], "", parts[len(parts)-1]
	if len(parts) == 3 {
		ns = parts[1]
	}
	ref, err := resourceSnapshot(m, snapshot)
	if err != nil {
		return err
	}
	ix, err := readIndex(ctx, store, ref, key)
	if err != nil {
		return err
	}
	want := -1
	for i, o := range ix.Objects {
		k := ix.Kinds[o.Kind]
		if (kind == k.Kind || kind == kindWithGroup(k)) && o.Namespace == ns && o.Name == name {
			want = i
			break
		}
	}
	if want < 0 {
		return fmt.Errorf("--object: snapshot %s holds no %s", ref.ID, object)
	}
	return backups.ResourceObjects(ctx, store, *ref, ix, key, func(i int) bool { return i == want }, func(_ int, line []byte) error {
		var obj map[string]any
		if err := json.Unmarshal(line, &obj); err != nil {
			return err
		}
		out, err := yaml.Marshal(obj)
		if err != nil {
			return err
		}
		_, err = w.Write(out)
		return err
	})
}
