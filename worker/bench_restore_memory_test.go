package worker_test

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
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
	memBenches   = map[memBenchKind]*memBench{}
)

// memBenchKind names a dataset: its partitions, and whether its records vary as real orders do
// (variedOrder) or repeat one template with a zero-padded note, which compresses about 100:1.
type memBenchKind struct {
	partitions int32
	varied     bool
}

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
	return setupDataset(b, memBenchKind{partitions: partitions})
}

func setupDataset(b *testing.B, kind memBenchKind) *memBench {
	partitions := kind.partitions
	memBenchesMu.Lock()
	m := memBenches[kind]
	if m == nil {
		m = &memBench{}
		memBenches[kind] = m
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
		name := fmt.Sprintf("bench-mem%d", partitions)
		if kind.varied {
			name = fmt.Sprintf("bench-orders%d", partitions)
		}
		rc.source = datasetTopic(b, name, partitions)
		rng := rand.New(rand.NewPCG(uint64(partitions), 20))
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
			if kind.varied {
				k, v = variedOrder(rng, i)
			}
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
		rc.backup = "default/" + name
		m.err = benchBackup(b, m.c, m.queue, rc.bootstrap, rc.storage, rc.backup, rc.source)
	})
	if m.err != nil {
		b.Fatal(m.err)
	}
	return m
}

// restoreInWorker restores the dataset with a fresh `arkive worker` process and returns how
// long the restore took, the process's peak RSS in MiB, and the CPU seconds it and the broker
// (process broker) used from the restore's start to its end.
func (m *memBench) restoreInWorker(b *testing.B, broker int) (elapsed time.Duration, rss, workerCPU, brokerCPU float64) {
	queue := fmt.Sprintf("bench-mem-%d", time.Now().UnixNano())
	args := []string{"worker", "--temporal-address", m.tempo, "--task-queue", queue}
	profile := os.Getenv("ARKIVE_BENCH_WORKER_PROFILE") // as for backups: the restore's first seconds
	port := testenv.FreePort(b)
	if profile != "" {
		args = append(args, "--metrics-port", strconv.Itoa(port), "--pprof")
	}
	w := exec.Command(m.bin, args...)
	if err := w.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = w.Process.Kill(); _ = w.Wait() }()
	waitForPoller(b, m.c, queue)
	if profile != "" {
		defer profileWorker(b, port, profile)()
	}
	rc := m.rc
	rc.c, rc.queue = m.c, queue
	dropPageCache(b)
	cpu0, b0 := cpuSeconds(b, w.Process.Pid), cpuSeconds(b, broker)
	elapsed, _ = restoreOnce(b, rc)
	return elapsed, testenv.PeakRSSMiB(w.Process.Pid), cpuSeconds(b, w.Process.Pid) - cpu0, cpuSeconds(b, broker) - b0
}

// benchRestoreMemory restores the partitions' dataset and the 4-partition one, alternating,
// each in a worker process of its own (#20 acceptance 1): peak RSS of the larger restore,
// against the bound 256 MiB + 16 MiB per partition, and its throughput over the 4-partition
// restore's.
func benchRestoreMemory(b *testing.B, partitions int32) {
	big, four := setupMemBench(b, partitions), setupMemBench(b, 4)
	broker := brokerPID(b)
	var tBig, tFour time.Duration
	var peak, peakFour float64
	// CPU seconds of the worker and the broker during each side's restores: both restores
	// keep the two cores busy, so the throughput ratio follows their CPU per byte.
	var cpuBig, cpuFour, brokerBig, brokerFour float64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		run := func(m *memBench, t *time.Duration, p, cpu, brokerCPU *float64) {
			d, rss, c, bc := m.restoreInWorker(b, broker)
			*t += d
			*p = max(*p, rss)
			*cpu += c
			*brokerCPU += bc
		}
		if i%2 == 0 {
			run(four, &tFour, &peakFour, &cpuFour, &brokerFour)
		}
		run(big, &tBig, &peak, &cpuBig, &brokerBig)
		if i%2 == 1 {
			run(four, &tFour, &peakFour, &cpuFour, &brokerFour)
		}
	}
	b.StopTimer()
	gib := func(m *memBench) float64 { return float64(m.bytes) * float64(b.N) / (1 << 30) }
	b.ReportMetric(cpuBig/gib(big), "worker-core-s-per-gib")
	b.ReportMetric(brokerBig/gib(big), "broker-core-s-per-gib")
	b.ReportMetric(cpuFour/gib(four), "4-partitions-worker-core-s-per-gib")
	b.ReportMetric(brokerFour/gib(four), "4-partitions-broker-core-s-per-gib")
	b.ReportMetric(cacheDropped(), "page-cache-dropped")
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

