// Package schemaregistry holds the activities that read and write a Confluent-compatible
// Schema Registry over its documented REST API: snapshots for backups, plan and import for
// restores, and the connectivity check.
package schemaregistry
