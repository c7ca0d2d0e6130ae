package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"arkive.io/arkive/activities/volume"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

// What inspect, verify and export do with volume backups (the files of a ResourceBackup's
// claims, docs/format.md#volume-snapshots): list snapshots and (with the key) their files,
// check every snapshot (--deep: every chunk read back and re-hashed), and extract a file or
// subtree into a local directory.

func volumeManifest(ctx context.Context, store *blobstore.Store, backup string) (*archive.VolumeManifest, blobstore.VolumeLayout, error) {
	layout, err := blobstore.Volumes(backup)
	if err != nil {
		return nil, layout, fmt.Errorf("--backup: %w", err)
	}
	m, err := volume.ReadManifest(ctx, store, layout)
	return m, layout, err
}

func printVolumeManifest(w io.Writer, backup string, m *archive.VolumeManifest) {
	fmt.Fprintf(w, "volume backup %s  (%d snapshots)\n", backup, len(m.Snapshots))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SNAPSHOT\tVOLUME\tRUN\tTAKEN\tFILES\tDATA\tSTORED ANEW\tWARNINGS\tENCRYPTED")
	for _, s := range m.Snapshots {
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%s\t%s\t%d\t%t\n", s.ID, s.Volume, orDash(s.Run), s.Started.UTC().Format(time.RFC3339), s.Files,
			humanBytes(s.Bytes), humanBytes(s.Added), s.WarningCount, s.Encrypted)
	}
	_ = tw.Flush()
}

// inspectVolumes prints the volume backups named and, with snapshot set, the files of that
// snapshot of each (a volume snapshot's id, or a run's: the run's volume snapshots).
func inspectVolumes(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, names []string, snapshot string, printed int) (int, error) {
	for _, name := range names {
		m, layout, err := volumeManifest(ctx, store, name)
		if err != nil {
			return printed, err
		}
		if m == nil {
			continue
		}
		if printed > 0 {
			fmt.Fprintln(w)
		}
		printVolumeManifest(w, name, m)
		printed++
		if snapshot == "" {
			continue
		}
		refs := volumeSnapshots(m, snapshot)
		if len(refs) == 0 {
			continue
		}
		repo, err := volume.Open(ctx, store, layout, key)
		if err != nil {
			return printed, err
		}
		for _, ref := range refs {
			fmt.Fprintf(w, "  files of snapshot %s (%s):\n", ref.ID, ref.Volume)
			tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
			fmt.Fprintln(tw, "  PATH\tTYPE\tMODE\tOWNER\tSIZE")
			err := repo.Walk(ctx, ref, func(e *archive.VEntry) error {
				what := humanBytes(e.Size)
				switch e.Type {
				case archive.VSymlink:
					what = "-> " + string(e.Target)
				case archive.VHardlink:
					what = "= " + string(e.Link)
				case archive.VDir:
					what = "-"
				}
				fmt.Fprintf(tw, "  %q\t%s\t%04o\t%d:%d\t%s\n", string(e.Path), e.Type, e.Mode, e.UID, e.GID, what)
				return nil
			})
			_ = tw.Flush()
			if err != nil {
				repo.Close()
				return printed, err
			}
		}
		repo.Close()
	}
	return printed, nil
}

// volumeSnapshots are the snapshots id names: one volume snapshot, a run's volume snapshots,
// or with "newest" the newest run's.
func volumeSnapshots(m *archive.VolumeManifest, id string) []*archive.VolumeSnapshotRef {
	if id == "newest" && len(m.Snapshots) > 0 {
		id = m.Snapshots[len(m.Snapshots)-1].Run
		if id == "" {
			id = m.Snapshots[len(m.Snapshots)-1].ID
		}
	}
	var out []*archive.VolumeSnapshotRef
	for i := range m.Snapshots {
		if s := &m.Snapshots[i]; s.ID == id || s.Run == id {
			out = append(out, s)
		}
	}
	return out
}

// verifyVolumes checks every snapshot of a volume backup: its tree against the manifest and
// every file's chunks against the index, and with deep every chunk read back, authenticated
// and re-hashed. Problems are reported, not returned.
func verifyVolumes(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, backup string, deep bool) error {
	m, layout, err := volumeManifest(ctx, store, backup)
	if err != nil || m == nil {
		return err
	}
	repo, err := volume.Open(ctx, store, layout, key)
	if err != nil {
		return fmt.Errorf("volume backup %s: %w", backup, err)
	}
	defer repo.Close()
	problems, files, chunks := 0, 0, 0
	var bytes int64
	for i := range m.Snapshots {
		ref := &m.Snapshots[i]
		if ref.Encrypted && key == nil {
			problems++
			fmt.Fprintf(w, "PROBLEM volume snapshot %s: encrypted: give --key-file\n", ref.ID)
			continue
		}
		v, err := repo.Verify(ctx, ref, deep)
		if err != nil {
			problems++
			fmt.Fprintf(w, "PROBLEM volume snapshot %s (%s): %v\n", ref.ID, ref.Volume, err)
			continue
		}
		files, chunks, bytes = files+v.Files, chunks+v.Chunks, bytes+v.Bytes
	}
	if problems > 0 {
		return fmt.Errorf("volume backup %s: %d problem(s) in %d snapshots", backup, problems, len(m.Snapshots))
	}
	how := "every file's chunks are indexed"
	if deep {
		how = "every chunk read back and its SHA-256 checked"
	}
	fmt.Fprintf(w, "volume backup %s is whole: %d snapshots, %d files, %s (%s)\n", backup, len(m.Snapshots), files, humanBytes(bytes), how)
	return nil
}

// exportVolume restores one volume snapshot, or the subtree at path of it, into dir.
func exportVolume(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, backup, snapshot, path, dir string) error {
	m, layout, err := volumeManifest(ctx, store, backup)
	if err != nil {
		return err
	}
	if m == nil {
		return fmt.Errorf("--backup: no volume backup %q", backup)
	}
	var ref *archive.VolumeSnapshotRef
	if snapshot != "" {
		ref = m.Find(snapshot)
	} else if len(m.Snapshots) > 0 {
		ref = &m.Snapshots[len(m.Snapshots)-1]
	}
	if ref == nil {
		var ids []string
		for _, s := range m.Snapshots {
			ids = append(ids, s.ID+" ("+s.Volume+")")
		}
		return fmt.Errorf("--snapshot: volume backup %s has no snapshot %q (it has: %s)", backup, snapshot, strings.Join(ids, ", "))
	}
	if !strings.HasPrefix(path, "/") {
		return fmt.Errorf("--path: %q must start with / (the volume's root)", path)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("--to: %w", err)
	}
	repo, err := volume.Open(ctx, store, layout, key)
	if err != nil {
		return err
	}
	defer repo.Close()
	var include []string
	if path != "/" {
		include = []string{strings.TrimSuffix(path, "/")}
	}
	res, err := repo.Restore(ctx, ref, dir, volume.RestoreOptions{Include: include})
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "exported %s of volume snapshot %s (%s) into %s: %d files, %s\n", path, ref.ID, ref.Volume, dir, res.Files, humanBytes(res.Bytes))
	for _, warn := range res.Warnings {
		fmt.Fprintf(w, "warning: %s\n", warn)
	}
	return nil
}