// Vocabularies of variedOrder's fields.
var (
	orderFirstNames = []string{"Anna", "Bram", "Chloé", "Dmitri", "Elif", "Farah", "Gustav", "Hana", "Ivo", "Jun", "Kwame", "Lea", "Mateo", "Nora", "Oskar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë"}
	orderLastNames  = []string{"Andersen", "Bakker", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Horvat", "Ivanova", "Jansen", "Kowalski", "Lindqvist", "Moreau", "Novak", "Okafor", "Peeters", "Quispe", "Rossi", "Schmidt", "Tanaka", "Urban", "Vermeulen", "Wouters", "Yilmaz", "Zhang"}
	orderCities     = []string{"Antwerp", "Berlin", "Copenhagen", "Dublin", "Eindhoven", "Florence", "Ghent", "Hamburg", "Istanbul", "Jena", "Krakow", "Lisbon", "Madrid", "Nantes", "Oslo", "Porto", "Rotterdam", "Stockholm", "Tallinn", "Utrecht", "Vienna", "Warsaw", "Zagreb"}
	orderStreets    = []string{"Main St", "Station Rd", "Church Ln", "Market Sq", "Harbour Way", "Mill Rd", "Park Ave", "Bridge St", "Kerkstraat", "Hauptstraße", "Rue de la Paix", "Calle Mayor"}
	orderProducts   = []string{"wireless mouse", "mechanical keyboard", "USB-C cable", "27-inch monitor", "laptop stand", "noise-cancelling headphones", "webcam", "desk lamp", "office chair", "notebook", "fountain pen", "coffee beans", "water bottle", "backpack", "phone case", "charger", "SSD 1TB", "HDMI adapter", "microphone", "speaker"}
	orderStatuses   = []string{"CREATED", "CONFIRMED", "PAID", "PICKED", "SHIPPED", "DELIVERED", "CANCELLED", "RETURNED"}
	orderCarriers   = []string{"DHL", "UPS", "PostNL", "bpost", "DPD", "GLS", "FedEx"}
	orderWords      = []string{"please", "leave", "the", "parcel", "at", "back", "door", "ring", "twice", "gift", "wrap", "no", "invoice", "in", "box", "call", "before", "delivery", "fragile", "handle", "with", "care", "neighbour", "accepts", "packages", "office", "hours", "only", "weekend", "express", "priority", "customer", "requested", "split", "shipment", "reorder", "loyalty", "discount", "applied", "voucher"}
)

// variedOrder is record i of an order stream as a shop would write it: a key per customer and
// ~1 KB of JSON whose names, amounts, codes and notes vary from record to record, so that zstd
// level 3 stores it at about a quarter of its size (real JSON, not a template).
func variedOrder(rng *rand.Rand, i int) (key, value string) {
	pick := func(s []string) string { return s[rng.IntN(len(s))] }
	alnum := func(n int) string {
		const chars = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
		b := make([]byte, n)
		for j := range b {
			b[j] = chars[rng.IntN(len(chars))]
		}
		return string(b)
	}
	cust := rng.IntN(200_000)
	first, last := pick(orderFirstNames), pick(orderLastNames)
	var items []byte
	var total int
	for j, n := 0, 2+rng.IntN(4); j < n; j++ {
		qty, price := 1+rng.IntN(5), 99+rng.IntN(49_900)
		total += qty * price
		if j > 0 {
			items = append(items, ',')
		}
		items = fmt.Appendf(items, `{"line":%d,"sku":"SKU-%06d","name":%q,"qty":%d,"unitPrice":%d.%02d,"currency":"EUR"}`,
			j+1, rng.IntN(1_000_000), pick(orderProducts), qty, price/100, price%100)
	}
	note := make([]byte, 0, 280)
	for len(note) < 100+rng.IntN(160) {
		if len(note) > 0 {
			note = append(note, ' ')
		}
		note = append(note, pick(orderWords)...)
	}
	ts := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i)*50*time.Millisecond + time.Duration(rng.IntN(1000))*time.Millisecond)
	key = fmt.Sprintf("cust-%06d", cust)
	value = fmt.Sprintf(`{"orderId":"%08x-%04x-%04x-%012x","createdAt":%q,"status":%q,"customer":{"id":"cust-%06d","name":"%s %s","email":"%s.%s%d@example.com","phone":"+32 4%02d %02d %02d %02d","address":{"street":"%d %s","city":%q,"zip":"%04d"}},"items":[%s],"total":%d.%02d,"payment":{"method":"card","last4":"%04d","authCode":%q},"shipping":{"carrier":%q,"tracking":%q},"note":%q}`,
		rng.Uint32(), rng.IntN(1<<16), rng.IntN(1<<16), rng.Uint64()&(1<<48-1), ts.Format(time.RFC3339Nano), pick(orderStatuses),
		cust, first, last, strings.ToLower(first), strings.ToLower(last), rng.IntN(100),
		rng.IntN(100), rng.IntN(100), rng.IntN(100), rng.IntN(100), 1+rng.IntN(300), pick(orderStreets), pick(orderCities), 1000+rng.IntN(9000),
		items, total/100, total%100, rng.IntN(10000), alnum(12), pick(orderCarriers), alnum(18), note)
	return key, value
}

// dropPageCache writes dirty pages out and drops the clean page cache before a timed restore
// (or bare producer), so that each starts from the same kernel memory state. Without it, on the
// 2-core test machine the broker's kernel time per GiB written (its request threads' system
// time) rose up to threefold as a process's restores filled the page cache and the kernel
// reclaimed pages on their behalf, so whichever side ran later paid for the ones before
// (docs/benchmarks.md, session 39). Dropping needs root: other users, and
// ARKIVE_BENCH_KEEP_CACHE=1, keep the cache; page-cache-dropped reports which way a run went.
func dropPageCache(b *testing.B) {
	if cacheDropped() == 0 {
		return
	}
	if err := exec.Command("sync").Run(); err != nil {
		b.Fatalf("sync: %v", err)
	}
	if err := os.WriteFile("/proc/sys/vm/drop_caches", []byte("1"), 0); err != nil {
		b.Fatalf("dropping the page cache (ARKIVE_BENCH_KEEP_CACHE=1 keeps it): %v", err)
	}
}

// cacheDropped is 1 when dropPageCache drops the page cache, 0 when it keeps it.
func cacheDropped() float64 {
	if os.Getenv("ARKIVE_BENCH_KEEP_CACHE") == "1" || os.Geteuid() != 0 {
		return 0
	}
	return 1
}
