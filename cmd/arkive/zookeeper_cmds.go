package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
)

// What inspect, verify and export do with ZooKeeper backups (ZooKeeperBackup snapshots,
// docs/format.md): list snapshots and (with the key) their nodes, check every chunk against
// the manifest's SHA-256 and node count, and write a subtree as JSON lines.

// zookeeperManifest reads a ZooKeeper backup's manifest; nil when there is none of that name.
func zookeeperManifest(ctx context.Context, store *blobstore.Store, backup string) (*archive.ZooKeeperManifest, error) {
	layout, err := blobstore.ZooKeeper(backup)
	if err != nil {
		return nil, fmt.Errorf("--backup: %w", err)
	}
	return backups.ZooKeeperManifest(ctx, store, layout)
}

// zookeeperSnapshot is the snapshot id names (the newest when empty).
func zookeeperSnapshot(m *archive.ZooKeeperManifest, id string, key []byte) (*archive.ZooKeeperSnapshotRef, error) {
	ref := m.Newest()
	if id != "" {
		ref = m.Find(id)
	}
	if ref == nil {
		var ids []string
		for _, s := range m.Snapshots {
			ids = append(ids, s.ID)
		}
		return nil, fmt.Errorf("--snapshot: ZooKeeper backup %s has no snapshot %q (it has: %s)", m.Backup, id, strings.Join(ids, ", "))
	}
	if ref.Encrypted && key == nil {
		return nil, fmt.Errorf("snapshot %s is encrypted: give --key-file", ref.ID)
	}
	return ref, nil
}

func printZooKeeperManifest(w io.Writer, m *archive.ZooKeeperManifest) {
	fmt.Fprintf(w, "zookeeper backup %s  (%d snapshots)\n", m.Backup, len(m.Snapshots))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SNAPSHOT\tTAKEN\tNODES\tCONSISTENCY\tZXIDS\tBYTES\tENCRYPTED")
	for _, s := range m.Snapshots {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%s\t%#x-%#x\t%s\t%t\n", s.ID, s.Time.UTC().Format(time.RFC3339), s.Nodes, s.Consistency,
			s.StartZxid, s.EndZxid, humanBytes(s.Bytes), s.Encrypted)
	}
	_ = tw.Flush()
}

// inspectZooKeeper prints the ZooKeeper backups named and, with snapshot set, that snapshot's
// nodes ("newest": the newest snapshot's). It returns how many backups have been printed.
func inspectZooKeeper(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, names []string, snapshot string, printed int) (int, error) {
	for _, name := range names {
		m, err := zookeeperManifest(ctx, store, name)
		if err != nil {
			return printed, err
		}
		if m == nil {
			continue
		}
		if printed > 0 {
			fmt.Fprintln(w)
		}
		printZooKeeperManifest(w, m)
		printed++
		if snapshot == "" {
			continue
		}
		ref, err := zookeeperSnapshot(m, strings.TrimPrefix(snapshot, "newest"), key)
		if err != nil {
			return printed, err
		}
		if ref.Reason != "" {
			fmt.Fprintf(w, "  snapshot %s is %s: %s\n", ref.ID, ref.Consistency, ref.Reason)
		}
		fmt.Fprintf(w, "  nodes of snapshot %s:\n", ref.ID)
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  PATH\tTYPE\tDATA\tACL")
		err = backups.ZNodes(ctx, store, *ref, key, 0, func(_ int, nodes []archive.ZNode) error {
			for _, n := range nodes {
				var acl []string
				for _, a := range n.ACL {
					acl = append(acl, a.Scheme+":"+a.ID)
				}
				data := fmt.Sprintf("%d B", len(n.Data))
				if n.Data == nil {
					data = "null"
				}
				fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", n.Path, n.Type, data, strings.Join(acl, ","))
			}
			return nil
		})
		_ = tw.Flush()
		if err != nil {
			return printed, err
		}
	}
	return printed, nil
}

// verifyZooKeeper checks every snapshot of a ZooKeeper backup: every chunk is there with the
// SHA-256 and node count the manifest records, and every node decodes. Problems are reported,
// not returned.
func verifyZooKeeper(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, m *archive.ZooKeeperManifest) error {
	problems, nodes := 0, 0
	for i := range m.Snapshots {
		ref := &m.Snapshots[i]
		if ref.Encrypted && key == nil {
			problems++
			fmt.Fprintf(w, "PROBLEM snapshot %s: encrypted: give --key-file\n", ref.ID)
			continue
		}
		n := 0
		err := backups.ZNodes(ctx, store, *ref, key, 0, func(_ int, ns []archive.ZNode) error { n += len(ns); return nil })
		switch {
		case err != nil:
			problems++
			fmt.Fprintf(w, "PROBLEM snapshot %s: %v\n", ref.ID, err)
		case n != ref.Nodes:
			problems++
			fmt.Fprintf(w, "PROBLEM snapshot %s: its chunks hold %d nodes, the manifest says %d\n", ref.ID, n, ref.Nodes)
		}
		nodes += n
	}
	if problems > 0 {
		return fmt.Errorf("zookeeper backup %s: %d problem(s) in %d snapshots", m.Backup, problems, len(m.Snapshots))
	}
	fmt.Fprintf(w, "zookeeper backup %s is whole: %d snapshots, %d nodes (every chunk's SHA-256 checked)\n", m.Backup, len(m.Snapshots), nodes)
	return nil
}

// exportedZNode is one line of `arkive export --znode`: data as text when it is UTF-8,
// dataBase64 otherwise; null data has neither.
type exportedZNode struct {
	Path       string         `json:"path"`
	Type       string         `json:"type"`
	Data       *string        `json:"data,omitempty"`
	DataBase64 string         `json:"dataBase64,omitempty"`
	ACL        []archive.ZACL `json:"acl"`
	TTLMillis  int64          `json:"ttlMs,omitempty"`
	Stat       archive.ZStat  `json:"stat"`
}

// exportZooKeeper writes the subtree at root of a snapshot as JSON lines, parents first.
func exportZooKeeper(ctx context.Context, w io.Writer, store *blobstore.Store, key []byte, m *archive.ZooKeeperManifest, snapshot, root string) error {
	if !strings.HasPrefix(root, "/") {
		return fmt.Errorf("--znode: %q is not an absolute path", root)
	}
	root = strings.TrimSuffix(root, "/")
	ref, err := zookeeperSnapshot(m, snapshot, key)
	if err != nil {
		return err
	}
	enc := json.NewEncoder(w)
	found := false
	err = backups.ZNodes(ctx, store, *ref, key, 0, func(_ int, nodes []archive.ZNode) error {
		for _, n := range nodes {
			if root != "" && n.Path != root && !strings.HasPrefix(n.Path, root+"/") {
				continue
			}
			found = true
			e := exportedZNode{Path: n.Path, Type: n.Type, ACL: n.ACL, TTLMillis: n.TTLMillis, Stat: n.Stat}
			switch {
			case n.Data == nil:
			case utf8.Valid(n.Data):
				s := string(n.Data)
				e.Data = &s
			default:
				e.DataBase64 = base64.StdEncoding.EncodeToString(n.Data)
			}
			if err := enc.Encode(e); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	if !found {
		return fmt.Errorf("--znode: snapshot %s holds no node %s", ref.ID, root)
	}
	return nil
}
