package pathglob

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// Globs select subtrees: a node is taken when it or an ancestor matches an include and neither
// it nor an ancestor matches an exclude; the walk descends only where a selected node can be.
func TestSelector(t *testing.T) {
	s, err := New("spec.paths", []string{"/brokers/topics/*", "/config/**"}, []string{"/brokers/topics/__*", "/config/changes"})
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
		require.Equal(t, want, s.Takes(p), p)
	}
	for p, want := range map[string]bool{"/": true, "/brokers": true, "/brokers/ids": false, "/controller": false,
		"/brokers/topics/__consumer_offsets": false, "/config/changes": false} {
		require.Equal(t, want, s.Descends(p), p)
	}
	all, err := New("spec.paths", nil, []string{"/controller"})
	require.NoError(t, err)
	require.True(t, all.Takes("/"))
	require.True(t, all.Takes("/a/b"))
	require.False(t, all.Takes("/controller"))
	_, err = New("spec.paths", []string{"brokers"}, nil)
	require.ErrorContains(t, err, `spec.paths.include[0]: "brokers" must be an absolute path glob`)
	_, err = New("spec.paths", nil, []string{"/a/[x"})
	require.ErrorContains(t, err, `spec.paths.exclude[0]: "/a/[x" is not a valid glob`)
}
