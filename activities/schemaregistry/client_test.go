package schemaregistry

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/internal/secrets"
)

func testClient(t *testing.T, spec arkivev1.SchemaRegistrySpec, sr secrets.Resolver) *Client {
	c, err := NewClient(context.Background(), spec, sr, 4)
	require.NoError(t, err)
	c.backoff = time.Millisecond
	t.Cleanup(c.Close)
	return c
}

// Only 5xx and 429 are retried; every other answer is final at once.
func TestClientRetriesOnlyServerErrorsAndTooManyRequests(t *testing.T) {
	for name, tc := range map[string]struct {
		status   int
		requests int64
		ok       bool
	}{
		"503 then served":        {status: http.StatusServiceUnavailable, requests: 3, ok: true},
		"500 then served":        {status: http.StatusInternalServerError, requests: 3, ok: true},
		"429 then served":        {status: http.StatusTooManyRequests, requests: 3, ok: true},
		"403 not retried":        {status: http.StatusForbidden, requests: 1},
		"404 not retried":        {status: http.StatusNotFound, requests: 1},
		"422 not retried":        {status: http.StatusUnprocessableEntity, requests: 1},
		"401 not retried either": {status: http.StatusUnauthorized, requests: 1},
	} {
		t.Run(name, func(t *testing.T) {
			reg := registrytest.New()
			var n atomic.Int32
			reg.Fail = func(*http.Request) int {
				if n.Add(1) <= 2 {
					return tc.status
				}
				return 0
			}
			c := testClient(t, arkivev1.SchemaRegistrySpec{URLs: []string{reg.Start(t)}}, secrets.Map{})
			level, err := c.Compatibility(context.Background(), "")
			require.Equal(t, tc.requests, reg.Requests())
			if tc.ok {
				require.NoError(t, err)
				require.Equal(t, "BACKWARD", level)
				return
			}
			var ae *APIError
			require.ErrorAs(t, err, &ae)
			require.Equal(t, tc.status, ae.Status)
		})
	}
}

// An unreachable URL is skipped for the next; answers carry the API's error code.
func TestClientFailsOverAndKeepsCredentialsOutOfErrors(t *testing.T) {
	reg := registrytest.New()
	reg.Users = map[string]string{"svc": "pa55-word"}
	url := reg.Start(t)
	sr := secrets.Map{"creds#username": "svc", "creds#password": "pa55-word", "bad#username": "svc", "bad#password": "wrong-pa55"}
	c := testClient(t, arkivev1.SchemaRegistrySpec{URLs: []string{"http://127.0.0.1:1", url},
		BasicAuth: &arkivev1.BasicAuth{SecretName: "creds"}}, sr)
	names, err := c.Subjects(context.Background(), true, "")
	require.NoError(t, err)
	require.Empty(t, names)
	_, err = c.GetVersion(context.Background(), "missing", 1)
	require.True(t, isCode(err, codeSubjectNotFound), "%v", err)

	bad := testClient(t, arkivev1.SchemaRegistrySpec{URLs: []string{url}, BasicAuth: &arkivev1.BasicAuth{SecretName: "bad"}}, sr)
	_, err = bad.Compatibility(context.Background(), "")
	require.True(t, IsUnauthorized(err))
	require.NotContains(t, classify(err).Error(), "wrong-pa55")
	require.Contains(t, classify(err).Error(), "check spec.basicAuth or spec.bearerToken")

	tok := registrytest.New()
	tok.Tokens = []string{"t0ken"}
	turl := tok.Start(t)
	tc := testClient(t, arkivev1.SchemaRegistrySpec{URLs: []string{turl}, BearerToken: &arkivev1.SecretKeyRef{Name: "tok", Key: "token"}},
		secrets.Map{"tok#token": "t0ken\n"})
	_, err = tc.Mode(context.Background(), "")
	require.NoError(t, err, "bearer token, trailing newline of a mounted file trimmed")
}

// A spec that cannot work is refused naming the field.
func TestNewClientNamesTheField(t *testing.T) {
	for want, spec := range map[string]arkivev1.SchemaRegistrySpec{
		"spec.urls: at least one":                  {},
		"spec.urls[1]":                             {URLs: []string{"http://a", "ftp://b"}},
		"spec.bearerToken: set at":                 {URLs: []string{"http://a"}, BasicAuth: &arkivev1.BasicAuth{SecretName: "x"}, BearerToken: &arkivev1.SecretKeyRef{Name: "y", Key: "k"}},
		"spec.basicAuth: secret nope":              {URLs: []string{"http://a"}, BasicAuth: &arkivev1.BasicAuth{SecretName: "nope"}},
		"spec.urls[0]: must not carry credentials": {URLs: []string{"https://svc:hunter2@registry:8081"}},
	} {
		_, err := NewClient(context.Background(), spec, secrets.Map{}, 1)
		require.ErrorContains(t, err, want)
	}
	_, err := NewClient(context.Background(), arkivev1.SchemaRegistrySpec{URLs: []string{"http://a"}, BasicAuth: &arkivev1.BasicAuth{SecretName: "nope"}}, secrets.Map{}, 1)
	require.True(t, errors.Is(err, secrets.ErrNotFound))
	_, err = NewClient(context.Background(), arkivev1.SchemaRegistrySpec{URLs: []string{"https://svc:hunter2@registry:8081"}}, secrets.Map{}, 1)
	require.NotContains(t, err.Error(), "hunter2", "the error does not echo the credential")
}

// https with the CA from a Secret; without it the system roots do not trust the registry.
func TestClientTrustsTheCAFromTheSecret(t *testing.T) {
	reg := registrytest.New()
	url, ca := reg.StartTLS(t)
	spec := arkivev1.SchemaRegistrySpec{URLs: []string{url}, TLS: &arkivev1.TLSConfig{SecretName: "registry-ca"}}
	c := testClient(t, spec, secrets.Map{"registry-ca#ca.crt": string(ca)})
	level, err := c.Compatibility(context.Background(), "")
	require.NoError(t, err)
	require.Equal(t, "BACKWARD", level)

	untrusted := testClient(t, arkivev1.SchemaRegistrySpec{URLs: []string{url}}, secrets.Map{})
	untrusted.attempts = 1
	_, err = untrusted.Compatibility(context.Background(), "")
	require.ErrorContains(t, err, "certificate")
	_, err = NewClient(context.Background(), arkivev1.SchemaRegistrySpec{URLs: []string{url}, TLS: &arkivev1.TLSConfig{SecretName: "registry-ca"}},
		secrets.Map{"registry-ca#ca.crt": "not a certificate"}, 1)
	require.ErrorContains(t, err, "spec.tls.caKey")
}
