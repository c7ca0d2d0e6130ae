package specs

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows/kafkabackup"
)

// Outside a cluster nobody applies the CRD defaults: these must be the CRD's values
// (api/v1alpha1/kafkabackup_types.go, checked on a real API server in validation_test.go).
func TestKafkaBackupSpecAppliesCRDDefaults(t *testing.T) {
	off := false
	got, err := KafkaBackupSpec(arkivev1.KafkaBackupSpec{Source: "k", Sink: "s",
		Streams: []arkivev1.BackupStream{{Topic: "a.*"}, {Topic: "b", Enabled: &off}}})
	require.NoError(t, err)
	require.Equal(t, kafkabackup.Spec{Enabled: true, Mode: kafkabackup.ModeContinuous,
		Streams:     []kafkabackup.Stream{{Topic: "a.*", Enabled: true}, {Topic: "b", Enabled: false}},
		Compression: kafkabackup.Compression{Codec: "zstd"}, MaxSegmentBytes: 64 << 20, MaxSegmentInterval: 5 * time.Minute,
		Compaction:        kafkabackup.Compaction{Enabled: true, MinSegmentBytes: 8 << 20}, // on, small below an eighth
		DiscoveryInterval: time.Minute, CaptureTopicConfigs: true, CaptureGroups: true, GroupsInterval: time.Minute}, got)

	// Compaction: off when asked, its threshold within maxSegmentBytes.
	got, err = KafkaBackupSpec(arkivev1.KafkaBackupSpec{Compaction: &arkivev1.SegmentCompaction{Enabled: &off}})
	require.NoError(t, err)
	require.Equal(t, kafkabackup.Compaction{}, got.Compaction)
	mib := int64(1 << 20)
	got, err = KafkaBackupSpec(arkivev1.KafkaBackupSpec{Compaction: &arkivev1.SegmentCompaction{MinSegmentBytes: &mib}})
	require.NoError(t, err)
	require.Equal(t, kafkabackup.Compaction{Enabled: true, MinSegmentBytes: 1 << 20}, got.Compaction)

	// Issue 22, point 2: listing groups means capturing them; only enabled: false turns it off.
	got, err = KafkaBackupSpec(arkivev1.KafkaBackupSpec{ConsumerGroups: &arkivev1.ConsumerGroupCapture{Groups: []string{"billing-*"}}})
	require.NoError(t, err)
	require.True(t, got.CaptureGroups, "a consumerGroups block that lists groups captures them")
	require.Equal(t, []string{"billing-*"}, got.Groups)
	on, off := true, false
	got, err = KafkaBackupSpec(arkivev1.KafkaBackupSpec{ConsumerGroups: &arkivev1.ConsumerGroupCapture{Enabled: &on, Groups: []string{"billing-*"}}})
	require.NoError(t, err)
	require.True(t, got.CaptureGroups)
	require.Equal(t, []string{"billing-*"}, got.Groups)
	got, err = KafkaBackupSpec(arkivev1.KafkaBackupSpec{ConsumerGroups: &arkivev1.ConsumerGroupCapture{Enabled: &off, Groups: []string{"billing-*"}}})
	require.NoError(t, err)
	require.False(t, got.CaptureGroups, "enabled: false turns capture off")
	// Issue 22, point 1: the interval reaches the workflow.
	got, err = KafkaBackupSpec(arkivev1.KafkaBackupSpec{ConsumerGroups: &arkivev1.ConsumerGroupCapture{Interval: &metav1.Duration{Duration: 5 * time.Minute}}})
	require.NoError(t, err)
	require.Equal(t, 5*time.Minute, got.GroupsInterval)

	bps, rps := int64(1<<20), int64(500)
	got, err = KafkaBackupSpec(arkivev1.KafkaBackupSpec{RateLimit: &arkivev1.RateLimit{BytesPerSecond: &bps, RecordsPerSecond: &rps}})
	require.NoError(t, err)
	require.Equal(t, kafkabackup.RateLimit{BytesPerSecond: 1 << 20, RecordsPerSecond: 500}, got.RateLimit)
}

func TestKafkaBackupSpecRejectsWhatCELCannot(t *testing.T) {
	tests := map[string]struct {
		spec arkivev1.KafkaBackupSpec
		want string
	}{
		"minute 61":            {arkivev1.KafkaBackupSpec{Mode: arkivev1.ModeScheduled, Schedule: "61 * * * *"}, "spec.schedule"},
		"month 13":             {arkivev1.KafkaBackupSpec{Mode: arkivev1.ModeScheduled, Schedule: "0 0 1 13 *"}, "spec.schedule"},
		"short interval":       {arkivev1.KafkaBackupSpec{MaxSegmentInterval: &metav1.Duration{Duration: time.Millisecond}}, "spec.maxSegmentInterval"},
		"empty stream":         {arkivev1.KafkaBackupSpec{Streams: []arkivev1.BackupStream{{}}}, "spec.streams[0].topic"},
		"keepLast, continuous": {arkivev1.KafkaBackupSpec{Retention: &arkivev1.Retention{KeepLast: ptrInt32(3)}}, "spec.retention.keepLast"},
		"once with a schedule": {arkivev1.KafkaBackupSpec{Mode: arkivev1.ModeOnce, Schedule: "@daily"}, "spec.schedule: not allowed when mode is Once"},
		"unknown mode":         {arkivev1.KafkaBackupSpec{Mode: "Sometimes"}, `spec.mode: "Sometimes" is not Continuous, Scheduled or Once`},
		"bad group glob":       {arkivev1.KafkaBackupSpec{ConsumerGroups: &arkivev1.ConsumerGroupCapture{Groups: []string{"a["}}}, "spec.consumerGroups.groups[0]"},
		"compaction above max": {arkivev1.KafkaBackupSpec{Compaction: &arkivev1.SegmentCompaction{MinSegmentBytes: ptrInt64(128 << 20)}}, "spec.compaction.minSegmentBytes"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := KafkaBackupSpec(tc.spec)
			require.ErrorContains(t, err, tc.want)
		})
	}
}

// A Once backup keeps its last runs like a Scheduled one.
func TestKafkaBackupSpecOnceKeepsRuns(t *testing.T) {
	got, err := KafkaBackupSpec(arkivev1.KafkaBackupSpec{Mode: arkivev1.ModeOnce, Retention: &arkivev1.Retention{KeepLast: ptrInt32(2)}})
	require.NoError(t, err)
	require.Equal(t, kafkabackup.ModeOnce, got.Mode)
	require.Equal(t, 2, got.KeepLast)
}

func ptrInt32(v int32) *int32 { return &v }

func ptrInt64(v int64) *int64 { return &v }
