package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"gocloud.dev/blob"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/backups"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/catalog"
)

// storageFlags are the flags of the commands that read a storage directly, without Temporal.
type storageFlags struct {
	url, keyFile, backup string
}

func (s *storageFlags) register(fs *flag.FlagSet, backupUsage string) {
	fs.StringVar(&s.url, "storage", envOr("ARKIVE_STORAGE", ""), "storage URL in gocloud.dev form: s3://bucket?endpoint=…&prefix=…, gs://bucket, azblob://container, file:///path (env ARKIVE_STORAGE)")
	fs.StringVar(&s.keyFile, "key-file", envOr("ARKIVE_KEY_FILE", ""), "file holding the storage's encryption key, 32 raw bytes or their base64 (env ARKIVE_KEY_FILE)")
	fs.StringVar(&s.backup, "backup", "", backupUsage)
}

func (s *storageFlags) open(ctx context.Context) (*blobstore.Store, []byte, error) {
	if s.url == "" {
		return nil, nil, errors.New("--storage: a storage URL is required")
	}
	var key []byte
	if s.keyFile != "" {
		raw, err := os.ReadFile(s.keyFile)
		if err != nil {
			return nil, nil, fmt.Errorf("--key-file: %w", err)
		}
		if key, err = blobstore.ParseKey(raw); err != nil {
			return nil, nil, fmt.Errorf("--key-file %s: %w", s.keyFile, err)
		}
	}
	store, err := blobstore.OpenURL(ctx, s.url)
	if err != nil {
		return nil, nil, fmt.Errorf("--storage: %w", err)
	}
	return store, key, nil
}

// manifest reads the named backup's whole catalog.
func manifest(ctx context.Context, store *blobstore.Store, backup string) (*archive.Manifest, error) {
	return manifestView(ctx, store, backup, catalog.Filter{})
}

// manifestView reads what f selects of the named backup's catalog.
func manifestView(ctx context.Context, store *blobstore.Store, backup string, f catalog.Filter) (*archive.Manifest, error) {
	layout, err := blobstore.Kafka(backup)
	if err != nil {
		return nil, fmt.Errorf("--backup: %w", err)
	}
	cat, err := catalog.Open(ctx, store, layout)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", backup, err)
	}
	m, err := cat.View(ctx, f)
	if err != nil {
		return nil, fmt.Errorf("backup %s: %w", backup, err)
	}
	if m == nil {
		return nil, &missingBackupError{fmt.Sprintf("backup %q: no %s in the storage", backup, layout.Manifest())}
	}
	return m, nil
}

// missingBackupError is a Kafka backup the storage has no manifest of.
type missingBackupError struct{ msg string }

func (e *missingBackupError) Error() string { return e.msg }

func isMissingBackup(err error) bool {
	var m *missingBackupError
	return errors.As(err, &m)
}

// listBackups names every Kafka backup in a storage.
func listBackups(ctx context.Context, store *blobstore.Store) ([]string, error) {
	return listManifests(ctx, store, blobstore.KafkaBackupsPrefix(), blobstore.KafkaBackupFromManifestKey)
}

// listManifests lists the backups under prefix whose manifest keys name parses.
func listManifests(ctx context.Context, store *blobstore.Store, prefix string, name func(string) (string, bool)) ([]string, error) {
	var names []string
	it := store.List(&blob.ListOptions{Prefix: prefix})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return names, nil
		}
		if err != nil {
			return nil, fmt.Errorf("list backups: %w", err)
		}
		if n, ok := name(obj.Key); ok {
			names = append(names, n)
		}
	}
}

