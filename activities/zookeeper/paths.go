package zookeeper

import (
	"path"
	"strings"
)

// segments splits an absolute path into its segments ("/" has none).
func segments(p string) []string {
	if p == "/" || p == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// globMatch matches path segments against glob segments: `**` matches any number of
// segments, any other segment as path.Match does. prefix: a path that could still grow into a
// match (its segments match the start of the glob) counts too.
func globMatch(glob, segs []string, prefix bool) bool {
	for len(glob) > 0 {
		if glob[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if globMatch(glob[1:], segs[i:], prefix) {
					return true
				}
			}
			return prefix && len(segs) == 0
		}
		if len(segs) == 0 {
			return prefix
		}
		if ok, _ := path.Match(glob[0], segs[0]); !ok {
			return false
		}
		glob, segs = glob[1:], segs[1:]
	}
	return len(segs) == 0
}

// selector applies include and exclude globs with subtree semantics: a node is selected when
// it or an ancestor matches an include glob (every node without includes) and neither it nor
// an ancestor matches an exclude glob.
type selector struct {
	include, exclude [][]string
}

func newSelector(field string, include, exclude []string) (*selector, error) {
	s := &selector{}
	for i, lists := range [][]string{include, exclude} {
		name := []string{"include", "exclude"}[i]
		for j, g := range lists {
			if !strings.HasPrefix(g, "/") {
				return nil, invalidf("%s.%s[%d]: %q must be an absolute path glob (start with /)", field, name, j, g)
			}
			segs := segments(path.Clean(g))
			for _, seg := range segs {
				if _, err := path.Match(seg, ""); err != nil {
					return nil, invalidf("%s.%s[%d]: %q is not a valid glob: %v", field, name, j, g, err)
				}
			}
			if i == 0 {
				s.include = append(s.include, segs)
			} else {
				s.exclude = append(s.exclude, segs)
			}
		}
	}
	return s, nil
}

// anyAncestor says whether one of globs matches the path or one of its ancestors.
func anyAncestor(globs [][]string, segs []string) bool {
	for _, g := range globs {
		for n := 0; n <= len(segs); n++ {
			if globMatch(g, segs[:n], false) {
				return true
			}
		}
	}
	return false
}

// takes says whether the node at p is selected.
func (s *selector) takes(p string) bool {
	segs := segments(p)
	if anyAncestor(s.exclude, segs) {
		return false
	}
	return len(s.include) == 0 || anyAncestor(s.include, segs)
}

// descends says whether a walk must look below p: the subtree is not excluded and p is
// selected or could lead to a selected node.
func (s *selector) descends(p string) bool {
	segs := segments(p)
	if anyAncestor(s.exclude, segs) {
		return false
	}
	if len(s.include) == 0 || anyAncestor(s.include, segs) {
		return true
	}
	for _, g := range s.include {
		if globMatch(g, segs, true) {
			return true
		}
	}
	return false
}

// matchesExactly says whether p matches one of the globs itself (node types: no subtrees).
func matchesExactly(globs []string, p string) bool {
	segs := segments(p)
	for _, g := range globs {
		if globMatch(segments(path.Clean(g)), segs, false) {
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
