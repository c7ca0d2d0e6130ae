package registrytest

import (
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// Error codes of the Confluent API.
const (
	codeSubjectNotFound          = 40401
	codeVersionNotFound          = 40402
	codeSchemaNotFound           = 40403
	codeSubjectSoftDeleted       = 40404
	codeSubjectNotSoftDeleted    = 40405
	codeVersionSoftDeleted       = 40406
	codeVersionNotSoftDeleted    = 40407
	codeSubjectConfigNotFound    = 40408
	codeSubjectModeNotFound      = 40409
	codeInvalidSchema            = 42201
	codeInvalidVersion           = 42202
	codeInvalidCompatibility     = 42203
	codeInvalidMode              = 42204
	codeOperationNotPermitted    = 42205
	codeReferenceExists          = 42206
	codeUnauthorized             = 401
	defaultCompatibility         = "BACKWARD"
	defaultMode                  = "READWRITE"
	contextPrefix                = ":."
	allContextsPrefix            = ":*:"
	importMode                   = "IMPORT"
	readOnlyMode                 = "READONLY"
	readOnlyOverrideMode         = "READONLY_OVERRIDE"
	schemaTypeAvro               = "AVRO"
	maxBody                      = 16 << 20
	contentTypeSchemaRegistryV1  = "application/vnd.schemaregistry.v1+json"
	errMessageSubjectNotFound    = "Subject '%s' not found."
	errMessageVersionNotFound    = "Version %d not found."
	errMessageOverwriteSchemaID  = "Overwrite new schema with id %d is not permitted."
	errMessageImportNonEmpty     = "Cannot import since found existing subjects"
	errMessageNotImportMode      = "Subject %s is not in import mode"
	errMessageReadOnly           = "Subject %s is in read-only mode"
	errMessageReferenceExists    = "One or more references exist to the schema {subject=%s,version=%d}."
	errMessageUnauthorizedAccess = "Unauthorized"
)

// Reference is a schema reference as the API spells it.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

type schema struct {
	Type   string
	Schema string
	Refs   []Reference
	// Fields are the other fields of the registration (metadata, ruleSet and, when the server
	// keeps unknown fields, those), canonical JSON: part of the schema's identity.
	Fields string `json:",omitempty"`
}

func (s schema) key() string {
	b, _ := json.Marshal(s)
	return string(b)
}

type version struct {
	Version int
	ID      int
	Deleted bool
	Seq     int // registration order across the registry
}

type subject struct {
	Versions      []*version // by version number
	Compatibility string     // "" when not set
	Mode          string
	// Config are the subject's config fields besides the level (normalize, …).
	Config map[string]json.RawMessage
}

func (s *subject) live() []*version {
	var out []*version
	for _, v := range s.Versions {
		if !v.Deleted {
			out = append(out, v)
		}
	}
	return out
}

func (s *subject) find(n int) *version {
	for _, v := range s.Versions {
		if v.Version == n {
			return v
		}
	}
	return nil
}

// Server is an in-memory registry. Its fields configure it before Start.
type Server struct {
	// Users, when set, require HTTP basic auth with one of these user → password pairs.
	Users map[string]string
	// Tokens, when set, are accepted as bearer tokens (with or without Users).
	Tokens []string
	// Fail, when set, is asked before each request; a non-zero status is answered instead
	// (fault injection: 503, 429, …).
	Fail func(r *http.Request) int
	// NoWildcard, while set, behaves like registries that do not implement the all-contexts
	// prefix ":*:": such a listing answers [] whatever the registry holds.
	NoWildcard atomic.Bool
	// RegistrationOrder, when set before Start, lists the subject versions sharing an id
	// (GET /schemas/ids/{id}/versions) in the order they were registered, as some registries
	// do; otherwise by subject name, as others do.
	RegistrationOrder bool
	// UnknownFields, when set before Start, behaves like a registry newer than Arkive: fields
	// of a registration or config write that this server does not know are kept and answered
	// back (the Confluent API's own are always kept). Otherwise they are ignored.
	UnknownFields bool

	mu        sync.Mutex
	config    map[string]json.RawMessage // global config fields besides the level
	schemas   map[int]schema
	byContent map[string]int
	subjects  map[string]*subject
	nextID    int
	seq       int
	compat    string
	mode      string
	requests  atomic.Int64
	srv       *httptest.Server
}

// New returns an empty registry with the Confluent defaults (BACKWARD, READWRITE).
func New() *Server {
	return &Server{schemas: map[int]schema{}, byContent: map[string]int{}, subjects: map[string]*subject{}, nextID: 1,
		compat: defaultCompatibility, mode: defaultMode}
}

// Start serves the registry on a loopback port until the test ends and returns its URL.
func (s *Server) Start(t testing.TB) string {
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s.srv.URL
}

// StartTLS serves the registry over HTTPS on a loopback port until the test ends and returns its
// URL and the PEM certificate a client must trust to reach it.
func (s *Server) StartTLS(t testing.TB) (url string, caPEM []byte) {
	s.srv = httptest.NewTLSServer(s)
	t.Cleanup(s.srv.Close)
	return s.srv.URL, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.srv.Certificate().Raw})
}

