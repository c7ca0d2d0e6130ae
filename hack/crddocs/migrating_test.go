package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	apiextv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"sigs.k8s.io/yaml"
)

// fieldRef is an Arkive field as docs/migrating.md writes it: `Kind spec.path[].to.field`.
var fieldRef = regexp.MustCompile("`([A-Z][A-Za-z]+) ((?:spec|status)(?:\\.[A-Za-z0-9]+(?:\\[\\])?)*)`")

// Issue 21, acceptance 7: every Arkive field the migration tables name exists in the CRDs, and
// every table row maps to a field or says why there is none (—).
func TestMigrationTablesNameRealFields(t *testing.T) {
	schemas := map[string]*apiextv1.JSONSchemaProps{}
	files, err := filepath.Glob(filepath.Join("..", "..", "deploy", "crd", "arkive.io_*.yaml"))
	require.NoError(t, err)
	for _, f := range files {
		data, err := os.ReadFile(f)
		require.NoError(t, err)
		var crd apiextv1.CustomResourceDefinition
		require.NoError(t, yaml.Unmarshal(data, &crd))
		schemas[crd.Spec.Names.Kind] = crd.Spec.Versions[0].Schema.OpenAPIV3Schema
	}
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "migrating.md"))
	require.NoError(t, err)

	checked, rows := 0, 0
	for _, line := range strings.Split(string(doc), "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 5 || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") || strings.Contains(cells[2], "Arkive") {
			continue // not a table row, or a header
		}
		rows++
		arkive := strings.TrimSpace(cells[2])
		refs := fieldRef.FindAllStringSubmatch(line, -1)
		if arkive != "—" {
			require.Regexp(t, fieldRef, arkive, "row %q: the Arkive column names a field as `Kind spec.path`, or is —", line)
		}
		for _, ref := range refs {
			schema := schemas[ref[1]]
			require.NotNil(t, schema, "row %q: no CRD of kind %s", line, ref[1])
			require.True(t, hasPath(schema, ref[2]), "row %q: %s has no field %s", line, ref[1], ref[2])
			checked++
		}
	}
	require.Greater(t, rows, 60, "table rows found in docs/migrating.md")
	require.Greater(t, checked, 60, "field paths checked")
}

// hasPath says whether the schema has the dotted path; "x[]" steps into a list's items.
func hasPath(s *apiextv1.JSONSchemaProps, path string) bool {
	for _, step := range strings.Split(path, ".") {
		name, list := strings.CutSuffix(step, "[]")
		next, ok := s.Properties[name]
		if !ok {
			return false
		}
		s = &next
		if list {
			if s.Items == nil || s.Items.Schema == nil {
				return false
			}
			s = s.Items.Schema
		}
	}
	return true
}
