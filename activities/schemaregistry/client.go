package schemaregistry

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
)

// Error codes of the Confluent API that the activities act on.
const (
	codeSubjectNotFound       = 40401
	codeVersionNotFound       = 40402
	codeSchemaNotFound        = 40403
	codeSubjectConfigNotFound = 40408
	codeSubjectModeNotFound   = 40409
	// codeReferenceExists: the registry refuses to delete a version another one imports.
	codeReferenceExists = 42206
)

// contextPrefix starts the qualified name of a subject in a named context.
const contextPrefix = ":."

// APIError is a registry's answer other than success: the HTTP status and, when the body has
// one, the API's error_code and message.
type APIError struct {
	Method, Path string
	Status       int
	Code         int
	Message      string
	// RetryAfter is the wait a 429 or 503 asked for.
	RetryAfter time.Duration
}

func (e *APIError) Error() string {
	return fmt.Sprintf("%s %s: HTTP %d (error_code %d): %s", e.Method, e.Path, e.Status, e.Code, e.Message)
}

func isCode(err error, codes ...int) bool {
	var ae *APIError
	if !errors.As(err, &ae) {
		return false
	}
	for _, c := range codes {
		if ae.Code == c {
			return true
		}
	}
	return false
}

// IsUnauthorized reports whether the registry refused the credentials.
func IsUnauthorized(err error) bool {
	var ae *APIError
	return errors.As(err, &ae) && (ae.Status == http.StatusUnauthorized || ae.Status == http.StatusForbidden)
}

// Client talks to one registry. Credentials live only inside auth: never in errors or results.
type Client struct {
	urls     []string
	http     *http.Client
	auth     func(*http.Request)
	attempts int
	backoff  time.Duration
	requests atomic.Int64
}

// NewClient resolves the spec's Secret references and returns a client. concurrency is how
// many requests may be in flight at once (connections kept per host).
func NewClient(ctx context.Context, spec arkivev1.SchemaRegistrySpec, sr secrets.Resolver, concurrency int) (*Client, error) {
	if len(spec.URLs) == 0 {
		return nil, errors.New("spec.urls: at least one registry URL is required")
	}
	for i, u := range spec.URLs {
		pu, err := url.Parse(u)
		if err == nil && pu.User != nil {
			// Not echoed: it holds a credential, which must live in a Secret, not in the spec.
			return nil, fmt.Errorf("spec.urls[%d]: must not carry credentials (user:password@host); use spec.basicAuth or spec.bearerToken", i)
		}
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			return nil, fmt.Errorf("spec.urls[%d]: %q is not an http or https URL", i, u)
		}
	}
	if spec.BasicAuth != nil && spec.BearerToken != nil {
		return nil, errors.New("spec.bearerToken: set at most one of basicAuth and bearerToken")
	}
	tc, err := secrets.TLSConfig(ctx, spec.TLS, sr)
	if err != nil {
		return nil, err
	}
	c := &Client{attempts: 6, backoff: 200 * time.Millisecond, auth: func(*http.Request) {}}
	for _, u := range spec.URLs {
		c.urls = append(c.urls, strings.TrimRight(u, "/"))
	}
	switch {
	case spec.BasicAuth != nil:
		ba := spec.BasicAuth
		user, err := secrets.String(ctx, sr, ba.SecretName, cmp.Or(ba.UsernameKey, "username"))
		if err != nil {
			return nil, fmt.Errorf("spec.basicAuth: %w", err)
		}
		pass, err := secrets.String(ctx, sr, ba.SecretName, cmp.Or(ba.PasswordKey, "password"))
		if err != nil {
			return nil, fmt.Errorf("spec.basicAuth: %w", err)
		}
		c.auth = func(r *http.Request) { r.SetBasicAuth(user, pass) }
	case spec.BearerToken != nil:
		tok, err := secrets.String(ctx, sr, spec.BearerToken.Name, spec.BearerToken.Key)
		if err != nil {
			return nil, fmt.Errorf("spec.bearerToken: %w", err)
		}
		c.auth = func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+tok) }
	}
	concurrency = max(concurrency, 1)
	c.http = &http.Client{Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment, TLSClientConfig: tc,
		DialContext:  (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns: concurrency * 2, MaxIdleConnsPerHost: concurrency * 2,
		IdleConnTimeout: 90 * time.Second, TLSHandshakeTimeout: 10 * time.Second,
		ResponseHeaderTimeout: time.Minute,
	}}
	return c, nil
}

