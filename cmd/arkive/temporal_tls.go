package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"arkive.io/arkive/activities/kube"
)

// temporalSecurity is how a command reaches a Temporal that needs TLS (self-hosted with mTLS,
// Temporal Cloud) or an API key. Every value is a path to a file (a mounted Secret), read when
// a connection or a call needs it, so rotated certificates and keys are picked up without a
// restart, and no secret travels in flags, environment or logs.
type temporalSecurity struct {
	tls                 bool
	caFile, certFile    string
	keyFile, serverName string
	apiKeyFile          string
	apiKey              *apiKeyCache
}

// apiKeyCache is the API key last read from its file.
type apiKeyCache struct {
	mu         sync.Mutex
	key        string
	read, time time.Time // when it was last checked, and the file's modification time then
}

func (s *temporalSecurity) register(fs *flag.FlagSet) {
	s.apiKey = &apiKeyCache{}
	fs.BoolVar(&s.tls, "temporal-tls", envOr("ARKIVE_TEMPORAL_TLS", "") == "true", "connect to Temporal with TLS, verifying it against the system's roots; implied by the other --temporal-tls-* flags and by --temporal-api-key (env ARKIVE_TEMPORAL_TLS=true)")
	fs.StringVar(&s.caFile, "temporal-tls-ca", envOr("ARKIVE_TEMPORAL_TLS_CA", ""), "PEM file of the CA certificates that sign Temporal's server certificate, instead of the system's roots (env ARKIVE_TEMPORAL_TLS_CA)")
	fs.StringVar(&s.certFile, "temporal-tls-cert", envOr("ARKIVE_TEMPORAL_TLS_CERT", ""), "PEM file of the client certificate for mTLS, with --temporal-tls-key (env ARKIVE_TEMPORAL_TLS_CERT)")
	fs.StringVar(&s.keyFile, "temporal-tls-key", envOr("ARKIVE_TEMPORAL_TLS_KEY", ""), "PEM file of the client certificate's private key (env ARKIVE_TEMPORAL_TLS_KEY)")
	fs.StringVar(&s.serverName, "temporal-tls-server-name", envOr("ARKIVE_TEMPORAL_TLS_SERVER_NAME", ""), "name to verify Temporal's certificate against, when it differs from the address's host (env ARKIVE_TEMPORAL_TLS_SERVER_NAME)")
	fs.StringVar(&s.apiKeyFile, "temporal-api-key", envOr("ARKIVE_TEMPORAL_API_KEY", ""), "file holding the API key sent to Temporal (Temporal Cloud); implies TLS (env ARKIVE_TEMPORAL_API_KEY, a path)")
}

// mover is what the worker's mover Pods get (kube.MoverTemporal copies the files into a
// Secret beside each).
func (s *temporalSecurity) mover() kube.MoverTemporal {
	return kube.MoverTemporal{TLS: s.tls, CAFile: s.caFile, CertFile: s.certFile, KeyFile: s.keyFile,
		APIKeyFile: s.apiKeyFile, ServerName: s.serverName}
}

// options returns the connection options and credentials the flags ask for, after checking
// that every file named can be read (the errors name the flag and the path, never contents).
func (s *temporalSecurity) options() (client.ConnectionOptions, client.Credentials, error) {
	var conn client.ConnectionOptions
	if (s.certFile == "") != (s.keyFile == "") {
		return conn, nil, errors.New("--temporal-tls-cert and --temporal-tls-key: give both (a client certificate and its key) or neither")
	}
	if !s.tls && s.caFile == "" && s.certFile == "" && s.serverName == "" {
		return conn, s.credentials(), s.checkAPIKey()
	}
	cfg := &tls.Config{ServerName: s.serverName, MinVersion: tls.VersionTLS12}
	if s.caFile != "" {
		pem, err := os.ReadFile(s.caFile)
		if err != nil {
			return conn, nil, fmt.Errorf("--temporal-tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return conn, nil, fmt.Errorf("--temporal-tls-ca: %s holds no PEM certificate", s.caFile)
		}
	}
	if s.certFile != "" {
		if _, err := s.clientCertificate(nil); err != nil {
			return conn, nil, err
		}
		// Read at each handshake: a rotated Secret is used from the next connection on.
		cfg.GetClientCertificate = s.clientCertificate
	}
	conn.TLS = cfg
	return conn, s.credentials(), s.checkAPIKey()
}

func (s *temporalSecurity) clientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(s.certFile, s.keyFile)
	if err != nil {
		return nil, fmt.Errorf("--temporal-tls-cert, --temporal-tls-key (%s, %s): %w", s.certFile, s.keyFile, err)
	}
	return &cert, nil
}

func (s *temporalSecurity) credentials() client.Credentials {
	if s.apiKeyFile == "" {
		return nil
	}
	return client.NewAPIKeyDynamicCredentials(func(context.Context) (string, error) { return s.readAPIKey() })
}

func (s *temporalSecurity) checkAPIKey() error {
	if s.apiKeyFile == "" {
		return nil
	}
	_, err := s.readAPIKey()
	return err
}

// readAPIKey returns the key file's content without surrounding white space, read again when
// the file changed (checked at most every 10 s: every call to Temporal asks).
func (s *temporalSecurity) readAPIKey() (string, error) {
	c := s.apiKey
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now()
	if c.key != "" && now.Sub(c.read) < 10*time.Second {
		return c.key, nil
	}
	info, err := os.Stat(s.apiKeyFile)
	if err != nil {
		return "", fmt.Errorf("--temporal-api-key: %w", err)
	}
	if c.key == "" || !info.ModTime().Equal(c.time) {
		data, err := os.ReadFile(s.apiKeyFile)
		if err != nil {
			return "", fmt.Errorf("--temporal-api-key: %w", err)
		}
		key := string(bytes.TrimSpace(data))
		if key == "" {
			return "", fmt.Errorf("--temporal-api-key: %s is empty", s.apiKeyFile)
		}
		c.key, c.time = key, info.ModTime()
	}
	c.read = now
	return c.key, nil
}
