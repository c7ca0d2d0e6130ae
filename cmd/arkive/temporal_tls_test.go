package main

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
)

// #18 point 3: the commands reach a Temporal behind TLS with a client certificate (mTLS) and
// an API key, from files; a wrong key, a missing client certificate and bad flags fail with
// the flag named, and no key reaches the output.
//
// The stand-in for a production frontend is a gRPC proxy in this test: it terminates TLS,
// requires a client certificate from the test CA and the API key as a bearer token, and
// forwards each call to the dev server (which serves plain gRPC only). A real Temporal
// frontend with TLS would check the same things itself, and map the certificate or key to
// namespaces.
func TestTemporalTLSAndAPIKey(t *testing.T) {
	addr := testenv.Temporal(t)
	c, err := client.Dial(client.Options{HostPort: addr})
	require.NoError(t, err)
	defer c.Close()
	dir := t.TempDir()
	pki := newTestPKI(t, dir)
	const apiKey = "arkive-test-api-key-0c5e"
	keyFile := filepath.Join(dir, "api-key")
	require.NoError(t, os.WriteFile(keyFile, []byte(apiKey+"\n"), 0o600))
	proxy := startAuthProxy(t, addr, pki, apiKey)

	name := fmt.Sprintf("tls-%d", time.Now().UnixNano())
	id := workflows.WorkflowID("KafkaBackup", "team-a", name)
	_, err = c.ExecuteWorkflow(context.Background(), client.StartWorkflowOptions{ID: id, TaskQueue: "nobody-polls-" + name}, kafkabackup.WorkflowName, kafkabackup.Input{})
	require.NoError(t, err)
	defer func() { _ = c.TerminateWorkflow(context.Background(), id, "", "test done") }()

	secure := []string{"-n", "team-a", "--temporal-address", proxy.addr, "--temporal-tls-ca", pki.ca, "--temporal-tls-cert", pki.cert,
		"--temporal-tls-key", pki.key, "--temporal-tls-server-name", "temporal.test", "--temporal-api-key", keyFile}
	out, errOut, err := runCLI(append([]string{"trigger", "kb/" + name}, secure...)...)
	require.NoError(t, err, errOut)
	require.Contains(t, out, "sent trigger to "+id)
	require.Positive(t, proxy.authorized.Load(), "calls went through the proxy with the key")
	require.Equal(t, 1, signals(t, c, id, workflows.SignalTrigger), "the signal reached the workflow")

	// The environment variables say the same.
	for k, v := range map[string]string{"ARKIVE_TEMPORAL_TLS_CA": pki.ca, "ARKIVE_TEMPORAL_TLS_CERT": pki.cert, "ARKIVE_TEMPORAL_TLS_KEY": pki.key,
		"ARKIVE_TEMPORAL_TLS_SERVER_NAME": "temporal.test", "ARKIVE_TEMPORAL_API_KEY": keyFile} {
		t.Setenv(k, v)
	}
	_, errOut, err = runCLI("trigger", "kb/"+name, "-n", "team-a", "--temporal-address", proxy.addr)
	require.NoError(t, err, errOut)
	require.Equal(t, 2, signals(t, c, id, workflows.SignalTrigger))
	for _, k := range []string{"ARKIVE_TEMPORAL_TLS_CA", "ARKIVE_TEMPORAL_TLS_CERT", "ARKIVE_TEMPORAL_TLS_KEY", "ARKIVE_TEMPORAL_TLS_SERVER_NAME", "ARKIVE_TEMPORAL_API_KEY"} {
		t.Setenv(k, "")
	}

	// A wrong key: refused, and neither key is printed.
	wrongFile := filepath.Join(dir, "wrong-key")
	require.NoError(t, os.WriteFile(wrongFile, []byte("not-the-key-77"), 0o600))
	wrong := append([]string(nil), secure...)
	wrong[len(wrong)-1] = wrongFile
	out, errOut, err = runCLI(append([]string{"trigger", "kb/" + name}, wrong...)...)
	require.Error(t, err)
	require.Contains(t, err.Error(), "Unauthenticated")
	for _, s := range []string{out, errOut, err.Error()} {
		require.NotContains(t, s, "not-the-key-77")
		require.NotContains(t, s, apiKey)
	}

	// No client certificate: the TLS handshake fails.
	_, _, err = runCLI("trigger", "kb/"+name, "-n", "team-a", "--temporal-address", proxy.addr, "--temporal-tls-ca", pki.ca,
		"--temporal-tls-server-name", "temporal.test", "--temporal-api-key", keyFile)
	require.Error(t, err)
	require.Equal(t, 2, signals(t, c, id, workflows.SignalTrigger), "no signal without the certificate or the key")

	// Flags that cannot work are said before any connection.
	for want, args := range map[string][]string{
		"--temporal-tls-cert and --temporal-tls-key: give both":       {"--temporal-tls-cert", pki.cert},
		"--temporal-api-key: stat " + filepath.Join(dir, "absent"):    {"--temporal-api-key", filepath.Join(dir, "absent")},
		"--temporal-tls-ca: " + pki.key + " holds no PEM certificate": {"--temporal-tls-ca", pki.key},
	} {
		_, _, err := runCLI(append([]string{"trigger", "kb/" + name, "-n", "team-a", "--temporal-address", proxy.addr}, args...)...)
		require.ErrorContains(t, err, want)
	}
}

