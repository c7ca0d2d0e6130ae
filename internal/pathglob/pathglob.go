// Package pathglob selects subtrees of a slash-separated tree (ZooKeeper paths, files of a
// volume) with include and exclude globs, where `**` spans any number of segments.
package pathglob

import (
	"fmt"
	"path"
	"strings"
)

// Segments splits an absolute path into its segments ("/" has none).
func Segments(p string) []string {
	if p == "/" || p == "" {
		return nil
	}
	return strings.Split(strings.TrimPrefix(p, "/"), "/")
}

// Match matches path segments against glob segments: `**` matches any number of
// segments, any other segment as path.Match does. prefix: a path that could still grow into a
// match (its segments match the start of the glob) counts too.
func Match(glob, segs []string, prefix bool) bool {
	for len(glob) > 0 {
		if glob[0] == "**" {
			for i := 0; i <= len(segs); i++ {
				if Match(glob[1:], segs[i:], prefix) {
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

// Selector applies include and exclude globs with subtree semantics: a node is selected when
// it or an ancestor matches an include glob (every node without includes) and neither it nor
// an ancestor matches an exclude glob.
type Selector struct {
	include, exclude [][]string
}

// New checks and compiles include and exclude globs; errors name field.
func New(field string, include, exclude []string) (*Selector, error) {
	s := &Selector{}
	for i, lists := range [][]string{include, exclude} {
		name := []string{"include", "exclude"}[i]
		for j, g := range lists {
			if !strings.HasPrefix(g, "/") {
				return nil, fmt.Errorf("%s.%s[%d]: %q must be an absolute path glob (start with /)", field, name, j, g)
			}
			segs := Segments(path.Clean(g))
			for _, seg := range segs {
				if _, err := path.Match(seg, ""); err != nil {
					return nil, fmt.Errorf("%s.%s[%d]: %q is not a valid glob: %v", field, name, j, g, err)
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
			if Match(g, segs[:n], false) {
				return true
			}
		}
	}
	return false
}

// Takes says whether the node at p is selected.
func (s *Selector) Takes(p string) bool {
	segs := Segments(p)
	if anyAncestor(s.exclude, segs) {
		return false
	}
	return len(s.include) == 0 || anyAncestor(s.include, segs)
}

// Descends says whether a walk must look below p: the subtree is not excluded and p is
// selected or could lead to a selected node.
func (s *Selector) Descends(p string) bool {
	segs := Segments(p)
	if anyAncestor(s.exclude, segs) {
		return false
	}
	if len(s.include) == 0 || anyAncestor(s.include, segs) {
		return true
	}
	for _, g := range s.include {
		if Match(g, segs, true) {
			return true
		}
	}
	return false
}
