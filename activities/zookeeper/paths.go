package zookeeper

import (
	"path"
	"strings"

	"arkive.io/arkive/internal/pathglob"
)

// matchesExactly says whether p matches one of the globs itself (node types: no subtrees).
func matchesExactly(globs []string, p string) bool {
	segs := pathglob.Segments(p)
	for _, g := range globs {
		if pathglob.Match(pathglob.Segments(path.Clean(g)), segs, false) {
			return true
		}
	}
	return false
}

// mapping restores the nodes under a prefix under another; the longest matching prefix wins.
type mapping struct{ from, to []string }

func newMapping(field string, pairs [][2]string) (*mapping, error) {
	m := &mapping{}
	seen := map[string]bool{}
	for i, p := range pairs {
		for _, v := range p {
			if !strings.HasPrefix(v, "/") || path.Clean(v) != v || v == "/" {
				return nil, invalidf("%s[%d]: %q must be a clean absolute path other than /", field, i, v)
			}
		}
		if seen[p[0]] {
			return nil, invalidf("%s[%d].from: %q is mapped twice", field, i, p[0])
		}
		seen[p[0]] = true
		m.from, m.to = append(m.from, p[0]), append(m.to, p[1])
	}
	return m, nil
}

// apply maps a snapshot path to the target path.
func (m *mapping) apply(p string) string {
	best := -1
	for i, f := range m.from {
		if (p == f || strings.HasPrefix(p, f+"/")) && (best < 0 || len(f) > len(m.from[best])) {
			best = i
		}
	}
	if best < 0 {
		return p
	}
	return m.to[best] + strings.TrimPrefix(p, m.from[best])
}

// parent is the parent path of p ("/" for a child of the root).
func parent(p string) string {
	i := strings.LastIndexByte(p, '/')
	if i <= 0 {
		return "/"
	}
	return p[:i]
}

// child is the path of name under p.
func child(p, name string) string {
	if p == "/" {
		return "/" + name
	}
	return p + "/" + name
}

// sequenceSuffix is the counter of a sequential node's name (its last 10 digits), or -1.
func sequenceSuffix(p string) int64 {
	name := p[strings.LastIndexByte(p, '/')+1:]
	if len(name) < 10 {
		return -1
	}
	var n int64
	for _, r := range name[len(name)-10:] {
		if r < '0' || r > '9' {
			return -1
		}
		n = n*10 + int64(r-'0')
	}
	return n
}
