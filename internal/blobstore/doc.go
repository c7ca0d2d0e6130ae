// Package blobstore opens the object storage a Storage resource describes (S3, GCS, Azure Blob,
// a volume, or memory) as a gocloud.dev bucket, and owns every object key through Layout.
package blobstore
