package registrytest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
)

// Dump is what a registry's API shows: every subject of every context with every version
// (soft-deleted ones flagged), ids, types, references, and the settings. Tests compare two
// registries by their dumps. It is read with plain HTTP, not with Arkive's client, so a fault in
// that client cannot hide in both sides of a comparison.
type Dump struct {
	Compatibility string `json:"compatibility"`
	Mode          string `json:"mode"`
	// Config is the whole answer of GET /config.
	Config   map[string]any `json:"config"`
	Subjects []DumpSubject  `json:"subjects"`
	// IDUsers is GET /schemas/ids/{id}/versions for every id a live version of the default
	// context has, in the order the registry lists them.
	IDUsers map[int][]IDUser `json:"idUsers"`
}

// IDUser is one entry of GET /schemas/ids/{id}/versions.
type IDUser struct {
	Subject string `json:"subject"`
	Version int    `json:"version"`
}

// DumpSubject is one subject of a Dump.
type DumpSubject struct {
	Name          string `json:"name"`
	Compatibility string `json:"compatibility,omitempty"`
	Mode          string `json:"mode,omitempty"`
	// Config is the whole answer of GET /config/{subject}; nil when it has none of its own.
	Config   map[string]any `json:"config,omitempty"`
	Versions []DumpVersion  `json:"versions"`
}

// DumpVersion is one version of a DumpSubject.
type DumpVersion struct {
	Version    int         `json:"version"`
	ID         int         `json:"id"`
	Type       string      `json:"schemaType,omitempty"`
	Schema     string      `json:"schema"`
	References []Reference `json:"references,omitempty"`
	Deleted    bool        `json:"deleted"`
	// Rest are the answer's other fields (metadata, ruleSet, …).
	Rest map[string]any `json:"rest,omitempty"`
}

// DumpAPI reads a whole registry at base; auth, when set, is added to every request.
func DumpAPI(base string, auth func(*http.Request)) (*Dump, error) {
	get := func(path string, out any) (int, error) {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			return 0, err
		}
		if auth != nil {
			auth(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return 0, err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return resp.StatusCode, fmt.Errorf("GET %s: %d %s", path, resp.StatusCode, b)
		}
		return resp.StatusCode, json.Unmarshal(b, out)
	}
	var d Dump
	var g struct {
		Compatibility string `json:"compatibilityLevel"`
		Mode          string `json:"mode"`
	}
	if _, err := get("/config", &g); err != nil {
		return nil, err
	}
	if _, err := get("/config", &d.Config); err != nil {
		return nil, err
	}
	d.Compatibility = g.Compatibility
	if _, err := get("/mode", &g); err != nil {
		return nil, err
	}
	d.Mode = g.Mode
	var names []string
	if _, err := get("/subjects?deleted=true&subjectPrefix="+url.QueryEscape(allContextsPrefix), &names); err != nil {
		return nil, err
	}
	for _, name := range names {
		p := "/subjects/" + url.PathEscape(name)
		var all, live []int
		if _, err := get(p+"/versions?deleted=true", &all); err != nil {
			return nil, err
		}
		if st, err := get(p+"/versions", &live); err != nil && st != http.StatusNotFound {
			return nil, err
		}
		sub := DumpSubject{Name: name}
		for _, v := range all {
			var dv DumpVersion
			path := fmt.Sprintf("%s/versions/%d?deleted=true", p, v)
			if _, err := get(path, &dv); err != nil {
				return nil, err
			}
			if _, err := get(path, &dv.Rest); err != nil {
				return nil, err
			}
			for _, k := range []string{"subject", "version", "id", "schemaType", "schema", "references"} {
				delete(dv.Rest, k)
			}
			dv.Deleted = !slices.Contains(live, v)
			sub.Versions = append(sub.Versions, dv)
		}
		var c struct {
			Compatibility string `json:"compatibilityLevel"`
			Mode          string `json:"mode"`
		}
		if st, err := get("/config/"+url.PathEscape(name), &c); err != nil && st != http.StatusNotFound {
			return nil, err
		}
		if st, err := get("/config/"+url.PathEscape(name), &sub.Config); err != nil && st != http.StatusNotFound {
			return nil, err
		}
		if st, err := get("/mode/"+url.PathEscape(name), &c); err != nil && st != http.StatusNotFound {
			return nil, err
		}
		sub.Compatibility, sub.Mode = c.Compatibility, c.Mode
		d.Subjects = append(d.Subjects, sub)
	}
	d.IDUsers = map[int][]IDUser{}
	for _, sub := range d.Subjects {
		if !inDefaultContext(sub.Name) {
			continue
		}
		for _, v := range sub.Versions {
			if _, done := d.IDUsers[v.ID]; done || v.Deleted {
				continue
			}
			var users []IDUser
			if _, err := get(fmt.Sprintf("/schemas/ids/%d/versions", v.ID), &users); err != nil {
				return nil, err
			}
			d.IDUsers[v.ID] = users
		}
	}
	return &d, nil
}