// Requests is how many requests the server has answered.
func (s *Server) Requests() int64 { return s.requests.Load() }

type apiError struct {
	status int
	code   int
	msg    string
}

func errorf(code int, format string, args ...any) *apiError {
	status := code
	for status >= 1000 {
		status /= 10
	}
	return &apiError{status: status, code: code, msg: fmt.Sprintf(format, args...)}
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	w.Header().Set("Content-Type", contentTypeSchemaRegistryV1)
	if s.Fail != nil {
		if st := s.Fail(r); st != 0 {
			writeError(w, &apiError{status: st, code: st*100 + 1, msg: "injected failure"})
			return
		}
	}
	if !s.authorized(r) {
		writeError(w, errorf(codeUnauthorized, errMessageUnauthorizedAccess))
		return
	}
	out, aerr := s.route(r)
	if aerr != nil {
		writeError(w, aerr)
		return
	}
	_ = json.NewEncoder(w).Encode(out)
}

func writeError(w http.ResponseWriter, e *apiError) {
	w.WriteHeader(e.status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error_code": e.code, "message": e.msg})
}

func (s *Server) authorized(r *http.Request) bool {
	if len(s.Users) == 0 && len(s.Tokens) == 0 {
		return true
	}
	if user, pass, ok := r.BasicAuth(); ok {
		want, known := s.Users[user]
		return known && want == pass
	}
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return slices.Contains(s.Tokens, tok)
	}
	return false
}

