package testenv

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Broker is a single-node KRaft Kafka broker of a test's own, from the same jars as the shared
// one, for a test that kills it: the shared broker serves every other test at the same time.
type Broker struct {
	Bootstrap string
	dir, jars string
	cmd       *exec.Cmd
}

// OwnKafka formats and starts a broker on free ports; the test's cleanup stops it.
func OwnKafka(t *testing.T) *Broker {
	t.Helper()
	jars := Require(t, EnvKafkaLibs) + "/*"
	dir := t.TempDir()
	port, controller := FreePort(t), FreePort(t)
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[2]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listeners=PLAINTEXT://127.0.0.1:%[1]d,CONTROLLER://127.0.0.1:%[2]d
log.dirs=%[3]s/data
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
`, port, controller, dir)
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("server.properties", props)
	write("log4j.properties", "log4j.rootLogger=WARN, f\nlog4j.appender.f=org.apache.log4j.FileAppender\nlog4j.appender.f.File="+dir+
		"/broker.log\nlog4j.appender.f.layout=org.apache.log4j.PatternLayout\nlog4j.appender.f.layout.ConversionPattern=%d %p %m (%c)%n\n")
	b := &Broker{Bootstrap: fmt.Sprintf("127.0.0.1:%d", port), dir: dir, jars: jars}
	format := exec.Command("java", b.javaArgs("kafka.tools.StorageTool", "format", "-t", "q1Sh-9_ISia_zwGINzRvyQ", "-c", filepath.Join(dir, "server.properties"))...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("format the broker's storage: %v\n%s", err, out)
	}
	t.Cleanup(b.Kill)
	b.Start(t)
	return b
}

func (b *Broker) javaArgs(class string, args ...string) []string {
	return append([]string{"-Xms128m", "-Xmx512m", "-Dlog4j.configuration=file:" + b.dir + "/log4j.properties", "-cp", b.jars, class}, args...)
}

// Start starts the broker (again, on its data) and waits until it listens.
func (b *Broker) Start(t *testing.T) {
	t.Helper()
	b.cmd = exec.Command("java", b.javaArgs("kafka.Kafka", filepath.Join(b.dir, "server.properties"))...)
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	Eventually(t, 2*time.Minute, "the test's own broker listens on "+b.Bootstrap, func() (bool, string) {
		c, err := net.DialTimeout("tcp", b.Bootstrap, time.Second)
		if err == nil {
			c.Close()
		}
		return err == nil, fmt.Sprint(err)
	})
}

// Kill stops the broker as a crash would (SIGKILL), and waits until it has exited.
func (b *Broker) Kill() {
	if b.cmd == nil || b.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL)
	_ = b.cmd.Wait()
}

// Stop shuts the broker down as an operator does (SIGTERM: it hands its partitions' leadership
// back, which ends their leader epochs), and waits until it has exited.
func (b *Broker) Stop() {
	if b.cmd == nil || b.cmd.ProcessState != nil {
		return
	}
	_ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGTERM)
	_ = b.cmd.Wait()
}

// SegmentFile is the file of a partition's first log segment, for a test that damages the log
// while the broker is down.
func (b *Broker) SegmentFile(topic string, partition int32) string {
	return filepath.Join(b.dir, "data", fmt.Sprintf("%s-%d", topic, partition), "00000000000000000000.log")
}

// FreePort is a TCP port on 127.0.0.1 that nothing listens on now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
