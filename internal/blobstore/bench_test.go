package blobstore_test

import (
	"context"
	"fmt"
	"os"
	"testing"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
)

// BenchmarkVolumeAdopt makes a spooled 64 KiB segment an object on volume storage (on the
// disk TMPDIR names), as a capture does for every segment it ends: at 2,000 partitions that
// is thousands of adoptions per GiB, each a handful of system calls and fsyncs.
func BenchmarkVolumeAdopt(b *testing.B) {
	ctx := context.Background()
	store, err := blobstore.Open(ctx, arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: b.TempDir()}}, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	spool, err := store.SpoolDir()
	if err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64<<10)
	b.ResetTimer()
	for i := range b.N {
		f, err := os.CreateTemp(spool, "seg-*")
		if err != nil {
			b.Fatal(err)
		}
		if _, err := f.Write(data); err != nil {
			b.Fatal(err)
		}
		if _, err := store.Adopt(ctx, f, fmt.Sprintf("kafka/x/topics/t/%d/%d.seg", i%2000, i)); err != nil {
			b.Fatal(err)
		}
		_ = f.Close()
	}
}