// route dispatches by path. Subject names are path segments (escaped by clients).
func (s *Server) route(r *http.Request) (any, *apiError) {
	parts := strings.Split(strings.Trim(r.URL.EscapedPath(), "/"), "/")
	for i, p := range parts {
		if u, err := url.PathUnescape(p); err == nil {
			parts[i] = u
		}
	}
	q := r.URL.Query()
	s.mu.Lock()
	defer s.mu.Unlock()
	m := r.Method
	switch {
	case len(parts) == 1 && parts[0] == "subjects" && m == http.MethodGet:
		if s.NoWildcard.Load() && q.Get("subjectPrefix") == allContextsPrefix {
			return []string{}, nil
		}
		return s.listSubjects(q.Get("subjectPrefix"), q.Get("deleted") == "true"), nil
	case len(parts) == 1 && parts[0] == "contexts" && m == http.MethodGet:
		return s.contexts(), nil
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions" && m == http.MethodGet:
		return s.listVersions(parts[1], q.Get("deleted") == "true")
	case len(parts) == 3 && parts[0] == "subjects" && parts[2] == "versions" && m == http.MethodPost:
		return s.register(r, parts[1])
	case len(parts) == 4 && parts[0] == "subjects" && parts[2] == "versions" && m == http.MethodGet:
		return s.getVersion(parts[1], parts[3], q.Get("deleted") == "true")
	case len(parts) == 4 && parts[0] == "subjects" && parts[2] == "versions" && m == http.MethodDelete:
		return s.deleteVersion(parts[1], parts[3], q.Get("permanent") == "true")
	case len(parts) == 2 && parts[0] == "subjects" && m == http.MethodPost:
		return s.lookup(r, parts[1], q.Get("deleted") == "true")
	case len(parts) == 2 && parts[0] == "subjects" && m == http.MethodDelete:
		return s.deleteSubject(parts[1], q.Get("permanent") == "true")
	case len(parts) == 3 && parts[0] == "schemas" && parts[1] == "ids" && m == http.MethodGet:
		return s.getSchema(parts[2])
	case len(parts) == 4 && parts[0] == "schemas" && parts[1] == "ids" && parts[3] == "versions" && m == http.MethodGet:
		return s.schemaVersions(parts[2])
	case parts[0] == "config" && len(parts) <= 2:
		return s.configuration(r, parts)
	case parts[0] == "mode" && len(parts) <= 2:
		return s.setting(r, parts, "mode", "mode")
	}
	return nil, &apiError{status: 404, code: 404, msg: "HTTP 404 Not Found"}
}

func inDefaultContext(name string) bool { return !strings.HasPrefix(name, contextPrefix) }

func (s *Server) listSubjects(prefix string, deleted bool) []string {
	out := []string{}
	for name, sub := range s.subjects {
		switch {
		case prefix == allContextsPrefix:
		case prefix == "" && !inDefaultContext(name):
			continue
		case prefix != "" && !strings.HasPrefix(name, prefix):
			continue
		}
		if len(sub.Versions) > 0 && (deleted || len(sub.live()) > 0) {
			out = append(out, name)
		}
	}
	sort.Strings(out)
	return out
}

func (s *Server) contexts() []string {
	set := map[string]bool{".": true}
	for name := range s.subjects {
		if rest, ok := strings.CutPrefix(name, ":"); ok && strings.HasPrefix(rest, ".") {
			if ctx, _, found := strings.Cut(rest, ":"); found {
				set[ctx] = true
			}
		}
	}
	out := make([]string, 0, len(set))
	for c := range set {
		out = append(out, c)
	}
	sort.Strings(out)
	return out
}

// subject returns a subject with at least one version (live unless deleted is true).
func (s *Server) subject(name string, deleted bool) (*subject, *apiError) {
	sub := s.subjects[name]
	if sub == nil || len(sub.Versions) == 0 || (!deleted && len(sub.live()) == 0) {
		return nil, errorf(codeSubjectNotFound, errMessageSubjectNotFound, name)
	}
	return sub, nil
}

func (s *Server) listVersions(name string, deleted bool) (any, *apiError) {
	sub, err := s.subject(name, deleted)
	if err != nil {
		return nil, err
	}
	out := []int{}
	for _, v := range sub.Versions {
		if deleted || !v.Deleted {
			out = append(out, v.Version)
		}
	}
	return out, nil
}

func (s *Server) resolveVersion(sub *subject, name, ver string, deleted bool) (*version, *apiError) {
	if ver == "latest" || ver == "-1" {
		vs := sub.Versions
		if !deleted {
			vs = sub.live()
		}
		if len(vs) == 0 {
			return nil, errorf(codeSubjectNotFound, errMessageSubjectNotFound, name)
		}
		return vs[len(vs)-1], nil
	}
	n, err := strconv.Atoi(ver)
	if err != nil || n <= 0 {
		return nil, errorf(codeInvalidVersion, "The specified version '%s' is not a valid version id. Allowed values are between [1, 2^31-1] and the string \"latest\"", ver)
	}
	v := sub.find(n)
	if v == nil || (v.Deleted && !deleted) {
		return nil, errorf(codeVersionNotFound, errMessageVersionNotFound, n)
	}
	return v, nil
}

