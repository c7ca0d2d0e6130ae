package secrets

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
)

// ErrNotFound is wrapped by errors for a Secret or key that does not exist.
var ErrNotFound = errors.New("not found")

// Resolver reads one key of a Secret in the resource's namespace.
type Resolver interface {
	Resolve(ctx context.Context, ref arkivev1.SecretKeyRef) ([]byte, error)
}

// Func adapts a function to Resolver.
type Func func(ctx context.Context, ref arkivev1.SecretKeyRef) ([]byte, error)

// Resolve calls f.
func (f Func) Resolve(ctx context.Context, ref arkivev1.SecretKeyRef) ([]byte, error) {
	return f(ctx, ref)
}

// Dir resolves references from files laid out as <dir>/<secret>/<key>: the layout of mounted
// Secrets, and what `arkive run --secrets-dir` reads.
func Dir(dir string) Resolver {
	return Func(func(_ context.Context, ref arkivev1.SecretKeyRef) ([]byte, error) {
		for _, part := range []string{ref.Name, ref.Key} {
			if part == "" || part == "." || part == ".." || strings.ContainsAny(part, `/\`) {
				return nil, fmt.Errorf("secret %s#%s: invalid name", ref.Name, ref.Key)
			}
		}
		b, err := os.ReadFile(filepath.Join(dir, ref.Name, ref.Key))
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("secret %s#%s: %w", ref.Name, ref.Key, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("secret %s#%s: %w", ref.Name, ref.Key, err)
		}
		return b, nil
	})
}

// Map resolves from an in-memory map keyed "name#key"; for tests and the demo.
type Map map[string]string

// Resolve looks the reference up.
func (m Map) Resolve(_ context.Context, ref arkivev1.SecretKeyRef) ([]byte, error) {
	v, ok := m[ref.Name+"#"+ref.Key]
	if !ok {
		return nil, fmt.Errorf("secret %s#%s: %w", ref.Name, ref.Key, ErrNotFound)
	}
	return []byte(v), nil
}

// String resolves a reference and trims surrounding white space (files often end in a newline).
func String(ctx context.Context, r Resolver, name, key string) (string, error) {
	if r == nil {
		return "", fmt.Errorf("secret %s#%s: no secret source configured", name, key)
	}
	v, err := r.Resolve(ctx, arkivev1.SecretKeyRef{Name: name, Key: key})
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(v)), nil
}
