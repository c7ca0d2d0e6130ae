package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// MemoryCgroup makes a cgroup v1 memory group limited to limit bytes beside this process's own,
// as a container's memory limit would be, and returns its folder; the test removes it once its
// processes have ended (cleanups run last-registered first, so register the process's after
// this). Where the machine has no writable v1 memory hierarchy, the test is skipped with the
// reason: the test machines have one (cgroup v1 mounted at /sys/fs/cgroup/memory, as root).
func MemoryCgroup(t testing.TB, limit int64) string {
	t.Helper()
	own, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		t.Skipf("no /proc/self/cgroup: %v", err)
	}
	path := ""
	for line := range strings.Lines(string(own)) {
		if f := strings.SplitN(strings.TrimSpace(line), ":", 3); len(f) == 3 && strings.Contains(","+f[1]+",", ",memory,") {
			path = f[2]
		}
	}
	if path == "" {
		t.Skip("this machine has no cgroup v1 memory hierarchy (/proc/self/cgroup)")
	}
	dir := filepath.Join("/sys/fs/cgroup/memory", path, "arkive-test-"+strconv.Itoa(os.Getpid())+"-"+strconv.FormatInt(time.Now().UnixNano(), 36))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Skipf("cannot make a memory cgroup here (%v)", err)
	}
	t.Cleanup(func() { _ = os.Remove(dir) })
	if err := os.WriteFile(filepath.Join(dir, "memory.limit_in_bytes"), []byte(strconv.FormatInt(limit, 10)), 0o644); err != nil {
		t.Fatalf("limit the memory cgroup: %v", err)
	}
	return dir
}

// InCgroup is the command name args run inside cgroup from its first instruction: a shell joins
// the cgroup and then becomes the command (the same pid).
func InCgroup(cgroup, name string, args ...string) *exec.Cmd {
	return exec.Command("sh", append([]string{"-c", `echo $$ > "$0/cgroup.procs" && exec "$@"`, cgroup, name}, args...)...)
}
