package testenv

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// Issue 22, point 11: hack/servers.sh refuses to start a server on a port another process
// already answers, naming the port and the variable that moves it, instead of reporting that
// process as the server.
func TestServersRefuseABusyPort(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer busy.Close()
	go func() {
		for {
			c, err := busy.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := busy.Addr().(*net.TCPAddr).Port
	run := t.TempDir()
	env := append(os.Environ(), "ARKIVE_RUN="+run, fmt.Sprintf("ARKIVE_GCS_PORT=%d", port))
	t.Cleanup(func() {
		stop := exec.Command("bash", "../../hack/servers.sh", "stop")
		stop.Env = env
		_ = stop.Run()
	})
	cmd := exec.Command("bash", "../../hack/servers.sh", "start", "gcs")
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	require.Error(t, err, "start on a busy port must fail: %s", out)
	require.Contains(t, string(out), fmt.Sprintf("port %d is already in use", port))
	require.Contains(t, string(out), "ARKIVE_GCS_PORT")
	_, statErr := os.Stat(run + "/gcs.pid")
	require.True(t, os.IsNotExist(statErr), "nothing was started")
	require.False(t, strings.Contains(string(out), "servers up"))
}

// hack/servers.sh stop stops a server by the pid its start recorded only while that pid still
// names the process it started (the same start time): a test killed before its clean-up leaves
// pid files behind, and by the next run the kernel may have given the pid to another process.
func TestServersStopOnlyTheProcessTheyStarted(t *testing.T) {
	stop := func(pid int, started string) bool {
		run := t.TempDir()
		require.NoError(t, os.WriteFile(run+"/gcs.pid", []byte(strconv.Itoa(pid)+"\n"), 0o644))
		require.NoError(t, os.WriteFile(run+"/gcs.started", []byte(started+"\n"), 0o644))
		cmd := exec.Command("bash", "../../hack/servers.sh", "stop")
		cmd.Env = append(os.Environ(), "ARKIVE_RUN="+run)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s", out)
		_, err = os.Stat(run + "/gcs.pid")
		require.True(t, os.IsNotExist(err), "the pid file is gone either way")
		return strings.Contains(string(out), "stopping gcs")
	}
	// A process in a group of its own, as spawn starts servers.
	other := exec.Command("sleep", "300")
	other.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, other.Start())
	exited := make(chan struct{}) // closed once the process has ended and been reaped
	go func() { _ = other.Wait(); close(exited) }()
	t.Cleanup(func() { _ = other.Process.Kill(); <-exited })
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", other.Process.Pid))
	require.NoError(t, err)
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	began := fields[19] // field 22 of proc(5), counted from the state, field 3

	require.False(t, stop(other.Process.Pid, began+"1"), "a pid now another process's is left alone")
	select {
	case <-exited:
		t.Fatal("the other process was stopped")
	default:
	}
	require.True(t, stop(other.Process.Pid, began), "the process the pid file names is stopped")
	select {
	case <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("the recorded process still runs 30 s after servers.sh stop returned")
	}
}
