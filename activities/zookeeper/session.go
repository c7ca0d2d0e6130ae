package zookeeper

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/go-zookeeper/zk"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
)

// DefaultMaxBuffer is ZooKeeper's default jute.maxbuffer (0xfffff bytes).
const DefaultMaxBuffer = 0xfffff

// connectTimeout bounds how long a session may take to be established before the ensemble is
// called unreachable (the activity is retried).
const connectTimeout = 15 * time.Second

// session is a connected client session on an ensemble, with the chroot applied by hand
// (go-zookeeper has no chroot) and the identity it authenticated as (for messages; never the
// password).
type session struct {
	c         *zk.Conn
	root      string
	servers   []string
	user      string
	maxBuffer int
	// dial opens a session on servers with the spec's options and identity.
	dial func(ctx context.Context, servers []string) (*zk.Conn, error)
}

type quiet struct{}

func (quiet) Printf(string, ...any) {}

// connect opens a session on the ensemble the spec describes, authenticating with its digest
// Secret. Errors name the ZooKeeperEnsemble field to check, never a credential.
func connect(ctx context.Context, raw json.RawMessage, sr secrets.Resolver) (*session, error) {
	var spec arkivev1.ZooKeeperEnsembleSpec
	if err := json.Unmarshal(raw, &spec); err != nil {
		return nil, invalidf("ensemble spec: %v", err)
	}
	if len(spec.Servers) == 0 {
		return nil, invalidf("spec.servers of the ZooKeeperEnsemble: name at least one host:port")
	}
	timeout := 30 * time.Second
	if spec.SessionTimeout != nil && spec.SessionTimeout.Duration > 0 {
		timeout = spec.SessionTimeout.Duration
	}
	s := &session{root: strings.TrimSuffix(spec.Chroot, "/"), servers: spec.Servers, maxBuffer: int(spec.MaxBufferBytes)}
	if s.maxBuffer == 0 {
		s.maxBuffer = DefaultMaxBuffer
	}
	// go-zookeeper's option type is unexported: options are plain funcs, a no-op when unset.
	bufOpt, dialOpt := func(*zk.Conn) {}, func(*zk.Conn) {}
	// The client's receive buffer must hold the largest node the servers accept.
	if s.maxBuffer > 1400<<10 {
		bufOpt = zk.WithMaxConnBufferSize(s.maxBuffer + 64<<10)
	}
	if spec.TLS != nil {
		cfg, err := secrets.TLSConfig(ctx, spec.TLS, sr)
		if err != nil {
			return nil, invalidf("spec.tls of the ZooKeeperEnsemble: %v", err)
		}
		dialOpt = zk.WithDialer(func(network, addr string, timeout time.Duration) (net.Conn, error) {
			return tls.DialWithDialer(&net.Dialer{Timeout: timeout}, network, addr, cfg)
		})
	}
	var auth []byte
	if spec.Digest != nil {
		user, err := secrets.String(ctx, sr, spec.Digest.SecretName, orDefault(spec.Digest.UsernameKey, "username"))
		if err != nil {
			return nil, invalidf("spec.digest of the ZooKeeperEnsemble: %v", err)
		}
		pass, err := secrets.String(ctx, sr, spec.Digest.SecretName, orDefault(spec.Digest.PasswordKey, "password"))
		if err != nil {
			return nil, invalidf("spec.digest of the ZooKeeperEnsemble: %v", err)
		}
		s.user, auth = user, []byte(user+":"+pass)
	}
	s.dial = func(ctx context.Context, servers []string) (*zk.Conn, error) {
		c, events, err := zk.Connect(servers, timeout, zk.WithLogger(quiet{}), zk.WithLogInfo(false), bufOpt, dialOpt)
		if err != nil {
			return nil, invalidf("spec.servers of the ZooKeeperEnsemble: %v", err)
		}
		// An ensemble that gives no session within its session timeout (at most
		// connectTimeout) is unreachable for this attempt; the activity is retried.
		deadline := time.NewTimer(min(timeout, connectTimeout))
		defer deadline.Stop()
		for c.State() != zk.StateHasSession {
			select {
			case <-events:
			case <-deadline.C:
				c.Close()
				return nil, fmt.Errorf("ensemble %s unreachable: no session within %s", strings.Join(servers, ","), min(timeout, connectTimeout))
			case <-ctx.Done():
				c.Close()
				return nil, ctx.Err()
			}
		}
		if auth != nil {
			if err := c.AddAuth("digest", auth); err != nil {
				c.Close()
				return nil, fmt.Errorf("authenticate as digest user %q: %w", s.user, err)
			}
		}
		return c, nil
	}
	var err error
	if s.c, err = s.dial(ctx, spec.Servers); err != nil {
		return nil, err
	}
	return s, nil
}

// twin opens a second session on the server the first one is connected to (same identity):
// ZooKeeper answers one session's requests in order, so a walk spreads its reads over two.
func (s *session) twin(ctx context.Context) (*zk.Conn, error) {
	return s.dial(ctx, []string{s.c.Server()})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func (s *session) Close() { s.c.Close() }

// abs is the server path of a path relative to the chroot.
func (s *session) abs(p string) string {
	switch {
	case s.root == "":
		return p
	case p == "/":
		return s.root
	}
	return s.root + p
}

// zxid syncs the session's server with the leader and reads the server's last zxid through
// the srvr four-letter word (whitelisted by default). ok is false when the server does not
// answer it (4lw disabled, TLS-only port): consistency cannot then be shown.
func (s *session) zxid() (int64, bool, error) {
	if _, err := s.c.Sync(s.abs("/")); err != nil {
		return 0, false, fmt.Errorf("sync: %w", err)
	}
	// go-zookeeper's FLWSrvr cannot parse the srvr answer of 3.9 servers: read the one line.
	conn, err := net.DialTimeout("tcp", s.c.Server(), 5*time.Second)
	if err != nil {
		return 0, false, nil
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte("srvr")); err != nil {
		return 0, false, nil
	}
	answer, _ := io.ReadAll(io.LimitReader(conn, 64<<10))
	m := srvrZxid.FindSubmatch(answer)
	if m == nil {
		return 0, false, nil
	}
	z, err := strconv.ParseInt(string(m[1]), 16, 64)
	return z, err == nil, nil
}

var srvrZxid = regexp.MustCompile(`(?m)^Zxid: 0x([0-9a-fA-F]+)`)

// isNoAuth reports the server refusing an operation for the node's ACL.
func isNoAuth(err error) bool { return errors.Is(err, zk.ErrNoAuth) }

// identity names the session's identity in messages.
func (s *session) identity() string {
	if s.user == "" {
		return "an unauthenticated session (no spec.digest)"
	}
	return fmt.Sprintf("digest user %q", s.user)
}

// batchBytes is what one multi request may carry by requestSize's estimate: three quarters of
// jute.maxbuffer. The estimate counts 64 bytes of framing a node where a create takes about 25
// (plus its ACL), and the quarter left covers the transaction the leader sends its followers.
func (s *session) batchBytes() int { return s.maxBuffer / 4 * 3 }
