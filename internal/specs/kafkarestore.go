package specs

import (
	"fmt"
	"path"
	"slices"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows/kafkarestore"
)

// KafkaRestoreInput builds the workflow input for a KafkaRestore from it, the target
// KafkaCluster and the source Storage. Specs travel as JSON with Secret references only.
func KafkaRestoreInput(kr *arkivev1.KafkaRestore, kc *arkivev1.KafkaCluster, st *arkivev1.Storage) (kafkarestore.RunInput, error) {
	ns := Namespace(kr.Namespace)
	if err := sameRefs(named{"spec.target", "KafkaCluster", kr.Spec.Target, kc.Name}, named{"spec.source.storage", "Storage", kr.Spec.Source.Storage, st.Name}); err != nil {
		return kafkarestore.RunInput{}, err
	}
	if err := NoStorageClaim(st); err != nil {
		return kafkarestore.RunInput{}, err
	}
	spec, err := KafkaRestoreSpec(kr.Spec)
	if err != nil {
		return kafkarestore.RunInput{}, err
	}
	kj, sj, err := specsJSON(kc.Spec, st.Spec)
	if err != nil {
		return kafkarestore.RunInput{}, err
	}
	return kafkarestore.RunInput{Input: kafkarestore.Input{
		Connection: kafkarestore.Connection{Namespace: ns, Backup: kr.Spec.Source.Backup, Kafka: kj, Storage: sj}, Spec: spec}}, nil
}

// KafkaRestoreSpec converts and validates a KafkaRestore spec, applying the CRD defaults.
func KafkaRestoreSpec(s arkivev1.KafkaRestoreSpec) (kafkarestore.Spec, error) {
	out := kafkarestore.Spec{
		RunID:            s.Source.RunID,
		PartitionMapping: string(s.PartitionMapping),
		CreateTopics:     s.CreateTopics == nil || *s.CreateTopics,
		OriginHeaders:    s.OriginHeaders,
		ConsumerGroups:   slices.Clone(s.ConsumerGroups),
		AllowNonEmpty:    s.AllowNonEmpty,
		DryRun:           s.DryRun,
		OnDamage:         string(s.OnDamage),
	}
	if s.Source.Backup == "" {
		return out, fmt.Errorf("spec.source.backup: must not be empty")
	}
	if out.PartitionMapping == "" {
		out.PartitionMapping = kafkarestore.MappingSame
	}
	switch out.PartitionMapping {
	case kafkarestore.MappingSame, kafkarestore.MappingKeyHash, kafkarestore.MappingRoundRobin:
	default:
		return out, fmt.Errorf("spec.partitionMapping: %q is not Same, KeyHash or RoundRobin", s.PartitionMapping)
	}
	if len(s.ConsumerGroups) > 0 && out.PartitionMapping != kafkarestore.MappingSame {
		return out, fmt.Errorf("spec.consumerGroups: offsets can only be translated with partitionMapping Same, not %s", out.PartitionMapping)
	}
	targets := map[string]bool{}
	for i, t := range s.Topics {
		if t.Source == "" {
			return out, fmt.Errorf("spec.topics[%d].source: must not be empty", i)
		}
		m := kafkarestore.TopicMapping{Source: t.Source, Target: t.Target}
		if m.IsPattern() {
			if _, err := path.Match(t.Source, ""); err != nil {
				return out, fmt.Errorf("spec.topics[%d].source: pattern %q: %v", i, t.Source, err)
			}
			if t.Target != "" {
				return out, fmt.Errorf("spec.topics[%d].target: source %q is a pattern, which restores each topic it matches under its own name; name the topics one by one to rename them", i, t.Source)
			}
			out.Topics = append(out.Topics, m)
			continue // its targets are known once the plan has read the backup
		}
		target := t.Target
		if target == "" {
			target = t.Source
		}
		if targets[target] {
			return out, fmt.Errorf("spec.topics[%d].target: %s is the target of another topic too", i, target)
		}
		targets[target] = true
		out.Topics = append(out.Topics, m)
	}
	if w := s.Window; w != nil {
		if w.FromTime != nil {
			out.Window.FromTime = w.FromTime.Time
		}
		if w.ToTime != nil {
			out.Window.ToTime = w.ToTime.Time
		}
		if !out.Window.FromTime.IsZero() && !out.Window.ToTime.IsZero() && out.Window.FromTime.After(out.Window.ToTime) {
			return out, fmt.Errorf("spec.window.fromTime: %s is after toTime %s", out.Window.FromTime, out.Window.ToTime)
		}
		out.Window.FromOffset, out.Window.ToOffset = w.FromOffset, w.ToOffset
		if w.FromOffset != nil && w.ToOffset != nil && *w.FromOffset > *w.ToOffset {
			return out, fmt.Errorf("spec.window.fromOffset: %d is greater than toOffset %d", *w.FromOffset, *w.ToOffset)
		}
	}
	var err error
	if out.RateLimit, err = rateLimit(s.RateLimit); err != nil {
		return out, err
	}
	if n := s.MaxInFlightBytes; n != nil {
		if *n < 1<<20 {
			return out, fmt.Errorf("spec.maxInFlightBytes: %d is below 1 MiB (1048576)", *n)
		}
		out.MaxInFlightBytes = *n
	}
	slices.Sort(out.ConsumerGroups)
	return out, nil
}

// KafkaRestoreSchemas builds the schema id remapping of a KafkaRestore (nil when
// spec.schemaRegistry is not set) from the target SchemaRegistry and the Storage of the
// snapshot it names.
func KafkaRestoreSchemas(kr *arkivev1.KafkaRestore, sr *arkivev1.SchemaRegistry, st *arkivev1.Storage) (*kafkarestore.SchemaRemap, error) {
	s := kr.Spec.SchemaRegistry
	if s == nil {
		return nil, nil
	}
	if err := sameRefs(named{"spec.schemaRegistry.target", "SchemaRegistry", s.Target, sr.Name},
		named{"spec.schemaRegistry.source.storage", "Storage", s.Source.Storage, st.Name}); err != nil {
		return nil, err
	}
	if s.Source.Backup == "" {
		return nil, fmt.Errorf("spec.schemaRegistry.source.backup: must not be empty")
	}
	out := &kafkarestore.SchemaRemap{Snapshot: s.Source.Snapshot}
	parts := s.Parts
	if len(parts) == 0 {
		parts = []arkivev1.RecordPart{arkivev1.RecordValue}
	}
	for i, p := range parts {
		switch p {
		case arkivev1.RecordKey:
			out.Keys = true
		case arkivev1.RecordValue:
			out.Values = true
		default:
			return nil, fmt.Errorf("spec.schemaRegistry.parts[%d]: %q is not Key or Value", i, p)
		}
	}
	switch s.UnknownSchemaIDs {
	case "", arkivev1.UnknownSchemaIDsFail:
	case arkivev1.UnknownSchemaIDsKeep:
		out.KeepUnknown = true
	default:
		return nil, fmt.Errorf("spec.schemaRegistry.unknownSchemaIds: %q is not Fail or Keep", s.UnknownSchemaIDs)
	}
	var err error
	out.RegistryConnection, err = schemaConnection(Namespace(kr.Namespace), s.Source.Backup, sr, st)
	return out, err
}
