// Package schemabackup decides when a SchemaRegistryBackup snapshots its registry and which
// snapshots it keeps. types.go holds the plain types shared with the activities that read the
// registry and write storage (activities/schemaregistry).
package schemabackup
