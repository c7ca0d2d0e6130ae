package registrytest

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

type call struct {
	method, path string
	body         any
	status, code int // code: the error_code expected (0 on success)
}

func do(t *testing.T, base string, c call) map[string]any {
	t.Helper()
	var body bytes.Buffer
	if c.body != nil {
		require.NoError(t, json.NewEncoder(&body).Encode(c.body))
	}
	req, err := http.NewRequest(c.method, base+c.path, &body)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	require.Equal(t, c.status, resp.StatusCode, "%s %s: %v", c.method, c.path, out)
	m, _ := out.(map[string]any)
	if c.code != 0 {
		require.EqualValues(t, c.code, m["error_code"], "%s %s: %v", c.method, c.path, out)
	}
	return m
}

// The documented behaviour the restore relies on, call by call: ids shared by identical
// schemas, IMPORT mode rules, soft and permanent deletes, references, subject settings.
func TestRegistryFollowsTheDocumentedAPI(t *testing.T) {
	base := New().Start(t)
	avro := func(n string) map[string]any {
		return map[string]any{"schema": `{"type":"record","name":"` + n + `","fields":[]}`}
	}
	for _, c := range []call{
		{"POST", "/subjects/a/versions", avro("A"), 200, 0},
		{"POST", "/subjects/b/versions", avro("A"), 200, 0}, // same schema: same id (checked below)
		{"POST", "/subjects/a/versions", map[string]any{"schema": "not json"}, 422, 42201},
		{"POST", "/subjects/a/versions", map[string]any{"schema": `"string"`, "id": 50}, 422, 42205}, // ids only in IMPORT
		{"POST", "/subjects/c/versions", map[string]any{"schema": `"string"`, "references": []map[string]any{{"name": "x", "subject": "nope", "version": 1}}}, 422, 42201},
		{"GET", "/subjects/nope/versions", nil, 404, 40401},
		{"GET", "/subjects/a/versions/7", nil, 404, 40402},
		{"GET", "/subjects/a/versions/0", nil, 422, 42202},
		{"GET", "/schemas/ids/999", nil, 404, 40403},
		{"PUT", "/mode", map[string]string{"mode": "IMPORT"}, 422, 42205}, // not empty: needs force
		{"PUT", "/mode", map[string]string{"mode": "SIDEWAYS"}, 422, 42204},
		{"PUT", "/config", map[string]string{"compatibility": "SOMETIMES"}, 422, 42203},
		{"GET", "/config/a", nil, 404, 40408},
		{"GET", "/mode/a", nil, 404, 40409},
		{"DELETE", "/subjects/a/versions/1?permanent=true", nil, 404, 40407}, // soft-delete first
		{"DELETE", "/subjects/a?permanent=true", nil, 404, 40405},
	} {
		do(t, base, c)
	}
	require.Equal(t, do(t, base, call{"GET", "/subjects/a/versions/1", nil, 200, 0})["id"], do(t, base, call{"GET", "/subjects/b/versions/1", nil, 200, 0})["id"])

	// References pin what they import.
	do(t, base, call{"POST", "/subjects/d/versions", map[string]any{"schema": `"string"`, "references": []map[string]any{{"name": "A", "subject": "a", "version": 1}}}, 200, 0})
	do(t, base, call{"DELETE", "/subjects/a/versions/1", nil, 422, 42206})
	do(t, base, call{"DELETE", "/subjects/d/versions/1", nil, 200, 0})
	do(t, base, call{"DELETE", "/subjects/d/versions/1", nil, 404, 40406}) // already soft-deleted
	do(t, base, call{"GET", "/subjects/d/versions/1?deleted=true", nil, 200, 0})
	do(t, base, call{"DELETE", "/subjects/d", nil, 404, 40404}) // wholly soft-deleted
	do(t, base, call{"DELETE", "/subjects/a/versions/1", nil, 200, 0})

	// IMPORT with force: ids and versions as given; an id may not be overwritten.
	do(t, base, call{"PUT", "/mode?force=true", map[string]string{"mode": "IMPORT"}, 200, 0})
	do(t, base, call{"POST", "/subjects/e/versions", map[string]any{"schema": `"long"`, "id": 40, "version": 3}, 200, 0})
	do(t, base, call{"POST", "/subjects/f/versions", map[string]any{"schema": `"int"`, "id": 40, "version": 1}, 422, 42205})
	got := do(t, base, call{"GET", "/subjects/e/versions/3", nil, 200, 0})
	require.EqualValues(t, 40, got["id"])
	do(t, base, call{"PUT", "/mode", map[string]string{"mode": "READONLY"}, 200, 0})
	do(t, base, call{"POST", "/subjects/g/versions", map[string]any{"schema": `"int"`}, 422, 42205})
	do(t, base, call{"PUT", "/mode/g", map[string]string{"mode": "READWRITE"}, 200, 0}) // a subject's own mode wins
	do(t, base, call{"POST", "/subjects/g/versions", map[string]any{"schema": `"int"`}, 200, 0})
	require.EqualValues(t, "READWRITE", do(t, base, call{"DELETE", "/mode/g", nil, 200, 0})["mode"])
	require.EqualValues(t, "READONLY", do(t, base, call{"GET", "/mode/g?defaultToGlobal=true", nil, 200, 0})["mode"])
}