func (s *Server) versionJSON(name string, v *version) map[string]any {
	out := s.schemas[v.ID].answer()
	out["subject"], out["version"], out["id"] = name, v.Version, v.ID
	return out
}

func (s *Server) getVersion(name, ver string, deleted bool) (any, *apiError) {
	sub, err := s.subject(name, deleted)
	if err != nil {
		return nil, err
	}
	v, err := s.resolveVersion(sub, name, ver, deleted)
	if err != nil {
		return nil, err
	}
	return s.versionJSON(name, v), nil
}

func (s *Server) effectiveMode(name string) string {
	if sub := s.subjects[name]; sub != nil && sub.Mode != "" {
		return sub.Mode
	}
	return s.mode
}

type registerRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType"`
	References []Reference `json:"references"`
	ID         int         `json:"id"`
	Version    int         `json:"version"`
}

// fields is a new answer object holding the schema's other fields.
func (sc schema) fields() map[string]any {
	out := map[string]any{}
	if sc.Fields != "" {
		_ = json.Unmarshal([]byte(sc.Fields), &out)
	}
	return out
}

// registerNamed are the registration fields registerRequest reads.
var registerNamed = []string{"schema", "schemaType", "references", "id", "version"}

// objectFields are the API's fields whose value must be an object (or null), of registrations
// and configs.
var objectFields = []string{"metadata", "ruleSet", "defaultMetadata", "overrideMetadata", "defaultRuleSet", "overrideRuleSet"}

// keptFields returns the fields of a request object beside the named ones that the server
// keeps: the API's own (known) and, with UnknownFields, any other. Objects are checked.
func (s *Server) keptFields(body []byte, named, known []string) (map[string]json.RawMessage, *apiError) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(body, &all); err != nil {
		return nil, &apiError{status: 422, code: 422, msg: "Unrecognized request body: " + err.Error()}
	}
	out := map[string]json.RawMessage{}
	for k, v := range all {
		switch {
		case slices.Contains(named, k):
		case slices.Contains(objectFields, k):
			if t := strings.TrimSpace(string(v)); t != "null" && !strings.HasPrefix(t, "{") {
				return nil, &apiError{status: 422, code: 422, msg: fmt.Sprintf("Unrecognized field value: %s must be an object", k)}
			}
			out[k] = canonical(v)
		case slices.Contains(known, k), s.UnknownFields:
			out[k] = canonical(v)
		}
	}
	return out, nil
}

func canonical(raw json.RawMessage) json.RawMessage {
	var v any
	if json.Unmarshal(raw, &v) != nil {
		return raw
	}
	b, _ := json.Marshal(v)
	return b
}

// parseSchema reads a registration's (or lookup's) body: the request and the schema it names.
func (s *Server) parseSchema(r *http.Request) (registerRequest, schema, *apiError) {
	var req registerRequest
	body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		return req, schema{}, &apiError{status: 422, code: 422, msg: "Unrecognized request body: " + err.Error()}
	}
	fields, aerr := s.keptFields(body, registerNamed, nil)
	if aerr != nil {
		return req, schema{}, aerr
	}
	for k, v := range fields {
		if string(v) == "null" {
			delete(fields, k)
		}
	}
	if req.SchemaType == "" {
		req.SchemaType = schemaTypeAvro
	}
	switch req.SchemaType {
	case schemaTypeAvro, "JSON":
		if !json.Valid([]byte(req.Schema)) {
			return req, schema{}, errorf(codeInvalidSchema, "Invalid schema: %s schema is not valid JSON", req.SchemaType)
		}
	case "PROTOBUF":
		if strings.TrimSpace(req.Schema) == "" {
			return req, schema{}, errorf(codeInvalidSchema, "Invalid schema: empty PROTOBUF schema")
		}
	default:
		return req, schema{}, errorf(codeInvalidSchema, "Invalid schema type %s", req.SchemaType)
	}
	for _, ref := range req.References {
		rs := s.subjects[ref.Subject]
		if rs == nil || rs.find(ref.Version) == nil || rs.find(ref.Version).Deleted {
			return req, schema{}, errorf(codeInvalidSchema, "Invalid schema: reference %s (subject %s, version %d) does not exist", ref.Name, ref.Subject, ref.Version)
		}
	}
	sc := schema{Type: req.SchemaType, Schema: req.Schema, Refs: req.References}
	if len(sc.Refs) == 0 {
		sc.Refs = nil
	}
	if len(fields) > 0 {
		b, _ := json.Marshal(fields) // sorted keys: one spelling per content
		sc.Fields = string(b)
	}
	return req, sc, nil
}

