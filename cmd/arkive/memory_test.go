package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/worker"
)

// A worker without --max-memory keeps within 7/8 of its container's memory limit: each worker
// here runs in a real memory cgroup of 1 GiB made for it, and its Go memory limit is read from
// its own /metrics. --max-memory still wins, and --max-memory 0 turns the cap off.
func TestWorkerKeepsWithinItsContainersMemoryLimit(t *testing.T) {
	temporal := testenv.Temporal(t)
	bin := buildArkive(t)
	cases := []struct {
		cgroupLimit int64
		flags       []string
		wantLimit   float64 // go_gc_gomemlimit_bytes
		wantLine    string  // in stderr, empty for no line about it
	}{
		{1 << 30, nil, 896 << 20, "arkive: --max-memory not set: keeping within 896Mi, 7/8 of this container's memory limit of 1Gi, capturing at most 448 partitions at once"},
		{1 << 30, []string{"--max-partitions", "100"}, 896 << 20, "arkive: --max-memory not set: keeping within 896Mi, 7/8 of this container's memory limit of 1Gi\n"},
		{1 << 30, []string{"--max-memory", "512Mi"}, 512 << 20, ""},
		// No cap: Go's soft limit is then the target of a worker without a limit, which rises
		// with its live data (worker.SetGCTarget).
		{1 << 30, []string{"--max-memory", "0"}, worker.DefaultMemoryTarget, ""},
		// A limit of 1G: 10^9 bytes, which the kernel rounds down to whole pages (999,997,440).
		{1e9, nil, 834 << 20, "arkive: --max-memory not set: keeping within 834Mi, 7/8 of this container's memory limit of 999997440 bytes, capturing at most 417 partitions at once"},
	}
	type started struct {
		port   string
		stderr *lockedBuffer
	}
	var workers []started
	for i, tc := range cases { // all start at once; each is then checked in turn
		cgroup := testenv.MemoryCgroup(t, tc.cgroupLimit)
		port := strconv.Itoa(testenv.FreePort(t))
		cmd := testenv.InCgroup(cgroup, bin, append([]string{"worker", "--temporal-address", temporal,
			"--task-queue", "memory-" + strconv.Itoa(i), "--metrics-port", port}, tc.flags...)...)
		stderr := &lockedBuffer{}
		cmd.Stderr = stderr
		require.NoError(t, cmd.Start())
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		workers = append(workers, started{port, stderr})
	}
	for i, tc := range cases {
		w := workers[i]
		var got float64
		testenv.Eventually(t, time.Minute, fmt.Sprintf("%v: the worker's go_gc_gomemlimit_bytes", tc.flags), func() (bool, string) {
			v, err := readMetric(w.port, "go_gc_gomemlimit_bytes")
			got = v
			return err == nil, fmt.Sprintf("%v; stderr: %s", err, w.stderr)
		})
		require.Equal(t, tc.wantLimit, got, "%v: stderr %s", tc.flags, w.stderr)
		testenv.Eventually(t, time.Minute, fmt.Sprintf("%v: the worker polls", tc.flags), func() (bool, string) {
			return strings.Contains(w.stderr.String(), "polling task queue"), w.stderr.String()
		})
		if tc.wantLine != "" {
			require.Contains(t, w.stderr.String(), tc.wantLine, tc.flags)
		} else {
			require.NotContains(t, w.stderr.String(), "--max-memory not set", tc.flags)
		}
	}
}

// readMetric is an unlabelled metric from the /metrics a process serves on port.
func readMetric(port, name string) (float64, error) {
	resp, err := http.Get("http://127.0.0.1:" + port + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	return 0, errors.New("not exported")
}

// lockedBuffer is a process's output, read while the process writes it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

var _ io.Writer = (*lockedBuffer)(nil)

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
