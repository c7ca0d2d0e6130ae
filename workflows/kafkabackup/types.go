// Package kafkabackup decides what a KafkaBackup captures and when. This file holds the plain
// types shared with the activities that move the bytes (activities/kafka).
package kafkabackup

import (
	"encoding/json"
	"time"

	"arkive.io/arkive/internal/archive"
)

// Registered activity names: part of the contract with running histories, never rename.
const (
	ActivityCapture = "arkive.kafka.Capture"
)

// Error types of non-retryable failures, shown in the resource's status.
const (
	ErrInvalidSpec         = "InvalidSpec"
	ErrTopicNotFound       = "TopicNotFound"
	ErrAuthentication      = "AuthenticationFailed"
	ErrStorageAccessDenied = "StorageAccessDenied"
)

// Compression is the segment codec and level (level 0: the codec's default).
type Compression struct {
	Codec string `json:"codec"`
	Level int    `json:"level,omitempty"`
}

// CaptureInput asks an activity to stream one partition into segments. Kafka and Storage are
// the resources' specs as JSON: Secret references, never Secret values.
type CaptureInput struct {
	Namespace string          `json:"namespace"`
	Backup    string          `json:"backup"`
	Kafka     json.RawMessage `json:"kafka"`
	Storage   json.RawMessage `json:"storage"`
	Topic     string          `json:"topic"`
	Partition int32           `json:"partition"`
	// From is the first offset to capture; a log start offset past it is recorded as a
	// Retention gap.
	From int64 `json:"from"`
	// Until, when ≥ 0, ends the capture once every offset below it is covered (scheduled runs
	// capture up to the high watermark read at their start). -1 captures until MaxRunTime.
	Until              int64         `json:"until"`
	Compression        Compression   `json:"compression"`
	MaxSegmentBytes    int64         `json:"maxSegmentBytes"`
	MaxSegmentInterval time.Duration `json:"maxSegmentInterval"`
	// MaxRunTime bounds one activity, so the workflow commits what was written at a steady
	// pace and the work can move between workers.
	MaxRunTime time.Duration `json:"maxRunTime"`
}

// CaptureProgress is what the activity heartbeats after every uploaded segment; a retried
// attempt resumes from it instead of capturing those offsets again.
type CaptureProgress struct {
	Start    int64                `json:"start"`
	Next     int64                `json:"next"`
	Segments []archive.SegmentRef `json:"segments,omitempty"`
	Gaps     []archive.Gap        `json:"gaps,omitempty"`
}

// CaptureResult lists the segments written, in offset order. They are not part of the backup
// until a manifest names them.
type CaptureResult struct {
	CaptureProgress
	Topic         string `json:"topic"`
	Partition     int32  `json:"partition"`
	HighWatermark int64  `json:"highWatermark"`
	// Done is true when Until was reached.
	Done    bool  `json:"done"`
	Records int64 `json:"records"`
	Bytes   int64 `json:"bytes"`
}
