package archive

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// A manifest says how its backup cuts files; one that says something this version does not
// know is refused rather than backed up into with another chunker.
func TestVolumeManifestNamesItsChunker(t *testing.T) {
	for _, c := range []struct {
		doc, chunker, err string
	}{
		{doc: `{"format": 1, "snapshots": []}`, chunker: ChunkerRabin},
		{doc: `{"format": 2, "chunker": "fastcdc-v1", "snapshots": []}`, chunker: ChunkerFastCDC},
		{doc: `{"format": 2, "chunker": "rabin-v1", "snapshots": []}`, chunker: ChunkerRabin},
		{doc: `{"format": 1, "chunker": "fastcdc-v1", "snapshots": []}`, err: `format 1 names no chunker, found "fastcdc-v1"`},
		{doc: `{"format": 2, "snapshots": []}`, err: `unsupported chunker ""`},
		{doc: `{"format": 2, "chunker": "gear-v9", "snapshots": []}`, err: `unsupported chunker "gear-v9"`},
		{doc: `{"format": 3, "chunker": "fastcdc-v1", "snapshots": []}`, err: "unsupported format 3"},
	} {
		m, err := UnmarshalVolumeManifest("m.json", []byte(c.doc))
		if c.err != "" {
			require.ErrorContains(t, err, c.err, c.doc)
			require.ErrorContains(t, err, "m.json", c.doc)
			continue
		}
		require.NoError(t, err, c.doc)
		require.Equal(t, c.chunker, m.ChunkerName(), c.doc)
	}
	m := NewVolumeManifest()
	require.Equal(t, VolumeManifestFormat, m.Format)
	require.Equal(t, ChunkerFastCDC, m.ChunkerName())
}