func printSchemaManifest(w io.Writer, m *archive.SchemaManifest) {
	fmt.Fprintf(w, "schema backup %s  (%d snapshots, last check %s)\n", m.Backup, len(m.Snapshots), m.LastCheck.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  SNAPSHOT\tTAKEN\tSUBJECTS\tVERSIONS\tBYTES")
	for _, s := range m.Snapshots {
		fmt.Fprintf(tw, "  %s\t%s\t%d\t%d\t%d\n", s.ID, s.Time.UTC().Format(time.RFC3339), s.Subjects, s.Versions, s.Bytes)
	}
	_ = tw.Flush()
}

func inspectCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s storageFlags
	var snapshot string
	fs := newFlagSet("inspect", "Lists the Kafka backups in a storage and, per backup, its topics and partitions with offset and\ntime ranges, segment count, bytes, gaps, and scheduled runs; then the Schema Registry backups\nwith their snapshots (id, time, subjects, versions, bytes); then the Kubernetes resource\nbackups and ZooKeeper backups with their snapshots, and with --snapshot that snapshot's objects\nor nodes. Reads only manifests (and, with --snapshot, the snapshot's index or chunks).", stderr)
	s.register(fs, "only this backup (default: every backup in the storage)")
	fs.StringVar(&snapshot, "snapshot", "", "list the objects (nodes) of this snapshot of each resource (ZooKeeper) backup shown (\"newest\" for the newest; encrypted ones need --key-file)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	store, key, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	names, schemaNames, resourceNames, zkNames, volNames := []string{s.backup}, []string{s.backup}, []string{s.backup}, []string{s.backup}, []string{s.backup}
	if s.backup == "" {
		if names, err = listBackups(ctx, store); err != nil {
			return err
		}
		if schemaNames, err = listManifests(ctx, store, blobstore.SchemaBackupsPrefix(), blobstore.SchemaBackupFromManifestKey); err != nil {
			return err
		}
		if resourceNames, err = listManifests(ctx, store, blobstore.ResourceBackupsPrefix(), blobstore.ResourceBackupFromManifestKey); err != nil {
			return err
		}
		if zkNames, err = listManifests(ctx, store, blobstore.ZooKeeperBackupsPrefix(), blobstore.ZooKeeperBackupFromManifestKey); err != nil {
			return err
		}
		if volNames, err = listManifests(ctx, store, blobstore.VolumeBackupsPrefix(), blobstore.VolumeBackupFromManifestKey); err != nil {
			return err
		}
	}
	printed := 0
	for _, name := range names {
		m, err := manifest(ctx, store, name)
		if err != nil {
			if s.backup != "" && isMissingBackup(err) {
				continue // it may be a Schema Registry backup of that name
			}
			return err
		}
		if printed > 0 {
			fmt.Fprintln(stdout)
		}
		printManifest(stdout, m)
		printed++
	}
	for _, name := range schemaNames {
		layout, err := blobstore.Schemas(name)
		if err != nil {
			return fmt.Errorf("--backup: %w", err)
		}
		m, err := backups.SchemaManifest(ctx, store, layout)
		if err != nil {
			return err
		}
		if m == nil {
			continue
		}
		if printed > 0 {
			fmt.Fprintln(stdout)
		}
		printSchemaManifest(stdout, m)
		printed++
	}
	if printed, err = inspectResources(ctx, stdout, store, key, resourceNames, snapshot, printed); err != nil {
		return err
	}
	if printed, err = inspectZooKeeper(ctx, stdout, store, key, zkNames, snapshot, printed); err != nil {
		return err
	}
	if printed, err = inspectVolumes(ctx, stdout, store, key, volNames, snapshot, printed); err != nil {
		return err
	}
	switch {
	case printed == 0 && s.backup != "":
		return fmt.Errorf("--backup: no backup %q in %s", s.backup, s.url)
	case printed == 0:
		fmt.Fprintf(stdout, "no backups in %s\n", s.url)
	}
	return nil
}

func printManifest(w io.Writer, m *archive.Manifest) {
	fmt.Fprintf(w, "backup %s  (generation %d, committed %s)\n", m.Backup, m.Generation, m.CommittedAt.UTC().Format(time.RFC3339))
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  TOPIC\tPARTITION\tOFFSETS\tRECORDS\tFIRST RECORD\tLAST RECORD\tSEGMENTS\tBYTES\tGAPS")
	for _, t := range m.Topics {
		for _, p := range t.Data {
			var records, bytes int64
			minTs, maxTs := int64(0), int64(0)
			for i, s := range p.Segments {
				records += s.Count
				bytes += s.StoredBytes
				if i == 0 || s.MinTimestamp < minTs {
					minTs = s.MinTimestamp
				}
				maxTs = max(maxTs, s.MaxTimestamp)
			}
			offsets, first, last := "-", "-", "-"
			if p.NextOffset > p.StartOffset {
				offsets = fmt.Sprintf("%d-%d", p.StartOffset, p.NextOffset-1)
			}
			if records > 0 {
				first, last = time.UnixMilli(minTs).UTC().Format(time.RFC3339), time.UnixMilli(maxTs).UTC().Format(time.RFC3339)
			}
			gaps := "-"
			if len(p.Gaps) > 0 {
				var parts []string
				for _, g := range p.Gaps {
					parts = append(parts, fmt.Sprintf("%s %d-%d", g.Reason, g.From, g.To))
				}
				gaps = strings.Join(parts, ", ")
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%d\t%s\t%s\t%d\t%s\t%s\n", t.Name, p.Partition, offsets, records, first, last, len(p.Segments), humanBytes(bytes), gaps)
		}
	}
	_ = tw.Flush()
	if len(m.Runs) > 0 {
		fmt.Fprintf(w, "  runs (%d):\n", len(m.Runs))
		for _, r := range m.Runs {
			fmt.Fprintf(w, "    %s  %s  %s → %s  %d records  %s\n", r.ID, r.Outcome, r.Start.UTC().Format(time.RFC3339), r.End.UTC().Format(time.RFC3339), r.Records, humanBytes(r.Bytes))
		}
	}
	if n := len(m.GroupOffsets); n > 0 {
		last := m.GroupOffsets[n-1]
		groups := map[string]bool{}
		for _, g := range last.Groups {
			groups[g.Group] = true
		}
		fmt.Fprintf(w, "  consumer-group offsets: %d snapshots, the newest (%s) with %d groups\n", n, last.Time.UTC().Format(time.RFC3339), len(groups))
	}
}

func humanBytes(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

func verifyCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s storageFlags
	var deep bool
	fs := newFlagSet("verify", "Checks that a backup is whole: every offset covered by a segment or a recorded gap, every\nsegment the manifest names present with its recorded size and stored-bytes checksum. --deep\nalso decodes every record (decrypting with --key-file) and checks it against the manifest.\nExit status 1, with the object and position, on any problem.", stderr)
	s.register(fs, "the backup to verify (required), as inspect lists it")
	fs.BoolVar(&deep, "deep", false, "decode every record and check offsets, counts and content checksums too")
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	if s.backup == "" {
		return errors.New("--backup: a backup name is required (arkive inspect lists them)")
	}
	store, key, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := manifest(ctx, store, s.backup)
	if isMissingBackup(err) {
		rm, rerr := resourceManifest(ctx, store, s.backup)
		if rerr != nil {
			return rerr
		}
		if rm != nil {
			err := verifyResources(ctx, stdout, store, key, rm)
			if verr := verifyVolumes(ctx, stdout, store, key, s.backup, deep); err == nil {
				err = verr // a ResourceBackup's volumes live beside its objects
			}
			return err
		}
		zm, zerr := zookeeperManifest(ctx, store, s.backup)
		if zerr != nil {
			return zerr
		}
		if zm != nil {
			return verifyZooKeeper(ctx, stdout, store, key, zm)
		}
	}
	if err != nil {
		return err
	}
	var problems, segments int
	var records int64
	report := func(format string, a ...any) {
		problems++
		fmt.Fprintf(stdout, "PROBLEM "+format+"\n", a...)
	}
	for _, t := range m.Topics {
		for _, p := range t.Data {
			for _, h := range p.Holes() {
				report("%s/%d: offsets %d-%d are in no segment and no recorded gap", t.Name, p.Partition, h.From, h.To)
			}
			for _, g := range p.Gaps {
				if g.Reason == archive.GapRetention {
					fmt.Fprintf(stdout, "warning %s/%d: offsets %d-%d were deleted at the source before they were backed up\n", t.Name, p.Partition, g.From, g.To)
				}
			}
			absent := map[archive.GapReason]int64{}
			for _, seg := range p.Segments {
				segments++
				if seg.Missing != 0 && seg.Missing != seg.Absent() {
					report("segment %s: the catalog counts %d offsets without a record, its range and count say %d", seg.Key, seg.Missing, seg.Absent())
				}
				absent[seg.MissingReason] += seg.Absent()
				if err := verifySegment(ctx, store, seg, key, deep); err != nil {
					report("%v", err)
					continue
				}
				records += seg.Count
			}
			noteAbsent(stdout, t.Name, p.Partition, absent)
		}
	}
	mode := "framing and checksums"
	if deep {
		mode = "every record"
	}
	if problems > 0 {
		return fmt.Errorf("backup %s: %d problem(s) in %d segments", s.backup, problems, segments)
	}
	fmt.Fprintf(stdout, "backup %s is whole: %d segments, %d records (%s checked)\n", s.backup, segments, records, mode)
	return nil
}

// absentWhy says, per recorded reason, why offsets inside segments hold no record, in the
// order verify notes them ("": segments written before the reason was recorded).
var absentWhy = []struct {
	reason archive.GapReason
	why    string
}{
	{archive.GapCompacted, "were removed by log compaction before they were read"},
	{archive.GapTransaction, "hold transaction markers or aborted records (skipped under read_committed)"},
	{"", "hold no record (compacted away or transaction markers: written before Arkive recorded which)"},
}

// noteAbsent says why offsets inside segments hold no record: these are not holes.
func noteAbsent(stdout io.Writer, topic string, partition int32, absent map[archive.GapReason]int64) {
	for _, a := range absentWhy {
		if n := absent[a.reason]; n > 0 {
			fmt.Fprintf(stdout, "note %s/%d: %d offsets inside segments %s\n", topic, partition, n, a.why)
		}
	}
}

// verifySegment checks one segment named by the manifest.
func verifySegment(ctx context.Context, store *blobstore.Store, seg archive.SegmentRef, key []byte, deep bool) error {
	attrs, err := store.Attributes(ctx, seg.Key)
	if blobstore.IsNotFound(err) {
		return fmt.Errorf("segment %s: missing from the storage", seg.Key)
	}
	if err != nil {
		return fmt.Errorf("segment %s: %w", seg.Key, err)
	}
	if attrs.Size != seg.StoredBytes {
		return fmt.Errorf("segment %s: %d bytes, the manifest says %d (truncated or replaced)", seg.Key, attrs.Size, seg.StoredBytes)
	}
	if deep {
		if seg.Encrypted && key == nil {
			return fmt.Errorf("segment %s: encrypted; --deep needs --key-file", seg.Key)
		}
		return backups.Segment(ctx, store, seg, key, func(*archive.Record) error { return nil })
	}
	r, err := store.NewReader(ctx, seg.Key, nil)
	if err != nil {
		return fmt.Errorf("segment %s: %w", seg.Key, err)
	}
	defer r.Close()
	_, err = archive.CheckSegmentObject(r, seg.Key)
	return err
}

// exportRecord is one exported record. Bytes that are valid UTF-8 appear as text, others in
// the *Base64 field instead; null stays null.
type exportRecord struct {
	Topic         string         `json:"topic"`
	Partition     int32          `json:"partition"`
	Offset        int64          `json:"offset"`
	Timestamp     int64          `json:"timestamp"`
	TimestampType string         `json:"timestampType"`
	Key           *string        `json:"key"`
	KeyBase64     string         `json:"keyBase64,omitempty"`
	Value         *string        `json:"value"`
	ValueBase64   string         `json:"valueBase64,omitempty"`
	Headers       []exportHeader `json:"headers,omitempty"`
}

type exportHeader struct {
	Key         string  `json:"key"`
	Value       *string `json:"value"`
	ValueBase64 string  `json:"valueBase64,omitempty"`
}

// textOrBase64 renders bytes as text when they are valid UTF-8, else as base64.
func textOrBase64(b []byte) (*string, string) {
	if b == nil {
		return nil, ""
	}
	if utf8.Valid(b) {
		s := string(b)
		return &s, ""
	}
	return nil, base64.StdEncoding.EncodeToString(b)
}

// bound is a --from/--to value: an offset, or a time.
type bound struct {
	set    bool
	offset *int64
	time   time.Time
}

func parseBound(name, v string) (bound, error) {
	if v == "" {
		return bound{}, nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		return bound{set: true, offset: &n}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, v)
	if err != nil {
		return bound{}, fmt.Errorf("--%s: %q is neither an offset nor an RFC 3339 time", name, v)
	}
	return bound{set: true, time: t}, nil
}

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var s storageFlags
	var topic, fromArg, toArg, object, znode, snapshot, path, into string
	var partition int
	fs := newFlagSet("export", "Writes a backed-up topic's records as JSON lines, in offset order per partition: topic, partition,\noffset, timestamp, timestampType, key, value, headers. Bytes that are not UTF-8 go into\nkeyBase64 / valueBase64 instead; null stays null. With --object, writes one object of a\nKubernetes resource backup's snapshot as YAML instead; with --znode, a subtree of a ZooKeeper\nbackup's snapshot as JSON lines (path, type, data or dataBase64, acl, stat); with --path and\n--into, a file or subtree of a volume snapshot into a local directory.", stderr)
	s.register(fs, "the backup to read (required), as inspect lists it")
	fs.StringVar(&topic, "topic", "", "topic to export (required)")
	fs.IntVar(&partition, "partition", -1, "only this partition; -1 for all")
	fs.StringVar(&fromArg, "from", "", "first record: an offset, or an RFC 3339 time (inclusive)")
	fs.StringVar(&toArg, "to", "", "last record: an offset, or an RFC 3339 time (inclusive)")
	fs.StringVar(&object, "object", "", "resource backups: the object to write as YAML, KIND/NAMESPACE/NAME or KIND/NAME (cluster-scoped)")
	fs.StringVar(&znode, "znode", "", "ZooKeeper backups: the root of the subtree to write as JSON lines (/ for the whole tree)")
	fs.StringVar(&snapshot, "snapshot", "", "resource, ZooKeeper and volume backups: the snapshot to read (default: the newest)")
	fs.StringVar(&path, "path", "", "volume backups: the file or subtree to extract, from / (the volume's root)")
	fs.StringVar(&into, "into", "", "volume backups: the local directory to extract into (created if missing)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	if object != "" {
		if s.backup == "" {
			return errors.New("--backup: the resource backup is required")
		}
		store, key, err := s.open(ctx)
		if err != nil {
			return err
		}
		defer store.Close()
		m, err := resourceManifest(ctx, store, s.backup)
		if err != nil {
			return err
		}
		if m == nil {
			return fmt.Errorf("--backup: no resource backup %q in %s", s.backup, s.url)
		}
		return exportResource(ctx, stdout, store, key, m, snapshot, object)
	}
	if path != "" || into != "" {
		if s.backup == "" || path == "" || into == "" {
			return errors.New("--backup, --path and --into are required to extract from a volume backup")
		}
		store, key, err := s.open(ctx)
		if err != nil {
			return err
		}
		defer store.Close()
		return exportVolume(ctx, stdout, store, key, s.backup, snapshot, path, into)
	}
	if znode != "" {
		if s.backup == "" {
			return errors.New("--backup: the ZooKeeper backup is required")
		}
		store, key, err := s.open(ctx)
		if err != nil {
			return err
		}
		defer store.Close()
		m, err := zookeeperManifest(ctx, store, s.backup)
		if err != nil {
			return err
		}
		if m == nil {
			return fmt.Errorf("--backup: no ZooKeeper backup %q in %s", s.backup, s.url)
		}
		return exportZooKeeper(ctx, stdout, store, key, m, snapshot, znode)
	}
	if s.backup == "" || topic == "" {
		return errors.New("--backup and --topic are required (or --backup and --object for a resource backup, --backup and --znode for a ZooKeeper backup)")
	}
	from, err := parseBound("from", fromArg)
	if err != nil {
		return err
	}
	to, err := parseBound("to", toArg)
	if err != nil {
		return err
	}
	store, key, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer store.Close()
	m, err := manifestView(ctx, store, s.backup, catalog.Filter{
		Partition: func(t string, p int32) bool { return t == topic && (partition < 0 || p == int32(partition)) },
		Overlaps: func(seg archive.SegmentRef) bool {
			return (from.offset == nil || seg.LastOffset >= *from.offset) && (to.offset == nil || seg.FirstOffset <= *to.offset) &&
				(from.time.IsZero() || seg.MaxTimestamp >= from.time.UnixMilli()) && (to.time.IsZero() || seg.MinTimestamp <= to.time.UnixMilli())
		},
	})
	if err != nil {
		return err
	}
	var t *archive.Topic
	for i := range m.Topics {
		if m.Topics[i].Name == topic {
			t = &m.Topics[i]
		}
	}
	if t == nil {
		return fmt.Errorf("--topic: %q is not in backup %s", topic, s.backup)
	}
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	found := false
	for _, p := range t.Data {
		if partition >= 0 && p.Partition != int32(partition) {
			continue
		}
		found = true
		err := backups.Partition(ctx, store, p, key, func(r *archive.Record) error {
			if (from.offset != nil && r.Offset < *from.offset) || (to.offset != nil && r.Offset > *to.offset) ||
				(!from.time.IsZero() && r.Timestamp < from.time.UnixMilli()) || (!to.time.IsZero() && r.Timestamp > to.time.UnixMilli()) {
				return nil
			}
			out := exportRecord{Topic: topic, Partition: p.Partition, Offset: r.Offset, Timestamp: r.Timestamp, TimestampType: r.TimestampType.String()}
			out.Key, out.KeyBase64 = textOrBase64(r.Key)
			out.Value, out.ValueBase64 = textOrBase64(r.Value)
			for _, h := range r.Headers {
				eh := exportHeader{Key: h.Key}
				eh.Value, eh.ValueBase64 = textOrBase64(h.Value)
				out.Headers = append(out.Headers, eh)
			}
			return enc.Encode(&out)
		})
		if err != nil {
			return err
		}
	}
	if !found {
		return fmt.Errorf("--partition: topic %s has no partition %d in backup %s", topic, partition, s.backup)
	}
	return nil
}
