package kafka

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows/kafkarestore"
)

// spec.topics selects the backup's topics: names under their targets in the spec's order,
// then what patterns match that no name took, under their own names, each topic once; every
// target takes one source, and a name or a pattern that selects nothing is an error that
// names its entry.
func TestRestoredTopicsExpandNamesAndPatterns(t *testing.T) {
	topics := []archive.Topic{{Name: "audit"}, {Name: "orders-eu"}, {Name: "orders-us"}, {Name: "orders-us-dlq"}, {Name: "payments"}}
	selected := func(spec ...kafkarestore.TopicMapping) []string {
		t.Helper()
		got, err := restoredTopics(topics, spec, "kafka/prod")
		require.NoError(t, err)
		var out []string
		for _, r := range got {
			out = append(out, topics[r.topic].Name+"→"+r.target)
		}
		return out
	}
	require.Equal(t, []string{"audit→audit", "orders-eu→orders-eu", "orders-us→orders-us", "orders-us-dlq→orders-us-dlq", "payments→payments"},
		selected(), "no topics: every topic")
	require.Equal(t, []string{"orders-eu→orders-eu", "orders-us→orders-us", "orders-us-dlq→orders-us-dlq"},
		selected(kafkarestore.TopicMapping{Source: "orders-*"}))
	require.Equal(t, []string{"payments→payments-old", "orders-us→orders-west", "orders-eu→orders-eu", "orders-us-dlq→orders-us-dlq", "audit→audit"},
		selected(kafkarestore.TopicMapping{Source: "payments", Target: "payments-old"}, kafkarestore.TopicMapping{Source: "orders-*"},
			kafkarestore.TopicMapping{Source: "orders-us", Target: "orders-west"}, kafkarestore.TopicMapping{Source: "orders-??-*"},
			kafkarestore.TopicMapping{Source: "[a]udit"}),
		"names first with their targets; a topic matched twice or named is restored once")

	for _, tc := range []struct {
		spec          []kafkarestore.TopicMapping
		kind, message string
	}{
		{[]kafkarestore.TopicMapping{{Source: "audit"}, {Source: "invoices-*"}},
			kafkarestore.ErrBackupNotFound, `spec.topics[1].source: pattern "invoices-*" matches no topic in backup "kafka/prod"`},
		{[]kafkarestore.TopicMapping{{Source: "invoices"}},
			kafkarestore.ErrBackupNotFound, `spec.topics[0].source: topic "invoices" is not in backup "kafka/prod"`},
		{[]kafkarestore.TopicMapping{{Source: "orders-*"}, {Source: "payments", Target: "orders-eu"}},
			kafkarestore.ErrInvalidSpec, `spec.topics[0].source: pattern "orders-*" restores orders-eu under its own name, which is also the target of payments`},
		{[]kafkarestore.TopicMapping{{Source: "audit", Target: "x"}, {Source: "payments", Target: "x"}},
			kafkarestore.ErrInvalidSpec, "spec.topics[1].target: x is also the target of audit"},
	} {
		_, err := restoredTopics(topics, tc.spec, "kafka/prod")
		requirePermanent(t, err, tc.kind, tc.message)
	}
}

// spec.consumerGroups selects groups by name or pattern: each group's offsets on the restored
// topics only, each group once, in the order of the entries and then of the snapshot; a group
// whose name holds a pattern's characters is taken by its name; an entry that selects no
// offsets is a warning.
func TestSelectGroupsByNameAndPattern(t *testing.T) {
	at := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	o := func(group, topic string, p int32, offset int64) archive.GroupOffset {
		return archive.GroupOffset{Group: group, Topic: topic, Partition: p, Offset: offset}
	}
	m := &archive.Manifest{GroupOffsets: []archive.GroupOffsetsSnapshot{{Time: at, Groups: []archive.GroupOffset{
		o("billing", "orders", 0, 5), o("etl-us", "orders", 1, 9), o("billing", "audit", 0, 3), o("audit-reader", "audit", 0, 4),
		o("etl-eu", "orders", 0, 8), o("billing", "orders", 1, 7), o("etl-[old]", "orders", 1, 2),
	}}}}
	topics := []kafkarestore.PlannedTopic{{Source: "orders", Target: "orders-restored"}}
	got, warnings := selectGroups(m, kafkarestore.Spec{ConsumerGroups: []string{"billing", "etl-e*", "etl-*", "etl-eu", "missing", "audit-reader", "etl-[old]"}}, topics)
	require.Equal(t, []archive.GroupOffset{
		o("billing", "orders", 0, 5), o("billing", "orders", 1, 7),
		o("etl-eu", "orders", 0, 8),
		o("etl-us", "orders", 1, 9), o("etl-[old]", "orders", 1, 2),
	}, got)
	require.Equal(t, []string{
		"consumer group missing has no offsets on the restored topics in the backup (snapshot of 2026-12-01T00:00:00Z)",
		"consumer group audit-reader has no offsets on the restored topics in the backup (snapshot of 2026-12-01T00:00:00Z)",
	}, warnings)

	got, warnings = selectGroups(m, kafkarestore.Spec{ConsumerGroups: []string{"etl-[old]", "audit-*"}}, topics)
	require.Equal(t, []archive.GroupOffset{o("etl-[old]", "orders", 1, 2)}, got, "a group named like a pattern is taken by its name")
	require.Len(t, warnings, 1)
	require.Contains(t, warnings[0], "consumer group audit-* has no offsets on the restored topics")
}
