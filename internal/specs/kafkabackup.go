package specs

import (
	"cmp"
	"encoding/json"
	"fmt"
	"path"
	"time"

	"github.com/robfig/cron/v3"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Defaults of KafkaBackup fields, the same as the CRD's.
const (
	DefaultMaxSegmentBytes    = 64 << 20
	DefaultMaxSegmentInterval = 5 * time.Minute
	DefaultDiscoveryInterval  = time.Minute
	DefaultGroupsInterval     = time.Minute
)

// Namespace is a resource's namespace, "default" when a file for `arkive run` names none.
func Namespace(ns string) string { return cmp.Or(ns, "default") }

// retention converts and checks spec.retention (unset: keep everything).
func retention(r *arkivev1.Retention) (keepLast int, maxAge time.Duration, err error) {
	if r == nil {
		return 0, 0, nil
	}
	if r.KeepLast != nil {
		if *r.KeepLast < 1 {
			return 0, 0, fmt.Errorf("spec.retention.keepLast: %d is below 1", *r.KeepLast)
		}
		keepLast = int(*r.KeepLast)
	}
	if r.MaxAge != nil {
		if r.MaxAge.Duration <= 0 {
			return 0, 0, fmt.Errorf("spec.retention.maxAge: %s is not positive", r.MaxAge.Duration)
		}
		maxAge = r.MaxAge.Duration
	}
	return keepLast, maxAge, nil
}

// named is a reference a spec field holds and the name of the resource handed in for it.
type named struct{ field, kind, want, got string }

// sameRefs checks that every resource handed in is the one its field names.
func sameRefs(refs ...named) error {
	for _, r := range refs {
		if r.want != r.got {
			return fmt.Errorf("%s: %s %q is not the one given (%q)", r.field, r.kind, r.want, r.got)
		}
	}
	return nil
}

// specsJSON is how the referenced specs travel in a workflow input: as JSON, holding Secret
// references only.
func specsJSON(a, b any) (json.RawMessage, json.RawMessage, error) {
	aj, err := json.Marshal(a)
	if err != nil {
		return nil, nil, err
	}
	bj, err := json.Marshal(b)
	return aj, bj, err
}

// BackupName is the name a backup has in storage: <namespace>/<name>.
func BackupName(namespace, name string) string { return namespace + "/" + name }

// KafkaBackupInput builds the workflow input for a KafkaBackup from it and the KafkaCluster
// and Storage it names. Specs travel as JSON with Secret references only.
func KafkaBackupInput(kb *arkivev1.KafkaBackup, kc *arkivev1.KafkaCluster, st *arkivev1.Storage) (kafkabackup.Input, error) {
	ns := Namespace(kb.Namespace)
	if err := sameRefs(named{"spec.source", "KafkaCluster", kb.Spec.Source, kc.Name}, named{"spec.sink", "Storage", kb.Spec.Sink, st.Name}); err != nil {
		return kafkabackup.Input{}, err
	}
	if err := NoStorageClaim(st); err != nil {
		return kafkabackup.Input{}, err
	}
	spec, err := KafkaBackupSpec(kb.Spec)
	if err != nil {
		return kafkabackup.Input{}, err
	}
	kj, sj, err := specsJSON(kc.Spec, st.Spec)
	if err != nil {
		return kafkabackup.Input{}, err
	}
	return kafkabackup.Input{Connection: kafkabackup.Connection{Namespace: ns, Backup: BackupName(ns, kb.Name), Kafka: kj, Storage: sj}, Spec: spec}, nil
}

// KafkaBackupSpec converts and validates a KafkaBackup spec, applying the CRD defaults.
func KafkaBackupSpec(s arkivev1.KafkaBackupSpec) (kafkabackup.Spec, error) {
	out := kafkabackup.Spec{
		Enabled:             s.Enabled == nil || *s.Enabled,
		Exclude:             s.ExcludeTopics,
		Mode:                string(s.Mode),
		Schedule:            s.Schedule,
		StartFromLatest:     s.StartFrom == arkivev1.StartLatest,
		Compression:         kafkabackup.Compression{Codec: "zstd"},
		MaxSegmentBytes:     DefaultMaxSegmentBytes,
		MaxSegmentInterval:  DefaultMaxSegmentInterval,
		DiscoveryInterval:   DefaultDiscoveryInterval,
		CaptureTopicConfigs: s.CaptureTopicConfigs == nil || *s.CaptureTopicConfigs,
		// Group offsets are what a restore needs to move consumers: captured unless turned off
		// (listing groups means capturing them).
		CaptureGroups:  s.ConsumerGroups == nil || s.ConsumerGroups.Enabled == nil || *s.ConsumerGroups.Enabled,
		GroupsInterval: DefaultGroupsInterval,
	}
	var err error
	if out.RateLimit, err = rateLimit(s.RateLimit); err != nil {
		return out, err
	}
	if g := s.ConsumerGroups; g != nil {
		for i, p := range g.Groups {
			if _, err := path.Match(p, ""); err != nil || p == "" {
				return out, fmt.Errorf("spec.consumerGroups.groups[%d]: %q is not a valid name or glob", i, p)
			}
		}
		out.Groups = g.Groups
		if g.Interval != nil {
			if g.Interval.Duration <= 0 {
				return out, fmt.Errorf("spec.consumerGroups.interval: %s is not positive", g.Interval.Duration)
			}
			out.GroupsInterval = g.Interval.Duration
		}
	}
	if out.Mode == "" {
		out.Mode = kafkabackup.ModeContinuous
	}
	for i, st := range s.Streams {
		if st.Topic == "" {
			return out, fmt.Errorf("spec.streams[%d].topic: must not be empty", i)
		}
		out.Streams = append(out.Streams, kafkabackup.Stream{Topic: st.Topic, Enabled: st.Enabled == nil || *st.Enabled})
	}
	switch out.Mode {
	case kafkabackup.ModeContinuous:
		if s.Schedule != "" {
			return out, fmt.Errorf("spec.schedule: not allowed when mode is Continuous")
		}
	case kafkabackup.ModeScheduled:
		if _, err := cron.ParseStandard(s.Schedule); err != nil {
			return out, fmt.Errorf("spec.schedule: %q is not a valid cron expression: %v", s.Schedule, err)
		}
	case kafkabackup.ModeOnce:
		if s.Schedule != "" {
			return out, fmt.Errorf("spec.schedule: not allowed when mode is Once")
		}
	default:
		return out, fmt.Errorf("spec.mode: %q is not Continuous, Scheduled or Once", s.Mode)
	}
	if c := s.Compression; c != nil {
		if c.Codec != "" {
			out.Compression.Codec = string(c.Codec)
		}
		if c.Level != nil {
			out.Compression.Level = int(*c.Level)
		}
	}
	codec, err := archive.ParseCodec(out.Compression.Codec)
	if err != nil {
		return out, fmt.Errorf("spec.compression.codec: %v", err)
	}
	if err := (archive.Compression{Codec: codec, Level: out.Compression.Level}).Validate(); err != nil {
		return out, fmt.Errorf("spec.compression.level: %v", err)
	}
	if s.MaxSegmentBytes != nil {
		if *s.MaxSegmentBytes < 1024 {
			return out, fmt.Errorf("spec.maxSegmentBytes: %d is below 1024", *s.MaxSegmentBytes)
		}
		out.MaxSegmentBytes = *s.MaxSegmentBytes
	}
	out.Compaction = kafkabackup.Compaction{Enabled: true, MinSegmentBytes: out.MaxSegmentBytes / 8}
	if c := s.Compaction; c != nil {
		out.Compaction.Enabled = c.Enabled == nil || *c.Enabled
		if c.MinSegmentBytes != nil {
			if *c.MinSegmentBytes < 1 || *c.MinSegmentBytes > out.MaxSegmentBytes {
				return out, fmt.Errorf("spec.compaction.minSegmentBytes: %d is not between 1 and maxSegmentBytes (%d)", *c.MinSegmentBytes, out.MaxSegmentBytes)
			}
			out.Compaction.MinSegmentBytes = *c.MinSegmentBytes
		}
	}
	if !out.Compaction.Enabled {
		out.Compaction = kafkabackup.Compaction{}
	}
	if s.MaxSegmentInterval != nil {
		if s.MaxSegmentInterval.Duration < time.Second {
			return out, fmt.Errorf("spec.maxSegmentInterval: %s is below 1s", s.MaxSegmentInterval.Duration)
		}
		out.MaxSegmentInterval = s.MaxSegmentInterval.Duration
	}
	if out.KeepLast, out.MaxAge, err = retention(s.Retention); err != nil {
		return out, err
	}
	if out.KeepLast > 0 && out.Mode == kafkabackup.ModeContinuous {
		return out, fmt.Errorf("spec.retention.keepLast: keeps the last runs of a Scheduled or Once backup; a Continuous backup has no runs: use retention.maxAge")
	}
	if s.DiscoveryInterval != nil {
		if s.DiscoveryInterval.Duration < time.Second {
			return out, fmt.Errorf("spec.discoveryInterval: %s is below 1s", s.DiscoveryInterval.Duration)
		}
		out.DiscoveryInterval = s.DiscoveryInterval.Duration
	}
	return out, nil
}

// rateLimit converts spec.rateLimit (absent fields: no limit).
func rateLimit(rl *arkivev1.RateLimit) (kafkabackup.RateLimit, error) {
	var out kafkabackup.RateLimit
	if rl == nil {
		return out, nil
	}
	if rl.BytesPerSecond != nil {
		out.BytesPerSecond = *rl.BytesPerSecond
	}
	if rl.RecordsPerSecond != nil {
		out.RecordsPerSecond = *rl.RecordsPerSecond
	}
	if out.BytesPerSecond < 0 || out.RecordsPerSecond < 0 {
		return out, fmt.Errorf("spec.rateLimit: limits must not be negative")
	}
	return out, nil
}
