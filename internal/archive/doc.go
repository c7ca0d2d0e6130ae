// Package archive is Arkive's on-storage format: segments (framed records with a header, a
// footer and CRC32C checksums, compressed per block and optionally encrypted with AES-256-GCM),
// Kafka and Schema Registry manifests, and the JSON documents they are written as. It imports
// nothing of Arkive's and nothing that touches a network: docs/format.md is its specification,
// and testdata/ holds fixtures every later reader must still read.
package archive
