package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"

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
