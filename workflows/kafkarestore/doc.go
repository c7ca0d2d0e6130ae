// Package kafkarestore decides what a KafkaRestore writes and in which order: plan, preflight,
// restore, consumer-group offsets. types.go holds the plain types shared with the activities
// that move the bytes (activities/kafka).
package kafkarestore
