package schemaregistry

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"golang.org/x/sync/errgroup"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows/schemabackup"
)

const benchSubjects, benchVersions = 10000, 3

// benchRegistry is a registry of 10,000 subjects × 3 versions, made once.
func benchRegistry(b *testing.B) (string, []string) {
	b.Helper()
	reg := registrytest.New()
	for i := range benchSubjects {
		for v := range benchVersions {
			if _, err := reg.Add(fmt.Sprintf("bench-%05d-value", i), "AVRO",
				fmt.Sprintf(`{"type":"record","name":"R%d","fields":[{"name":"f%d","type":"string"}]}`, i, v)); err != nil {
				b.Fatal(err)
			}
		}
	}
	base := reg.Start(b)
	// The GETs a backup sends, in the same order: the bare loop replays exactly these.
	paths := []string{"/config", "/mode", "/contexts", "/subjects?deleted=true"}
	for i := range benchSubjects {
		s := "/subjects/" + url.PathEscape(fmt.Sprintf("bench-%05d-value", i))
		paths = append(paths, s+"/versions?deleted=true", s+"/versions")
		for v := 1; v <= benchVersions; v++ {
			paths = append(paths, fmt.Sprintf("%s/versions/%d?deleted=true", s, v))
		}
		paths = append(paths, "/config/"+url.PathEscape(fmt.Sprintf("bench-%05d-value", i)), "/mode/"+url.PathEscape(fmt.Sprintf("bench-%05d-value", i)))
	}
	return base, paths
}

// bareGets sends the same GETs with the same concurrency and connection pool, reading each
// body and doing nothing else: what reading the registry costs at the least.
func bareGets(b *testing.B, base string, paths []string) time.Duration {
	hc := &http.Client{Transport: &http.Transport{MaxIdleConns: 2 * DefaultConcurrency, MaxIdleConnsPerHost: 2 * DefaultConcurrency}}
	defer hc.CloseIdleConnections()
	start := time.Now()
	g := errgroup.Group{}
	g.SetLimit(DefaultConcurrency)
	for _, p := range paths {
		g.Go(func() error {
			resp, err := hc.Get(base + p)
			if err != nil {
				return err
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			return resp.Body.Close()
		})
	}
	if err := g.Wait(); err != nil {
		b.Fatal(err)
	}
	return time.Since(start)
}

// BenchmarkSchemaBackupVsBareGets backs up 10,000 subjects × 3 versions through the Snapshot
// activity (read, hash, compress, write the object and manifest to a volume) and reports it
// against a bare loop of the same GET requests in the same run: x-bare-get = bare time /
// backup time (target ≥ 0.8).
func BenchmarkSchemaBackupVsBareGets(b *testing.B) {
	var once sync.Once
	var base string
	var paths []string
	once.Do(func() { base, paths = benchRegistry(b) })
	reg, _ := json.Marshal(arkivev1.SchemaRegistrySpec{URLs: []string{base}})
	st, _ := json.Marshal(arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: b.TempDir()}})
	a := &Activities{Secrets: func(string) secrets.Resolver { return secrets.Map{} }}
	bareGets(b, base, paths) // warm both sides' connections and the server
	var backup, bare time.Duration
	var requests int64
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		bare += bareGets(b, base, paths)
		start := time.Now()
		res, err := a.Snapshot(context.Background(), schemabackup.SnapshotInput{
			Connection: schemabackup.Connection{Namespace: "bench", Backup: fmt.Sprintf("bench/b%d", i), Registry: reg, Storage: st},
			ID:         fmt.Sprintf("s%d", i), Time: time.Now()})
		backup += time.Since(start)
		if err != nil || !res.Stored || res.Versions != benchSubjects*benchVersions {
			b.Fatalf("snapshot: %v %+v", err, res)
		}
		requests += int64(len(paths))
	}
	b.ReportMetric(bare.Seconds()/backup.Seconds(), "x-bare-get")
	b.ReportMetric(float64(requests)/backup.Seconds(), "req/s")
	b.ReportMetric(backup.Seconds()/float64(b.N), "s/backup")
}
