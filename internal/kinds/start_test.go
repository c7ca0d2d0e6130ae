package kinds

import (
	"context"
	"fmt"
	"os/exec"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	tclient "go.temporal.io/sdk/client"

	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
)

// Start gives a workflow Arkive's search attributes and a summary where the Temporal namespace
// has the attributes (the dev server's default namespace, hack/servers.sh), and starts it
// without them where it has not (a namespace of the test's own), rather than not at all.
func TestStartWithAndWithoutSearchAttributes(t *testing.T) {
	addr := testenv.Temporal(t)
	bare := fmt.Sprintf("bare-%d", time.Now().UnixNano())
	out, err := exec.Command(testenv.TemporalCLI(t), "operator", "namespace", "create", "--address", addr, "--namespace", bare).CombinedOutput()
	require.NoError(t, err, string(out))

	for _, namespace := range []string{"default", bare} {
		c, err := tclient.Dial(tclient.Options{HostPort: addr, Namespace: namespace})
		require.NoError(t, err)
		defer c.Close()
		ns := fmt.Sprintf("t%d", time.Now().UnixNano())
		id := workflows.WorkflowID("KafkaRestore", ns, "back")
		// No worker polls this queue: starting is all that is tested.
		testenv.Eventually(t, 30*time.Second, "started in namespace "+namespace, func() (bool, string) {
			_, err := kafkaRestore.Start(context.Background(), c, id, "no-worker-"+ns, struct{}{}, nil)
			return err == nil, fmt.Sprint(err)
		})
		d, err := c.DescribeWorkflow(context.Background(), id, "")
		require.NoError(t, err)
		kind, has := d.TypedSearchAttributes.GetKeyword(workflows.AttrKind)
		resource, _ := d.TypedSearchAttributes.GetKeyword(workflows.AttrResource)
		if namespace == bare {
			require.False(t, has, "no attributes where the namespace has none")
		} else {
			require.Equal(t, "kafkarestore", kind)
			require.Equal(t, "back", resource)
		}
		summary, err := d.GetStaticSummary()
		require.NoError(t, err)
		require.Equal(t, "KafkaRestore "+ns+"/back", summary)
		require.NoError(t, c.TerminateWorkflow(context.Background(), id, "", "test"))
	}
}