// Requests is how many HTTP requests the client has sent.
func (c *Client) Requests() int64 { return c.requests.Load() }

// Close releases idle connections.
func (c *Client) Close() { c.http.CloseIdleConnections() }

// do sends one API call. Connection failures move to the next URL; 5xx and 429 answers are
// retried with backoff (honouring Retry-After); every other status is an *APIError at once.
func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return err
		}
	}
	var last error
	for attempt := 0; attempt < c.attempts; attempt++ {
		if attempt > 0 {
			wait := c.backoff << (attempt - 1)
			var ae *APIError
			if errors.As(last, &ae) {
				wait = max(wait, ae.RetryAfter)
			}
			select {
			case <-ctx.Done():
				return ctx.Err()
			case <-time.After(min(wait, 10*time.Second)):
			}
		}
		for _, base := range c.urls {
			err := c.send(ctx, method, base, path, payload, out)
			if err == nil {
				return nil
			}
			last = err
			var ae *APIError
			if errors.As(err, &ae) {
				if ae.Status < 500 && ae.Status != http.StatusTooManyRequests {
					return err // the registry answered: another URL would say the same
				}
				break // retry this answer after backoff
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// a connection failure: try the next URL now
		}
	}
	return last
}

func (c *Client) send(ctx context.Context, method, base, path string, payload []byte, out any) error {
	var body io.Reader
	if payload != nil {
		body = bytes.NewReader(payload)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, body)
	if err != nil {
		return err
	}
	// Canonical keys and shared values: Header.Set would canonicalise and allocate on each of a
	// backup's tens of thousands of requests. Nothing modifies these slices.
	req.Header["Accept"] = acceptHeader
	if payload != nil {
		req.Header["Content-Type"] = contentTypeHeader
	}
	c.auth(req)
	c.requests.Add(1)
	resp, err := c.http.Do(req)
	if err != nil {
		return fmt.Errorf("%s %s%s: %w", method, base, path, err)
	}
	defer resp.Body.Close()
	// Answers are decoded into copies, so one pooled buffer serves request after request
	// (a backup sends tens of thousands).
	buf := bodyPool.Get().(*bytes.Buffer)
	defer bodyPool.Put(buf)
	buf.Reset()
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, 64<<20)); err != nil {
		return fmt.Errorf("%s %s%s: read answer: %w", method, base, path, err)
	}
	b := buf.Bytes()
	if resp.StatusCode/100 != 2 {
		ae := &APIError{Method: method, Path: path, Status: resp.StatusCode}
		var eb struct {
			Code    int    `json:"error_code"`
			Message string `json:"message"`
		}
		if json.Unmarshal(b, &eb) == nil {
			ae.Code, ae.Message = eb.Code, eb.Message
		} else {
			ae.Message = strings.TrimSpace(string(b[:min(len(b), 200)]))
		}
		if secs, err := strconv.Atoi(resp.Header.Get("Retry-After")); err == nil && secs > 0 {
			ae.RetryAfter = time.Duration(secs) * time.Second
		}
		return ae
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s%s: decode answer: %w", method, base, path, err)
	}
	return nil
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

var (
	acceptHeader      = []string{"application/vnd.schemaregistry.v1+json, application/json"}
	contentTypeHeader = []string{"application/vnd.schemaregistry.v1+json"}
)

func subjectPath(subject string) string { return "/subjects/" + url.PathEscape(subject) }

// Subjects lists subject names; deleted includes wholly soft-deleted ones; prefix ":*:" lists
// every context.
func (c *Client) Subjects(ctx context.Context, deleted bool, prefix string) ([]string, error) {
	q := url.Values{}
	if deleted {
		q.Set("deleted", "true")
	}
	if prefix != "" {
		q.Set("subjectPrefix", prefix)
	}
	var out []string
	path := "/subjects"
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	return out, c.do(ctx, http.MethodGet, path, nil, &out)
}

