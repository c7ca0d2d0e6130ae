// Package check is the connectivity check of connection resources (Storage, KafkaCluster, SchemaRegistry): a
// short workflow whose activity runs on a worker, because only workers have the network paths
// and mounted volumes the backups will use.
package check