// lookup answers POST /subjects/{subject}: the subject's version holding the schema, with its
// id (soft-deleted versions too when asked).
func (s *Server) lookup(r *http.Request, name string, deleted bool) (any, *apiError) {
	_, sc, aerr := s.parseSchema(r)
	if aerr != nil {
		return nil, aerr
	}
	sub := s.subjects[name]
	if sub == nil {
		return nil, errorf(codeSubjectNotFound, errMessageSubjectNotFound, name)
	}
	key := sc.key()
	for _, v := range sub.Versions {
		if (deleted || !v.Deleted) && s.schemas[v.ID].key() == key {
			return s.versionJSON(name, v), nil
		}
	}
	return nil, errorf(codeSchemaNotFound, "Schema not found")
}

func (s *Server) register(r *http.Request, name string) (any, *apiError) {
	req, sc, aerr := s.parseSchema(r)
	if aerr != nil {
		return nil, aerr
	}
	mode := s.effectiveMode(name)
	if mode == readOnlyMode || mode == readOnlyOverrideMode {
		return nil, errorf(codeOperationNotPermitted, errMessageReadOnly, name)
	}
	if (req.ID > 0 || req.Version > 0) && mode != importMode {
		return nil, errorf(codeOperationNotPermitted, errMessageNotImportMode, name)
	}
	key := sc.key()
	sub := s.subjects[name]
	if sub == nil {
		sub = &subject{}
	}
	if req.ID == 0 && req.Version == 0 {
		// The same schema registered again under a subject returns its id; nothing changes.
		for _, v := range sub.live() {
			if s.schemas[v.ID].key() == key {
				return map[string]int{"id": v.ID}, nil
			}
		}
	}
	id := req.ID
	if id > 0 {
		if old, taken := s.schemas[id]; taken && old.key() != key {
			return nil, errorf(codeOperationNotPermitted, errMessageOverwriteSchemaID, id)
		}
	} else if existing, ok := s.byContent[key]; ok {
		id = existing
	} else {
		id = s.nextID
	}
	ver := req.Version
	if ver > 0 {
		if old := sub.find(ver); old != nil {
			if old.ID == id {
				return map[string]int{"id": id}, nil
			}
			return nil, errorf(codeOperationNotPermitted, "Version %d of subject %s already exists with schema id %d", ver, name, old.ID)
		}
	} else {
		ver = 1
		if n := len(sub.Versions); n > 0 {
			ver = sub.Versions[n-1].Version + 1
		}
	}
	s.schemas[id] = sc
	if _, ok := s.byContent[key]; !ok {
		s.byContent[key] = id
	}
	s.nextID = max(s.nextID, id+1)
	s.seq++
	sub.Versions = append(sub.Versions, &version{Version: ver, ID: id, Seq: s.seq})
	sort.Slice(sub.Versions, func(i, j int) bool { return sub.Versions[i].Version < sub.Versions[j].Version })
	s.subjects[name] = sub
	return map[string]int{"id": id}, nil
}

// referenced reports whether a live version anywhere imports subject/version.
func (s *Server) referenced(name string, ver int) bool {
	for _, sub := range s.subjects {
		for _, v := range sub.live() {
			for _, ref := range s.schemas[v.ID].Refs {
				if ref.Subject == name && ref.Version == ver {
					return true
				}
			}
		}
	}
	return false
}

