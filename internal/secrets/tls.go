package secrets

import (
	"cmp"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
)

// TLSConfig builds client TLS from a TLSConfig whose keys live in one Secret: the CA bundle when
// present (else the system roots) and, for mutual TLS, the client certificate and key.
func TLSConfig(ctx context.Context, spec *arkivev1.TLSConfig, sr Resolver) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if spec == nil || spec.SecretName == "" {
		return tc, nil // system roots, no client certificate
	}
	tc.ServerName = spec.ServerName
	tc.InsecureSkipVerify = spec.InsecureSkipVerify //nolint:gosec // documented as test-only in the API
	ca, err := sr.Resolve(ctx, arkivev1.SecretKeyRef{Name: spec.SecretName, Key: cmp.Or(spec.CAKey, "ca.crt")})
	switch {
	case err == nil:
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, fmt.Errorf("spec.tls.caKey: secret %s key %s holds no PEM certificate", spec.SecretName, cmp.Or(spec.CAKey, "ca.crt"))
		}
		tc.RootCAs = pool
	case !errors.Is(err, ErrNotFound):
		return nil, fmt.Errorf("spec.tls: %w", err)
	}
	// A client certificate is optional: mutual TLS only when both halves are present.
	cert, certErr := sr.Resolve(ctx, arkivev1.SecretKeyRef{Name: spec.SecretName, Key: cmp.Or(spec.CertKey, "tls.crt")})
	key, keyErr := sr.Resolve(ctx, arkivev1.SecretKeyRef{Name: spec.SecretName, Key: cmp.Or(spec.KeyKey, "tls.key")})
	for _, e := range []error{certErr, keyErr} {
		if e != nil && !errors.Is(e, ErrNotFound) {
			return nil, fmt.Errorf("spec.tls: %w", e)
		}
	}
	if (certErr == nil) != (keyErr == nil) {
		return nil, fmt.Errorf("spec.tls: secret %s has only one of the client certificate and key", spec.SecretName)
	}
	if certErr == nil {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("spec.tls: client certificate in secret %s: %w", spec.SecretName, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
