package zookeeper

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Globs select subtrees: a node is taken when it or an ancestor matches an include and neither
// it nor an ancestor matches an exclude; the walk descends only where a selected node can be.
func TestSelector(t *testing.T) {
	s, err := newSelector("spec.paths", []string{"/brokers/topics/*", "/config/**"}, []string{"/brokers/topics/__*", "/config/changes"})
	require.NoError(t, err)
	for p, want := range map[string]bool{
		"/":                                  false,
		"/brokers":                           false,
		"/brokers/topics":                    false,
		"/brokers/topics/orders":             true,
		"/brokers/topics/orders/partitions":  true,
		"/brokers/topics/__consumer_offsets": false,
		"/config":                            true,
		"/config/topics/orders":              true,
		"/config/changes":                    false,
		"/config/changes/x":                  false,
		"/controller":                        false,
	} {
		require.Equal(t, want, s.takes(p), p)
	}
	for p, want := range map[string]bool{"/": true, "/brokers": true, "/brokers/ids": false, "/controller": false,
		"/brokers/topics/__consumer_offsets": false, "/config/changes": false} {
		require.Equal(t, want, s.descends(p), p)
	}
	all, err := newSelector("spec.paths", nil, []string{"/controller"})
	require.NoError(t, err)
	require.True(t, all.takes("/"))
	require.True(t, all.takes("/a/b"))
	require.False(t, all.takes("/controller"))
	_, err = newSelector("spec.paths", []string{"brokers"}, nil)
	require.ErrorContains(t, err, `spec.paths.include[0]: "brokers" must be an absolute path glob`)
	_, err = newSelector("spec.paths", nil, []string{"/a/[x"})
	require.ErrorContains(t, err, `spec.paths.exclude[0]: "/a/[x" is not a valid glob`)
}

func TestMappingAndSequences(t *testing.T) {
	m, err := newMapping("spec.pathMapping", [][2]string{{"/app", "/restored/app"}, {"/app/special", "/special"}})
	require.NoError(t, err)
	require.Equal(t, "/restored/app/x", m.apply("/app/x"))
	require.Equal(t, "/special/y", m.apply("/app/special/y"), "the longest prefix wins")
	require.Equal(t, "/application", m.apply("/application"), "prefixes match whole segments")
	_, err = newMapping("spec.pathMapping", [][2]string{{"/a/", "/b"}})
	require.ErrorContains(t, err, `spec.pathMapping[0]: "/a/" must be a clean absolute path`)

	require.Equal(t, int64(42), sequenceSuffix("/locks/lock-0000000042"))
	require.Equal(t, int64(-1), sequenceSuffix("/locks/lock-42"))
	require.Equal(t, "/", parent("/a"))
	require.Equal(t, "/a", parent("/a/b"))
	require.Equal(t, "/a", child("/", "a"))
	require.Equal(t, "/a/b", child("/a", "b"))
}