// AllSubjects lists every subject of every context (names of other contexts than the default
// qualified, ":.ctx:name"). It trusts no single listing: the default context's plain listing,
// each named context's own listing and, where contexts exist, the all-contexts wildcard ":*:"
// are united, because registries differ (some answer the wildcard with [] although they hold
// subjects). A context listing that names a subject outside its context, or answers nothing
// where the wildcard found subjects of the context, is an error naming the query: an
// inconsistent registry is never taken for an empty one.
// contexts are the registry's contexts, as Contexts lists them (the caller has them already).
func (c *Client) AllSubjects(ctx context.Context, contexts []string, deleted bool) ([]string, error) {
	seen := map[string]bool{}
	plain, err := c.Subjects(ctx, deleted, "")
	if err != nil {
		return nil, err
	}
	for _, n := range plain {
		seen[n] = true
	}
	var wildcard []string
	if len(contexts) > 1 {
		if wildcard, err = c.Subjects(ctx, deleted, ":*:"); err != nil {
			return nil, err
		}
		for _, n := range wildcard {
			seen[n] = true
		}
	}
	for _, cx := range contexts {
		if cx == "." || cx == "" {
			continue
		}
		prefix := ":" + cx + ":"
		listed, err := c.Subjects(ctx, deleted, prefix)
		if err != nil {
			return nil, err
		}
		for _, n := range listed {
			if !strings.HasPrefix(n, prefix) {
				return nil, fmt.Errorf("GET /subjects?subjectPrefix=%s listed %q, a subject outside context %s: the registry's listings cannot be trusted", prefix, n, cx)
			}
			seen[n] = true
		}
		if len(listed) == 0 && slices.ContainsFunc(wildcard, func(n string) bool { return strings.HasPrefix(n, prefix) }) {
			return nil, fmt.Errorf("GET /subjects?subjectPrefix=%s listed nothing, but GET /subjects?subjectPrefix=:*: lists subjects of context %s", prefix, cx)
		}
	}
	out := make([]string, 0, len(seen))
	for n := range seen {
		out = append(out, n)
	}
	slices.Sort(out)
	return out, nil
}

// Contexts lists the registry's contexts; a registry without contexts answers with the default.
func (c *Client) Contexts(ctx context.Context) ([]string, error) {
	var out []string
	err := c.do(ctx, http.MethodGet, "/contexts", nil, &out)
	var ae *APIError
	if errors.As(err, &ae) && ae.Status == http.StatusNotFound {
		return []string{"."}, nil
	}
	return out, err
}

// Versions lists a subject's version numbers (none when the subject does not exist).
func (c *Client) Versions(ctx context.Context, subject string, deleted bool) ([]int, error) {
	var out []int
	path := subjectPath(subject) + "/versions"
	if deleted {
		path += "?deleted=true"
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	if isCode(err, codeSubjectNotFound) {
		return nil, nil
	}
	return out, err
}

// Version is one registered version as the API returns it.
type Version struct {
	Subject    string      `json:"subject"`
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	SchemaType string      `json:"schemaType,omitempty"`
	Schema     string      `json:"schema"`
	References []Reference `json:"references,omitempty"`
	// Fields are the answer's other fields, verbatim (metadata, ruleSet, whatever a newer
	// registry adds), null ones left out.
	Fields map[string]json.RawMessage `json:"-"`
}

// versionNamed are the fields of a version answer that Version reads itself; deleted is an
// answer-only flag some registries add, never sent back.
var versionNamed = []string{"subject", "version", "id", "schemaType", "schema", "references", "deleted"}

// identityFields are the fields besides type, text and references that make two schemas
// different in the Confluent API (a registration with other metadata is a new version).
var identityFields = []string{"metadata", "ruleSet"}

func (v *Version) UnmarshalJSON(b []byte) error {
	type plain Version // without this method
	var err error
	v.Fields, err = decodeWithFields(b, (*plain)(v))
	return err
}

// decodeWithFields decodes a version or schema answer into typed (a pointer to a type without
// an UnmarshalJSON method) and returns its other fields.
func decodeWithFields(b []byte, typed any) (map[string]json.RawMessage, error) {
	if err := json.Unmarshal(b, typed); err != nil {
		return nil, err
	}
	return otherFields(b, versionNamed)
}

// otherFields returns an answer object's fields except the named ones and null ones; nil when
// none is left.
func otherFields(b []byte, named []string) (map[string]json.RawMessage, error) {
	var all map[string]json.RawMessage
	if err := json.Unmarshal(b, &all); err != nil {
		return nil, err
	}
	for k, raw := range all {
		if slices.Contains(named, k) || string(bytes.TrimSpace(raw)) == "null" {
			delete(all, k)
		}
	}
	if len(all) == 0 {
		return nil, nil
	}
	return all, nil
}

// Canonical is a JSON value in one spelling (keys sorted, no spaces, numbers as written), so two
// registries' answers compare equal when they mean the same; "" for an absent value.
func Canonical(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		return string(raw)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return string(raw)
	}
	return string(b)
}