// signals counts the signals of that name in the workflow's history.
func signals(t *testing.T, c client.Client, id, name string) int {
	it := c.GetWorkflowHistory(context.Background(), id, "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	n := 0
	for it.HasNext() {
		e, err := it.Next()
		require.NoError(t, err)
		if a := e.GetWorkflowExecutionSignaledEventAttributes(); a != nil && a.SignalName == name {
			n++
		}
	}
	return n
}

// testPKI is a CA, a server certificate for temporal.test and a client certificate, as PEM
// files.
type testPKI struct {
	ca, cert, key string
	pool          *x509.CertPool
	server        tls.Certificate
}

func newTestPKI(t *testing.T, dir string) testPKI {
	t.Helper()
	newKey := func() *ecdsa.PrivateKey {
		k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		require.NoError(t, err)
		return k
	}
	caKey := newKey()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "arkive test CA"}, NotBefore: time.Now().Add(-time.Hour),
		NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	require.NoError(t, err)
	caCert, err := x509.ParseCertificate(caDER)
	require.NoError(t, err)
	issue := func(serial int64, tmpl *x509.Certificate) ([]byte, *ecdsa.PrivateKey) {
		k := newKey()
		tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = big.NewInt(serial), time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
		der, err := x509.CreateCertificate(rand.Reader, tmpl, caCert, &k.PublicKey, caKey)
		require.NoError(t, err)
		return der, k
	}
	serverDER, serverKey := issue(2, &x509.Certificate{Subject: pkix.Name{CommonName: "temporal.test"}, DNSNames: []string{"temporal.test"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, KeyUsage: x509.KeyUsageDigitalSignature})
	clientDER, clientKey := issue(3, &x509.Certificate{Subject: pkix.Name{CommonName: "arkive-worker"},
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}, KeyUsage: x509.KeyUsageDigitalSignature})
	write := func(name, kind string, der []byte) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
		return p
	}
	keyDER := func(k *ecdsa.PrivateKey) []byte {
		der, err := x509.MarshalECPrivateKey(k)
		require.NoError(t, err)
		return der
	}
	pki := testPKI{ca: write("ca.pem", "CERTIFICATE", caDER), cert: write("client.pem", "CERTIFICATE", clientDER),
		key: write("client-key.pem", "EC PRIVATE KEY", keyDER(clientKey)), pool: x509.NewCertPool()}
	pki.pool.AddCert(caCert)
	pki.server = tls.Certificate{Certificate: [][]byte{serverDER}, PrivateKey: serverKey}
	return pki
}

// authProxy forwards gRPC calls to the dev server once the caller has shown a client
// certificate from the test CA and the API key.
type authProxy struct {
	addr       string
	authorized atomic.Int64
}

func startAuthProxy(t *testing.T, backend string, pki testPKI, apiKey string) *authProxy {
	t.Helper()
	conn, err := grpc.NewClient(backend, grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{})))
	require.NoError(t, err)
	t.Cleanup(func() { _ = conn.Close() })
	p := &authProxy{}
	creds := credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{pki.server}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: pki.pool, MinVersion: tls.VersionTLS12})
	srv := grpc.NewServer(grpc.Creds(creds), grpc.ForceServerCodec(rawCodec{}), grpc.UnknownServiceHandler(func(_ any, stream grpc.ServerStream) error {
		method, _ := grpc.MethodFromServerStream(stream)
		md, _ := metadata.FromIncomingContext(stream.Context())
		if auth := md.Get("authorization"); len(auth) != 1 || auth[0] != "Bearer "+apiKey {
			return status.Error(codes.Unauthenticated, "API key missing or wrong")
		}
		p.authorized.Add(1)
		var req []byte
		if err := stream.RecvMsg(&req); err != nil {
			return err
		}
		md.Delete("authorization")
		var resp []byte
		if err := conn.Invoke(metadata.NewOutgoingContext(stream.Context(), md), method, &req, &resp); err != nil {
			return err
		}
		return stream.SendMsg(&resp)
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(srv.Stop)
	p.addr = l.Addr().String()
	return p
}

// rawCodec passes messages through as bytes, so the proxy needs no Temporal types. It keeps
// the name "proto": callers and the dev server speak application/grpc+proto.
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }

func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append([]byte(nil), data...)
	return nil
}

func (rawCodec) Name() string { return "proto" }
