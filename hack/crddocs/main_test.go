package main

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// Issue 22, point 9: every field's rules are listed once, whether the rule sits on the field
// or on the items of a list field.
func TestEveryRuleIsPrintedOnce(t *testing.T) {
	out := t.TempDir()
	require.NoError(t, run(filepath.Join("..", "..", "deploy", "crd"), filepath.Join("..", "..", "deploy", "samples"), out))
	pages, err := filepath.Glob(filepath.Join(out, "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, pages)
	rules := regexp.MustCompile(`\*\((.*)\)\*`)
	checked := 0
	for _, page := range pages {
		data, err := os.ReadFile(page)
		require.NoError(t, err)
		for _, line := range strings.Split(string(data), "\n") {
			m := rules.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			parts := strings.Split(m[1], "; ")
			for i, p := range parts {
				require.False(t, slices.Contains(parts[i+1:], p), "%s: %q printed twice in %s", filepath.Base(page), p, line)
			}
			checked++
		}
	}
	require.Greater(t, checked, 20, "rows with rules were found")
}