// SameIdentity reports whether two field sets agree on the fields that make a schema's
// identity; fields outside identityFields (a newer registry's bookkeeping) do not count.
func SameIdentity(a, b map[string]json.RawMessage) bool {
	for _, k := range identityFields {
		if Canonical(a[k]) != Canonical(b[k]) {
			return false
		}
	}
	return true
}

// Reference is a schema reference as the API spells it.
type Reference struct {
	Name    string `json:"name"`
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// GetVersion reads one version, soft-deleted ones too.
func (c *Client) GetVersion(ctx context.Context, subject string, version int) (Version, error) {
	var out Version
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("%s/versions/%d?deleted=true", subjectPath(subject), version), nil, &out)
	if out.SchemaType == "" {
		out.SchemaType = "AVRO"
	}
	return out, err
}

// Schema is a schema looked up by id.
type Schema struct {
	SchemaType string      `json:"schemaType,omitempty"`
	Schema     string      `json:"schema"`
	References []Reference `json:"references,omitempty"`
	// Fields are the answer's other fields, as Version.Fields.
	Fields map[string]json.RawMessage `json:"-"`
}

func (s *Schema) UnmarshalJSON(b []byte) error {
	type plain Schema // without this method
	var err error
	s.Fields, err = decodeWithFields(b, (*plain)(s))
	return err
}

// SchemaByID looks an id up; found is false when no schema has it.
func (c *Client) SchemaByID(ctx context.Context, id int) (s Schema, found bool, err error) {
	err = c.do(ctx, http.MethodGet, fmt.Sprintf("/schemas/ids/%d", id), nil, &s)
	if isCode(err, codeSchemaNotFound) {
		return s, false, nil
	}
	if s.SchemaType == "" {
		s.SchemaType = "AVRO"
	}
	return s, err == nil, err
}

// SubjectVersion names a version of a subject.
type SubjectVersion struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// SchemaUsers lists the subject versions that use an id.
func (c *Client) SchemaUsers(ctx context.Context, id int) ([]SubjectVersion, error) {
	var out []SubjectVersion
	err := c.do(ctx, http.MethodGet, fmt.Sprintf("/schemas/ids/%d/versions", id), nil, &out)
	if isCode(err, codeSchemaNotFound) {
		return nil, nil
	}
	return out, err
}

// RegisterRequest registers a schema; ID and Version are honoured in IMPORT mode only.
type RegisterRequest struct {
	Schema     string      `json:"schema"`
	SchemaType string      `json:"schemaType,omitempty"`
	References []Reference `json:"references,omitempty"`
	ID         int         `json:"id,omitempty"`
	Version    int         `json:"version,omitempty"`
	// Fields go into the request beside the named ones, verbatim (metadata, ruleSet, …).
	Fields map[string]json.RawMessage `json:"-"`
}

func (r RegisterRequest) MarshalJSON() ([]byte, error) {
	type plain RegisterRequest // without this method
	b, err := json.Marshal(plain(r))
	if err != nil || len(r.Fields) == 0 {
		return b, err
	}
	var named map[string]json.RawMessage
	if err := json.Unmarshal(b, &named); err != nil {
		return nil, err
	}
	all := maps.Clone(r.Fields)
	maps.Copy(all, named) // the named fields win
	return json.Marshal(all)
}

// Register registers a version and returns its id.
func (c *Client) Register(ctx context.Context, subject string, r RegisterRequest) (int, error) {
	var out struct {
		ID int `json:"id"`
	}
	err := c.do(ctx, http.MethodPost, subjectPath(subject)+"/versions", r, &out)
	return out.ID, err
}

// Lookup finds the version of a subject that holds a schema (POST /subjects/{subject}), soft-
// deleted ones too when deleted is set; found is false when the subject holds no such version.
func (c *Client) Lookup(ctx context.Context, subject string, r RegisterRequest, deleted bool) (id, version int, found bool, err error) {
	var out struct {
		ID      int `json:"id"`
		Version int `json:"version"`
	}
	path := subjectPath(subject)
	if deleted {
		path += "?deleted=true"
	}
	err = c.do(ctx, http.MethodPost, path, r, &out)
	if isCode(err, codeSubjectNotFound, codeSchemaNotFound) {
		return 0, 0, false, nil
	}
	return out.ID, out.Version, err == nil, err
}

