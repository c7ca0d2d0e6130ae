// Package kafka holds the activities that move bytes between Kafka and storage, and the one
// place a sarama client is configured from a KafkaCluster spec.
package kafka
