// Package kafkabackup decides what a KafkaBackup captures and when. types.go holds the plain
// types shared with the activities that move the bytes (activities/kafka).
package kafkabackup
