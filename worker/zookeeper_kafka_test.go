package worker_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/zookeeperrestore"
)

// zkBroker is an Apache Kafka 3.9.1 broker in ZooKeeper mode, started by the test on a port of
// its own, with ACLs enforced by the ZooKeeper-backed authorizer.
type zkBroker struct {
	cmd       *exec.Cmd
	bootstrap string
	log       string
}

func startZKBroker(t *testing.T, zkConnect string) *zkBroker {
	t.Helper()
	jars, _ := testenv.KafkaJars(t)
	dir := t.TempDir()
	port := testenv.FreePort(t)
	props := fmt.Sprintf(`broker.id=1
zookeeper.connect=%s
listeners=PLAINTEXT://127.0.0.1:%d
log.dirs=%s/data
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
authorizer.class.name=kafka.security.authorizer.AclAuthorizer
super.users=User:ANONYMOUS
`, zkConnect, port, dir)
	require.NoError(t, os.WriteFile(filepath.Join(dir, "server.properties"), []byte(props), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "log4j.properties"), []byte("log4j.rootLogger=WARN, f\nlog4j.appender.f=org.apache.log4j.FileAppender\n"+
		"log4j.appender.f.File="+dir+"/broker.log\nlog4j.appender.f.layout=org.apache.log4j.PatternLayout\nlog4j.appender.f.layout.ConversionPattern=%d %p %m (%c)%n\n"), 0o600))
	cmd := exec.Command("java", "-Xms128m", "-Xmx512m", "-Dlog4j.configuration=file:"+dir+"/log4j.properties", "-cp", jars, "kafka.Kafka", filepath.Join(dir, "server.properties"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	require.NoError(t, cmd.Start())
	b := &zkBroker{cmd: cmd, bootstrap: fmt.Sprintf("127.0.0.1:%d", port), log: filepath.Join(dir, "broker.log")}
	t.Cleanup(b.stop)
	testenv.Eventually(t, 2*time.Minute, "the ZooKeeper-mode broker listens", func() (bool, string) {
		c, err := net.DialTimeout("tcp", b.bootstrap, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil, fmt.Sprint(err)
	})
	return b
}

// stop shuts the broker down cleanly (SIGTERM: it leaves the controller and its registration).
func (b *zkBroker) stop() {
	if b.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = b.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
		<-done
	}
}

// kafkaTool runs one of Kafka's own admin tools against the broker and returns its output.
func (b *zkBroker) kafkaTool(t *testing.T, class string, args ...string) string {
	t.Helper()
	jars, tools := testenv.KafkaJars(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	full := append([]string{"-Xmx256m", "-Dlog4j.configuration=file:/dev/null", "-cp", tools + ":" + jars, class, "--bootstrap-server", b.bootstrap}, args...)
	out, err := exec.CommandContext(ctx, "java", full...).CombinedOutput()
	require.NoError(t, err, "%s %v: %s", class, args, out)
	return string(out)
}

// describe is what Kafka's tools say of the cluster's topics, configs and ACLs, in a form that
// does not depend on the broker that answers (leaders and ISRs are left out).
func (b *zkBroker) describe(t *testing.T, topics ...string) string {
	t.Helper()
	var out strings.Builder
	idCount := regexp.MustCompile(`Topic: (\S+)\s+TopicId: (\S+)\s+PartitionCount: (\d+)\s+ReplicationFactor: (\d+)`)
	for _, topic := range topics {
		desc := b.kafkaTool(t, "org.apache.kafka.tools.TopicCommand", "--describe", "--topic", topic)
		m := idCount.FindStringSubmatch(desc)
		require.NotNil(t, m, desc)
		fmt.Fprintf(&out, "topic %s id %s partitions %s rf %s\n", m[1], m[2], m[3], m[4])
		cfg := b.kafkaTool(t, "kafka.admin.ConfigCommand", "--describe", "--entity-type", "topics", "--entity-name", topic)
		for _, line := range strings.Split(cfg, "\n") {
			if l := strings.TrimSpace(line); strings.Contains(l, "sensitive=") {
				fmt.Fprintf(&out, "  config %s\n", strings.SplitN(l, " ", 2)[0])
			}
		}
		var acls []string // the tool lists them in no fixed order
		for _, line := range strings.Split(b.kafkaTool(t, "kafka.admin.AclCommand", "--list", "--topic", topic), "\n") {
			if l := strings.TrimSpace(line); strings.HasPrefix(l, "(principal=") {
				acls = append(acls, "  acl "+l+"\n")
			}
		}
		slices.Sort(acls)
		out.WriteString(strings.Join(acls, ""))
	}
	return out.String()
}

// Issue 16, acceptance 4: a Kafka 3.9.1 broker on ZooKeeper (3.8, as Kafka 3.x runs it) with
// topics, topic configs and ACLs; its tree is backed up with the Kafka sample's exclusions and
// restored into a fresh ensemble (ZooKeeper 3.9); a broker started on the restored tree has
// the same topics (ids and partition counts), configs and ACLs, as Kafka's own admin tools
// report them.
func TestZooKeeperKafkaClusterRoundTrip(t *testing.T) {
	b := newZKBed(t)
	src, dst := zkConn(t, b.dst), zkConn(t, b.src) // the source on 3.8, the new ensemble on 3.9
	srcRoot, dstRoot := b.chroot(t, src, "kafka-a"), b.chroot(t, dst, "kafka-b")

	a := startZKBroker(t, b.dst+srcRoot)
	a.kafkaTool(t, "org.apache.kafka.tools.TopicCommand", "--create", "--topic", "orders", "--partitions", "3", "--replication-factor", "1",
		"--config", "retention.ms=3600000", "--config", "max.message.bytes=2000000")
	a.kafkaTool(t, "org.apache.kafka.tools.TopicCommand", "--create", "--topic", "payments", "--partitions", "5", "--replication-factor", "1",
		"--config", "cleanup.policy=compact")
	a.kafkaTool(t, "kafka.admin.AclCommand", "--add", "--allow-principal", "User:alice", "--operation", "Read", "--operation", "Describe", "--topic", "orders")
	a.kafkaTool(t, "kafka.admin.AclCommand", "--add", "--deny-principal", "User:mallory", "--operation", "Write", "--topic", "payments")
	before := a.describe(t, "orders", "payments")
	require.Contains(t, before, "topic orders id")
	require.Contains(t, before, "partitions 3")
	require.Contains(t, before, "config retention.ms=3600000")
	require.Contains(t, before, "User:alice")
	a.stop()

	sample := arkivev1.ZNodePaths{Exclude: []string{"/controller", "/controller_epoch", "/brokers/ids", "/admin/reassign_partitions", "/admin/preferred_replica_election"}}
	st := b.backup(t, "kafka-zk", b.ensemble("kafka-a", b.dst, srcRoot, ""), arkivev1.ZooKeeperBackupSpec{Paths: sample})
	rs, _, err := b.restore(t, "arkive/kafka-zk", b.ensemble("kafka-b", b.src, dstRoot, ""), arkivev1.ZooKeeperRestoreSpec{})
	require.NoError(t, err, rs.LastError)
	require.Equal(t, zookeeperrestore.PhaseDone, rs.Phase)
	require.Positive(t, st.Listed[0].Nodes)
	for _, p := range []string{"/controller", "/brokers/ids/1"} {
		ok, _, err := dst.Exists(dstRoot + p)
		require.NoError(t, err)
		require.False(t, ok, "%s is excluded", p)
	}

	bb := startZKBroker(t, b.src+dstRoot)
	after := bb.describe(t, "orders", "payments")
	require.Equal(t, before, after, "topics (ids, partitions), configs and ACLs are back")
}
