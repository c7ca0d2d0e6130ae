package zookeeper

import (
	"testing"

	"github.com/stretchr/testify/require"
)

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
