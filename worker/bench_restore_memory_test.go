package worker_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/client"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/testenv"
)

// memBench is one restore-memory dataset: ~1 KB order-like JSON records with keys over a
// number of partitions, backed up once; the restores run in an `arkive worker` process of
// their own, whose peak RSS is measured.
type memBench struct {
	once    sync.Once
	err     error
	c       client.Client
	queue   string
	rc      restoreCase
	bytes   int64
	bin     string
	tempo   string
	workDir string
}

var (
	memBenchesMu sync.Mutex
	memBenches   = map[int32]*memBench{}
)

func memBenchBytes() int64 {
	if n, err := strconv.ParseInt(os.Getenv("ARKIVE_BENCH_RESTORE_BYTES"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 1 << 30
}

// benchBinary builds the arkive command once per process.
var benchBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "arkive-bench-bin-")
	if err != nil {
		return "", err
	}
	benchDirs = append(benchDirs, dir)
	bin := filepath.Join(dir, "arkive")
	if out, err := exec.Command("go", "build", "-o", bin, "../cmd/arkive").CombinedOutput(); err != nil {
		return "", fmt.Errorf("build arkive: %v: %s", err, out)
	}
	return bin, nil
})

func setupMemBench(b *testing.B, partitions int32) *memBench {
	memBenchesMu.Lock()
	m := memBenches[partitions]
	if m == nil {
		m = &memBench{}
		memBenches[partitions] = m
	}
	memBenchesMu.Unlock()
	m.once.Do(func() {
		if m.bin, m.err = benchBinary(); m.err != nil {
			return
		}
		m.tempo = testenv.Temporal(b)
		rc := &m.rc
		rc.bootstrap = testenv.Kafka(b)
		if m.c, m.queue, m.err = benchWorker(b); m.err != nil {
			return
		}
		rc.source = testenv.Topic(b, fmt.Sprintf("bench-mem%d", partitions), partitions, nil)
		cfg := testenv.ProducerConfig()
		cfg.Producer.Partitioner = sarama.NewManualPartitioner
		cfg.Producer.Compression = sarama.CompressionLZ4
		p, err := sarama.NewSyncProducer([]string{rc.bootstrap}, cfg)
		if m.err = err; err != nil {
			return
		}
		defer p.Close()
		var batch []*sarama.ProducerMessage
		for i := 0; m.bytes < memBenchBytes(); i++ {
			v := fmt.Sprintf(`{"orderId":"o-%09d","customer":"c-%06d","items":[{"sku":"sku-%05d","qty":%d,"price":%d.%02d}],"status":"CONFIRMED","note":"%0880d"}`,
				i, i%100000, i%50000, i%7+1, i%900, i%100, i)
			k := fmt.Sprintf("c-%06d", i%100000)
			m.bytes += int64(len(k) + len(v))
			rc.records++
			batch = append(batch, &sarama.ProducerMessage{Topic: rc.source, Partition: int32(i) % partitions, Key: sarama.StringEncoder(k), Value: sarama.StringEncoder(v)})
			if len(batch) == 10_000 {
				if m.err = p.SendMessages(batch); m.err != nil {
					return
				}
				batch = batch[:0]
			}
		}
		if len(batch) > 0 {
			if m.err = p.SendMessages(batch); m.err != nil {
				return
			}
		}
		if m.workDir, m.err = os.MkdirTemp("", "arkive-bench-mem-"); m.err != nil {
			return
		}
		benchDirs = append(benchDirs, m.workDir)
		rc.storage = arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: m.workDir}}
		rc.backup = fmt.Sprintf("default/bench-mem%d", partitions)
		m.err = benchBackup(b, m.c, m.queue, rc.bootstrap, rc.storage, rc.backup, rc.source)
	})
	if m.err != nil {
		b.Fatal(m.err)
	}
	return m
}

// restoreInWorker restores the dataset with a fresh `arkive worker` process and returns how
// long the restore took and the process's peak RSS in MiB.
func (m *memBench) restoreInWorker(b *testing.B) (time.Duration, float64) {
	queue := fmt.Sprintf("bench-mem-%d", time.Now().UnixNano())
	w := exec.Command(m.bin, "worker", "--temporal-address", m.tempo, "--task-queue", queue)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Process.Kill(); _ = w.Wait() }()
	waitForPoller(b, m.c, queue)
	rc := m.rc
	rc.c, rc.queue = m.c, queue
	elapsed, _ := restoreOnce(b, rc)
	return elapsed, testenv.PeakRSSMiB(w.Process.Pid)
}

// benchRestoreMemory restores the partitions' dataset and the 4-partition one, alternating,
// each in a worker process of its own (#20 acceptance 1): peak RSS of the larger restore,
// against the bound 256 MiB + 16 MiB per partition, and its throughput over the 4-partition
// restore's.
func benchRestoreMemory(b *testing.B, partitions int32) {
	big, four := setupMemBench(b, partitions), setupMemBench(b, 4)
	var tBig, tFour time.Duration
	var peak, peakFour float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run := func(m *memBench, t *time.Duration, p *float64) {
			d, rss := m.restoreInWorker(b)
			*t += d
			*p = max(*p, rss)
		}
		if i%2 == 0 {
			run(four, &tFour, &peakFour)
		}
		run(big, &tBig, &peak)
		if i%2 == 1 {
			run(four, &tFour, &peakFour)
		}
	}
	b.StopTimer()
	mibps := func(m *memBench, t time.Duration) float64 {
		return float64(m.bytes) * float64(b.N) / t.Seconds() / (1 << 20)
	}
	b.ReportMetric(peak, "peak-rss-MiB")
	b.ReportMetric(256+16*float64(partitions), "bound-MiB")
	b.ReportMetric(mibps(big, tBig), "restore-MiB/s")
	b.ReportMetric(mibps(four, tFour), "4-partitions-MiB/s")
	b.ReportMetric(mibps(big, tBig)/mibps(four, tFour), "x-4-partitions")
	b.ReportMetric(peakFour, "4-partitions-peak-rss-MiB")
}

// Restore memory with 16 partitions (#20): peak RSS ≤ 256 MiB + 16 MiB per partition, and
// throughput ≥ 0.9× the 4-partition restore's.
func BenchmarkRestoreMemory16(b *testing.B) { benchRestoreMemory(b, 16) }

// Restore memory with 64 partitions (#20): peak RSS ≤ 256 MiB + 16 MiB per partition.
func BenchmarkRestoreMemory64(b *testing.B) { benchRestoreMemory(b, 64) }