func (s *Server) deleteVersion(name, ver string, permanent bool) (any, *apiError) {
	sub, err := s.subject(name, true)
	if err != nil {
		return nil, err
	}
	v, err := s.resolveVersion(sub, name, ver, true) // a soft-deleted version answers 40406/40407, not 40402
	if err != nil {
		return nil, err
	}
	if mode := s.effectiveMode(name); mode == readOnlyMode || mode == readOnlyOverrideMode {
		return nil, errorf(codeOperationNotPermitted, errMessageReadOnly, name)
	}
	if permanent {
		if !v.Deleted {
			return nil, errorf(codeVersionNotSoftDeleted, "Subject '%s' Version %d was not deleted first before being permanently deleted", name, v.Version)
		}
		sub.Versions = slices.DeleteFunc(sub.Versions, func(x *version) bool { return x == v })
		if len(sub.Versions) == 0 {
			delete(s.subjects, name)
		}
		return v.Version, nil
	}
	if v.Deleted {
		return nil, errorf(codeVersionSoftDeleted, "Subject '%s' Version %d was soft deleted. Set permanent=true to delete permanently", name, v.Version)
	}
	if s.referenced(name, v.Version) {
		return nil, errorf(codeReferenceExists, errMessageReferenceExists, name, v.Version)
	}
	v.Deleted = true
	return v.Version, nil
}

func (s *Server) deleteSubject(name string, permanent bool) (any, *apiError) {
	sub, err := s.subject(name, true)
	if err != nil {
		return nil, err
	}
	if mode := s.effectiveMode(name); mode == readOnlyMode || mode == readOnlyOverrideMode {
		return nil, errorf(codeOperationNotPermitted, errMessageReadOnly, name)
	}
	out := []int{}
	if permanent {
		if len(sub.live()) > 0 {
			return nil, errorf(codeSubjectNotSoftDeleted, "Subject '%s' was not deleted first before being permanently deleted", name)
		}
		for _, v := range sub.Versions {
			out = append(out, v.Version)
		}
		delete(s.subjects, name)
		return out, nil
	}
	live := sub.live()
	if len(live) == 0 {
		return nil, errorf(codeSubjectSoftDeleted, "Subject '%s' was soft deleted. Set permanent=true to delete permanently", name)
	}
	for _, v := range live {
		if s.referenced(name, v.Version) {
			return nil, errorf(codeReferenceExists, errMessageReferenceExists, name, v.Version)
		}
	}
	for _, v := range live {
		v.Deleted = true
		out = append(out, v.Version)
	}
	return out, nil
}

func (s *Server) getSchema(idText string) (any, *apiError) {
	id, err := strconv.Atoi(idText)
	sc, ok := s.schemas[id]
	if err != nil || !ok {
		return nil, errorf(codeSchemaNotFound, "Schema %s not found", idText)
	}
	return sc.answer(), nil
}

// answer is how the API shows a schema: its text, type (when not Avro), references and other
// fields.
func (sc schema) answer() map[string]any {
	out := sc.fields()
	out["schema"] = sc.Schema
	if sc.Type != schemaTypeAvro {
		out["schemaType"] = sc.Type
	}
	if len(sc.Refs) > 0 {
		out["references"] = sc.Refs
	}
	return out
}

