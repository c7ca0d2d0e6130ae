// Package backups reads what a backup holds, from an open store: the manifests of Kafka and
// Schema Registry backups and a partition's records. Activities, `arkive inspect`, `verify` and
// `export` all read through here, so the CLI needs no activity package and there is one reader
// of each manifest. Errors are plain (a *CorruptError for a manifest that does not parse); each
// caller classifies them as it must.
package backups