func TestRegistryAuth(t *testing.T) {
	s := New()
	s.Users = map[string]string{"svc": "pw"}
	s.Tokens = []string{"tok"}
	base := s.Start(t)
	for name, set := range map[string]func(*http.Request){
		"none":       func(*http.Request) {},
		"wrong pass": func(r *http.Request) { r.SetBasicAuth("svc", "nope") },
		"wrong tok":  func(r *http.Request) { r.Header.Set("Authorization", "Bearer nope") },
	} {
		req, _ := http.NewRequest(http.MethodGet, base+"/config", nil)
		set(req)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusUnauthorized, resp.StatusCode, name)
	}
	_, err := DumpAPI(base, func(r *http.Request) { r.Header.Set("Authorization", "Bearer tok") })
	require.NoError(t, err)
	_, err = DumpAPI(base, func(r *http.Request) { r.SetBasicAuth("svc", "pw") })
	require.NoError(t, err)
}

// Metadata and rule sets are part of a schema's identity; config writes merge (null clears);
// fields the API does not know are kept only by a server set to behave like a newer registry.
func TestRegistryKeepsMetadataConfigFieldsAndUnknownFields(t *testing.T) {
	for _, newer := range []bool{false, true} {
		s := New()
		s.UnknownFields = newer
		base := s.Start(t)
		schema := `{"type":"record","name":"M","fields":[]}`
		meta := func(owner string) map[string]any { return map[string]any{"properties": map[string]any{"owner": owner}} }
		a := do(t, base, call{"POST", "/subjects/m/versions", map[string]any{"schema": schema, "metadata": meta("a"), "x-new": 1}, 200, 0})
		b := do(t, base, call{"POST", "/subjects/m/versions", map[string]any{"schema": schema, "metadata": meta("b")}, 200, 0})
		require.NotEqual(t, a["id"], b["id"], "other metadata, another schema")
		do(t, base, call{"POST", "/subjects/m/versions", map[string]any{"schema": schema, "metadata": "x"}, 422, 422})
		v1 := do(t, base, call{"GET", "/subjects/m/versions/1", nil, 200, 0})
		require.Equal(t, meta("a"), v1["metadata"])
		require.Equal(t, newer, v1["x-new"] != nil, "unknown field kept: %v", v1)
		require.Equal(t, meta("a"), do(t, base, call{"GET", "/schemas/ids/1", nil, 200, 0})["metadata"])

		do(t, base, call{"PUT", "/config/m", map[string]any{"compatibility": "FULL", "normalize": true, "x-cfg": "y"}, 200, 0})
		do(t, base, call{"PUT", "/config/m", map[string]any{"compatibilityGroup": "g"}, 200, 0})
		got := do(t, base, call{"GET", "/config/m", nil, 200, 0})
		want := map[string]any{"compatibilityLevel": "FULL", "normalize": true, "compatibilityGroup": "g"}
		if newer {
			want["x-cfg"] = "y"
		}
		require.Equal(t, want, got, "a write merges")
		do(t, base, call{"PUT", "/config/m", map[string]any{"normalize": nil}, 200, 0})
		require.NotContains(t, do(t, base, call{"GET", "/config/m", nil, 200, 0}), "normalize", "null clears")
		do(t, base, call{"DELETE", "/config/m", nil, 200, 0})
		do(t, base, call{"GET", "/config/m", nil, 404, 40408})
		do(t, base, call{"PUT", "/config", map[string]any{"defaultMetadata": meta("d")}, 200, 0})
		require.Equal(t, map[string]any{"compatibilityLevel": "BACKWARD", "defaultMetadata": meta("d")}, do(t, base, call{"GET", "/config", nil, 200, 0}))
	}
}