func (s *Server) schemaVersions(idText string) (any, *apiError) {
	id, err := strconv.Atoi(idText)
	if _, ok := s.schemas[id]; err != nil || !ok {
		return nil, errorf(codeSchemaNotFound, "Schema %s not found", idText)
	}
	type sv struct {
		Subject string `json:"subject"`
		Version int    `json:"version"`
		seq     int
	}
	out := []sv{}
	for name, sub := range s.subjects {
		for _, v := range sub.live() {
			if v.ID == id {
				out = append(out, sv{name, v.Version, v.Seq})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if s.RegistrationOrder {
			return out[i].seq < out[j].seq
		}
		return out[i].Subject < out[j].Subject || (out[i].Subject == out[j].Subject && out[i].Version < out[j].Version)
	})
	return out, nil
}

// configKnown are the config fields of the Confluent API beside the level; objectFields are
// known too.
var configKnown = []string{"normalize", "validateFields", "alias", "compatibilityGroup"}

// configuration serves /config[/{subject}]: the level, as setting does, and the other fields.
// A write merges into the config (a field it leaves out keeps its value, null clears it), as
// Confluent's API does.
func (s *Server) configuration(r *http.Request, parts []string) (any, *apiError) {
	var fields *map[string]json.RawMessage
	switch {
	case len(parts) == 1:
		fields = &s.config
	case s.subjects[parts[1]] != nil:
		fields = &s.subjects[parts[1]].Config
	}
	var put map[string]json.RawMessage
	var level struct {
		Compatibility *string `json:"compatibility"`
	}
	switch r.Method {
	case http.MethodGet:
		if fields == nil || len(*fields) == 0 {
			return s.setting(r, parts, "compatibilityLevel", "compatibility")
		}
		out := map[string]any{}
		for k, v := range *fields {
			out[k] = v
		}
		if len(parts) == 1 {
			out["compatibilityLevel"] = s.compat
		} else if c := s.subjects[parts[1]].Compatibility; c != "" {
			out["compatibilityLevel"] = c
		}
		return out, nil
	case http.MethodPut:
		body, err := io.ReadAll(http.MaxBytesReader(nil, r.Body, maxBody))
		if err == nil {
			err = json.Unmarshal(body, &level)
		}
		if err != nil {
			return nil, &apiError{status: 422, code: 422, msg: "Unrecognized request body: " + err.Error()}
		}
		var aerr *apiError
		if put, aerr = s.keptFields(body, []string{"compatibility", "compatibilityLevel"}, configKnown); aerr != nil {
			return nil, aerr
		}
		out := map[string]any{}
		if level.Compatibility != nil {
			// The level goes through setting, which checks it; the rest merges below.
			r2 := r.Clone(r.Context())
			b, _ := json.Marshal(map[string]string{"compatibility": *level.Compatibility})
			r2.Body = io.NopCloser(strings.NewReader(string(b)))
			res, aerr := s.setting(r2, parts, "compatibilityLevel", "compatibility")
			if aerr != nil {
				return nil, aerr
			}
			out["compatibility"] = res.(map[string]string)["compatibility"]
		} else if len(put) == 0 {
			return nil, errorf(codeInvalidCompatibility, "Invalid compatibility level: none given")
		}
		if len(parts) == 2 { // the subject, which setting may have created meanwhile
			sub := s.subjects[parts[1]]
			if sub == nil {
				sub = &subject{}
				s.subjects[parts[1]] = sub
			}
			fields = &sub.Config
		}
		if *fields == nil {
			*fields = map[string]json.RawMessage{}
		}
		for k, v := range put {
			if string(v) == "null" {
				delete(*fields, k)
			} else {
				(*fields)[k] = v
			}
			out[k] = v
		}
		return out, nil
	case http.MethodDelete:
		if len(parts) == 2 && fields != nil && len(*fields) > 0 {
			sub := s.subjects[parts[1]]
			sub.Config = nil
			if sub.Compatibility == "" {
				if len(sub.Versions) == 0 && sub.Mode == "" {
					delete(s.subjects, parts[1])
				}
				return map[string]string{}, nil
			}
		}
	}
	return s.setting(r, parts, "compatibilityLevel", "compatibility")
}

var validCompatibility = []string{"BACKWARD", "BACKWARD_TRANSITIVE", "FORWARD", "FORWARD_TRANSITIVE", "FULL", "FULL_TRANSITIVE", "NONE"}
var validModes = []string{"READWRITE", "READONLY", "READONLY_OVERRIDE", "IMPORT"}

// setting serves /config[/{subject}] and /mode[/{subject}]: GET, PUT and (per subject) DELETE.
func (s *Server) setting(r *http.Request, parts []string, getField, putField string) (any, *apiError) {
	isMode := parts[0] == "mode"
	global := &s.compat
	valid, invalidCode, notFound := validCompatibility, codeInvalidCompatibility, codeSubjectConfigNotFound
	if isMode {
		global, valid, invalidCode, notFound = &s.mode, validModes, codeInvalidMode, codeSubjectModeNotFound
	}
	var subjectField *string
	name := ""
	if len(parts) == 2 {
		name = parts[1]
		sub := s.subjects[name]
		if sub == nil && r.Method == http.MethodPut {
			sub = &subject{}
			s.subjects[name] = sub
		}
		if sub != nil {
			subjectField = &sub.Compatibility
			if isMode {
				subjectField = &sub.Mode
			}
		}
	}
	switch r.Method {
	case http.MethodGet:
		if name == "" {
			return map[string]string{getField: *global}, nil
		}
		if subjectField == nil || *subjectField == "" {
			if r.URL.Query().Get("defaultToGlobal") == "true" {
				return map[string]string{getField: *global}, nil
			}
			if subjectField == nil && s.subjects[name] == nil {
				return nil, errorf(codeSubjectNotFound, errMessageSubjectNotFound, name)
			}
			what := "compatibility"
			if isMode {
				what = "mode"
			}
			return nil, errorf(notFound, "Subject '%s' does not have subject-level %s configured", name, what)
		}
		return map[string]string{getField: *subjectField}, nil
	case http.MethodPut:
		var body map[string]string
		if err := json.NewDecoder(http.MaxBytesReader(nil, r.Body, maxBody)).Decode(&body); err != nil {
			return nil, &apiError{status: 422, code: 422, msg: "Unrecognized request body: " + err.Error()}
		}
		v := strings.ToUpper(body[putField])
		if !slices.Contains(valid, v) {
			return nil, errorf(invalidCode, "Invalid %s %q", putField, body[putField])
		}
		if isMode && v == importMode && name == "" && r.URL.Query().Get("force") != "true" && len(s.listSubjects(allContextsPrefix, true)) > 0 {
			return nil, errorf(codeOperationNotPermitted, errMessageImportNonEmpty)
		}
		if name == "" {
			*global = v
		} else {
			*subjectField = v
		}
		return map[string]string{putField: v}, nil
	case http.MethodDelete:
		if name == "" {
			return nil, &apiError{status: 405, code: 405, msg: "HTTP 405 Method Not Allowed"}
		}
		if subjectField == nil || *subjectField == "" {
			return nil, errorf(codeSubjectNotFound, errMessageSubjectNotFound, name)
		}
		old := *subjectField
		*subjectField = ""
		if sub := s.subjects[name]; sub != nil && len(sub.Versions) == 0 && sub.Mode == "" && sub.Compatibility == "" && len(sub.Config) == 0 {
			delete(s.subjects, name)
		}
		return map[string]string{getField: old}, nil
	}
	return nil, &apiError{status: 405, code: 405, msg: "HTTP 405 Method Not Allowed"}
}

// Add registers a schema under a subject as a READWRITE registry would, without HTTP: for
// seeding large registries in benchmarks. It returns the id.
func (s *Server) Add(subject, schemaType, text string) (int, error) {
	body, _ := json.Marshal(registerRequest{Schema: text, SchemaType: schemaType})
	r := httptest.NewRequest(http.MethodPost, "/subjects/"+url.PathEscape(subject)+"/versions", strings.NewReader(string(body)))
	s.mu.Lock()
	defer s.mu.Unlock()
	out, aerr := s.register(r, subject)
	if aerr != nil {
		return 0, fmt.Errorf("register %s: %d %s", subject, aerr.code, aerr.msg)
	}
	return out.(map[string]int)["id"], nil
}