// DeleteVersion soft-deletes a version.
func (c *Client) DeleteVersion(ctx context.Context, subject string, version int) error {
	return c.do(ctx, http.MethodDelete, fmt.Sprintf("%s/versions/%d", subjectPath(subject), version), nil, nil)
}

// setting reads /config or /mode, globally (subject "") or of one subject ("" when the subject
// has none of its own).
func (c *Client) setting(ctx context.Context, kind, subject string) (string, error) {
	var out struct {
		Compatibility string `json:"compatibilityLevel"`
		Mode          string `json:"mode"`
	}
	path := "/" + kind
	if subject != "" {
		path += "/" + url.PathEscape(subject)
	}
	err := c.do(ctx, http.MethodGet, path, nil, &out)
	if subject != "" && isCode(err, codeSubjectConfigNotFound, codeSubjectModeNotFound, codeSubjectNotFound) {
		return "", nil
	}
	return out.Compatibility + out.Mode, err
}

// Compatibility reads the global (subject "") or a subject's own compatibility level.
func (c *Client) Compatibility(ctx context.Context, subject string) (string, error) {
	return c.setting(ctx, "config", subject)
}

// Config reads the global (subject "") or a subject's own config: its compatibility level and
// the answer's other fields (normalize, compatibilityGroup, default and override metadata and
// rule sets, …) verbatim; all empty when the subject has no config of its own.
func (c *Client) Config(ctx context.Context, subject string) (level string, fields map[string]json.RawMessage, err error) {
	path := "/config"
	if subject != "" {
		path += "/" + url.PathEscape(subject)
	}
	var raw json.RawMessage
	err = c.do(ctx, http.MethodGet, path, nil, &raw)
	if subject != "" && isCode(err, codeSubjectConfigNotFound, codeSubjectNotFound) {
		return "", nil, nil
	}
	if err != nil {
		return "", nil, err
	}
	var out struct {
		Compatibility string `json:"compatibilityLevel"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return "", nil, fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	if fields, err = otherFields(raw, []string{"compatibilityLevel"}); err != nil {
		return "", nil, fmt.Errorf("GET %s: decode answer: %w", path, err)
	}
	return out.Compatibility, fields, nil
}

// SetConfig writes the global (subject "") or a subject's config: the level (left out when "")
// and the other fields verbatim.
func (c *Client) SetConfig(ctx context.Context, subject, level string, fields map[string]json.RawMessage) error {
	body := maps.Clone(fields)
	if body == nil {
		body = map[string]json.RawMessage{}
	}
	if level != "" {
		body["compatibility"], _ = json.Marshal(level)
	}
	path := "/config"
	if subject != "" {
		path += "/" + url.PathEscape(subject)
	}
	return c.do(ctx, http.MethodPut, path, body, nil)
}

// DeleteConfig removes a subject's own config (none is no error).
func (c *Client) DeleteConfig(ctx context.Context, subject string) error {
	return c.put(ctx, "config", subject, map[string]string{"compatibility": ""}, false)
}

// Mode reads the global (subject "") or a subject's own mode.
func (c *Client) Mode(ctx context.Context, subject string) (string, error) {
	return c.setting(ctx, "mode", subject)
}

// SetCompatibility sets (or, with level "", removes) a compatibility level.
func (c *Client) SetCompatibility(ctx context.Context, subject, level string) error {
	return c.put(ctx, "config", subject, map[string]string{"compatibility": level}, false)
}

// SetMode sets (or, with mode "", removes) a mode; force lets IMPORT be set on a registry
// that holds subjects.
func (c *Client) SetMode(ctx context.Context, subject, mode string, force bool) error {
	return c.put(ctx, "mode", subject, map[string]string{"mode": mode}, force)
}

func (c *Client) put(ctx context.Context, kind, subject string, body map[string]string, force bool) error {
	path := "/" + kind
	if subject != "" {
		path += "/" + url.PathEscape(subject)
	}
	for _, v := range body {
		if v == "" {
			if subject == "" {
				return fmt.Errorf("%s: the global setting cannot be removed", kind)
			}
			err := c.do(ctx, http.MethodDelete, path, nil, nil)
			if isCode(err, codeSubjectNotFound, codeSubjectConfigNotFound, codeSubjectModeNotFound) {
				return nil
			}
			return err
		}
	}
	if force {
		path += "?force=true"
	}
	return c.do(ctx, http.MethodPut, path, body, nil)
}
