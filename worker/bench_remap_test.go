package worker_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkarestore"
	"arkive.io/arkive/workflows/schemabackup"
)

// remapBench is a backed-up topic of wire-format records (the order values of the restore
// benchmarks under one of remapSchemas ids), a snapshot of the registry that gave the ids, and
// a target registry whose ids for them differ.
var remapBench struct {
	once sync.Once
	err  error
	rc   restoreCase
	sr   workflows.RegistryConnection
}

const remapSchemas = 20

// postSchema registers a schema with plain HTTP and returns its id.
func postSchema(base, subject, schema string) (int, error) {
	body, _ := json.Marshal(map[string]string{"schema": schema})
	resp, err := http.Post(base+"/subjects/"+subject+"/versions", "application/vnd.schemaregistry.v1+json", bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var out struct {
		ID int `json:"id"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("register %s: %d %v", subject, resp.StatusCode, err)
	}
	return out.ID, nil
}

func setupRemapBench(b *testing.B) {
	rb := &remapBench
	rb.once.Do(func() {
		rc := &rb.rc
		rc.bootstrap = testenv.Kafka(b)
		if rc.c, rc.queue, rb.err = benchWorker(b); rb.err != nil {
			return
		}
		// Registries live as long as the process: the benchmark's runs share them.
		source, target := httptest.NewServer(registrytest.New()), httptest.NewServer(registrytest.New())
		var ids []int
		for i := range remapSchemas + 5 {
			if _, rb.err = postSchema(target.URL, fmt.Sprintf("other-%d-value", i), avro(fmt.Sprintf("Other%d", i), i)); rb.err != nil {
				return
			}
		}
		for i := range remapSchemas {
			id, err := postSchema(source.URL, fmt.Sprintf("orders-%d-value", i), avro(fmt.Sprintf("Order%d", i), i))
			if rb.err = err; err != nil {
				return
			}
			ids = append(ids, id)
		}
		rc.source = datasetTopic(b, "bench-remap", benchPartitions)
		rc.records = int64(benchRecords() / 3)
		if rb.err = produceOrders(rc.bootstrap, rc.source, int(rc.records), func(i int, v []byte) []byte { return wire(ids[i%len(ids)], v) }); rb.err != nil {
			return
		}
		dir, err := os.MkdirTemp("", "arkive-bench-remap-")
		if rb.err = err; err != nil {
			return
		}
		benchDirs = append(benchDirs, dir)
		rc.storage = arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: dir}}
		rc.backup = "default/bench-remap"
		if rb.err = benchBackup(b, rc.c, rc.queue, rc.bootstrap, rc.storage, rc.backup, rc.source); rb.err != nil {
			return
		}
		rb.sr = workflows.RegistryConnection{Namespace: "default", Backup: "default/bench-remap-sr",
			Registry: specJSONB(arkivev1.SchemaRegistrySpec{URLs: []string{target.URL}}), Storage: specJSONB(rc.storage)}
		rb.err = benchSnapshot(rc, source.URL, rb.sr.Backup)
	})
	if remapBench.err != nil {
		b.Fatal(remapBench.err)
	}
}

// benchSnapshot takes one snapshot of the registry at url into the backup, as the tests'
// srBed.snapshot does, outside any testing.T.
func benchSnapshot(rc *restoreCase, url, backup string) error {
	in := schemabackup.RunInput{Input: schemabackup.Input{Connection: workflows.RegistryConnection{Namespace: "default", Backup: backup,
		Registry: specJSONB(arkivev1.SchemaRegistrySpec{URLs: []string{url}}), Storage: specJSONB(rc.storage)},
		Spec: schemabackup.Spec{Enabled: true, Interval: time.Hour}}}
	wid := workflows.WorkflowID("SchemaRegistryBackup", "default", fmt.Sprintf("bench-%d", time.Now().UnixNano()))
	if _, err := rc.c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: wid, TaskQueue: rc.queue}, schemabackup.WorkflowName, in); err != nil {
		return err
	}
	defer func() { _ = rc.c.TerminateWorkflow(context.Background(), wid, "", "bench setup done") }()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(100 * time.Millisecond) {
		var s schemabackup.Status
		if v, err := rc.c.QueryWorkflow(context.Background(), wid, "", workflows.QueryStatus); err == nil && v.Get(&s) == nil && s.LastSnapshot != "" {
			return nil
		}
	}
	return fmt.Errorf("bench snapshot did not finish")
}

// Restore throughput with schema id remapping against the same restore without it, alternating
// which runs first (#22 point 16). Every record is in the wire format, so every value's id is
// looked up and rewritten.
func BenchmarkRestoreSchemaRemap(b *testing.B) {
	setupRemapBench(b)
	rc := remapBench.rc
	remapped := rc
	remapped.schemas = &kafkarestore.SchemaRemap{RegistryConnection: remapBench.sr, Values: true}
	var plain, remap time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			t, _ := restoreOnce(b, rc)
			plain += t
		}
		t, _ := restoreOnce(b, remapped)
		remap += t
		if i%2 == 1 {
			t, _ := restoreOnce(b, rc)
			plain += t
		}
	}
	b.StopTimer()
	b.ReportMetric(plain.Seconds()/remap.Seconds(), "x-no-remap")
	b.ReportMetric(float64(rc.records)*float64(b.N)/remap.Seconds(), "remap-records/s")
	b.ReportMetric(float64(rc.records)*float64(b.N)/plain.Seconds(), "plain-records/s")
}
