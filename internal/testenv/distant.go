package testenv

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Names of the shared broker's DISTANT listener and of the port it advertises, where
// DistantKafka's proxy listens (hack/servers.sh).
const (
	EnvKafkaDistant      = "ARKIVE_TEST_KAFKA_DISTANT"
	EnvKafkaDistantProxy = "ARKIVE_TEST_KAFKA_DISTANT_PROXY"
)

// DistantKafka is the shared broker as a client in another region meets it: every byte each
// way arrives oneWay later (a round trip of twice that), with bandwidth as on loopback. The
// broker's DISTANT listener advertises the proxy's port, so a client that bootstraps here
// stays on the proxy for every broker connection. Loopback has no netem here (no sch_netem
// module), so the delay is this proxy's; a real link would add loss and a bandwidth limit.
// The proxy runs in the test's process and costs it CPU: compare with the same work through
// the proxy at no delay, not only with the broker itself.
//
// The advertised port is fixed, so one test at a time may hold the proxy: a file lock makes a
// test in another package's process wait until this one's cleanup closes it.
func DistantKafka(t testing.TB, oneWay time.Duration) *Distant {
	t.Helper()
	broker, addr := Require(t, EnvKafkaDistant), Require(t, EnvKafkaDistantProxy)
	lock, err := os.OpenFile(filepath.Join(os.TempDir(), "arkive-distant-"+strings.ReplaceAll(addr, ":", "-")+".lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(lock.Fd()), syscall.LOCK_EX); err != nil {
		lock.Close()
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", addr)
	if err != nil {
		lock.Close()
		t.Fatalf("the distant broker's proxy on %s: %v", addr, err)
	}
	t.Cleanup(func() { lock.Close() }) // releases the lock, after the proxy's own cleanup
	return delayedProxy(t, l, broker, oneWay)
}

// Delayed is a proxy to the server at addr (host:port) on a free loopback port, with
// DistantKafka's delay each way: for servers that do not tell clients where to connect, such
// as MinIO, whose S3 answers take tens of milliseconds even within a region.
func Delayed(t testing.TB, addr string, oneWay time.Duration) *Distant {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return delayedProxy(t, l, addr, oneWay)
}

func delayedProxy(t testing.TB, l net.Listener, target string, oneWay time.Duration) *Distant {
	p := &proxy{target: target, conns: map[net.Conn]bool{}}
	p.delay.Store(int64(oneWay))
	go p.serve(l)
	t.Cleanup(func() {
		l.Close()
		p.closeAll()
	})
	return &Distant{Addr: l.Addr().String(), p: p}
}

// Distant is a proxy DistantKafka or Delayed started: clients connect to Addr.
type Distant struct {
	Addr string
	p    *proxy
}

// SetOneWay changes the delay for the bytes read from now on.
func (d *Distant) SetOneWay(oneWay time.Duration) { d.p.delay.Store(int64(oneWay)) }

type proxy struct {
	target string
	delay  atomic.Int64 // one way, in nanoseconds
	mu     sync.Mutex
	conns  map[net.Conn]bool
}

func (p *proxy) serve(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		go func() {
			b, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				return
			}
			if !p.track(c, b) {
				return
			}
			go p.delayed(b, c)
			p.delayed(c, b)
		}()
	}
}

// track remembers a pair of connections for closeAll; false (both closed) once it has run.
func (p *proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		for _, c := range cs {
			c.Close()
		}
		return false
	}
	for _, c := range cs {
		p.conns[c] = true
	}
	return true
}

func (p *proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// chunk is what one read took in, and when the far side may have it.
type chunk struct {
	due  time.Time
	data []byte
}

// delayed copies from src to dst, each read's bytes written once the delay has passed since
// it was read: reads go on meanwhile, so the delay adds latency and no limit on throughput.
// Either side's end closes both.
func (p *proxy) delayed(src, dst net.Conn) {
	q := make(chan chunk, 4096)
	go func() {
		defer close(q)
		for {
			buf := make([]byte, 64<<10)
			n, err := src.Read(buf)
			if n > 0 {
				q <- chunk{time.Now().Add(time.Duration(p.delay.Load())), buf[:n]}
			}
			if err != nil {
				return
			}
		}
	}()
	defer func() {
		src.Close()
		dst.Close()
		p.mu.Lock()
		if p.conns != nil {
			delete(p.conns, src)
			delete(p.conns, dst)
		}
		p.mu.Unlock()
		for range q { // the reader may be waiting to queue its last read
		}
	}()
	for c := range q {
		time.Sleep(time.Until(c.due))
		if _, err := dst.Write(c.data); err != nil {
			return
		}
	}
}
