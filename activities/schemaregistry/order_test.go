package schemaregistry

import (
	"testing"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
)

// Registration order: references and earlier versions first; among the rest, by id, sharers of
// an id in the order the source listed them (idRank), unranked ones by subject.
func TestRestoreOrderFollowsIDsAndTheirRanks(t *testing.T) {
	p := &restorePlan{versions: map[vkey]archive.SchemaVersion{
		{"zeta", 1}:   {Version: 1, ID: 5, IDRank: 1},
		{"alpha", 1}:  {Version: 1, ID: 5, IDRank: 2},
		{"mid", 1}:    {Version: 1, ID: 5}, // a format 1 snapshot's sharer: after the ranked ones
		{"base", 1}:   {Version: 1, ID: 9},
		{"user", 1}:   {Version: 1, ID: 3, References: []archive.SchemaReference{{Subject: "base", Version: 1}}},
		{"multi", 2}:  {Version: 2, ID: 1},
		{"multi", 1}:  {Version: 1, ID: 8},
		{"solo-b", 1}: {Version: 1, ID: 2},
	}}
	for k := range p.versions {
		p.register = append(p.register, k)
	}
	p.order()
	require.Equal(t, []vkey{
		{"solo-b", 1},                         // id 2
		{"zeta", 1}, {"alpha", 1}, {"mid", 1}, // id 5, by rank
		{"multi", 1}, {"multi", 2}, // id 8, then its subject's next version (id 1)
		{"base", 1}, {"user", 1}, // id 9, then id 3 which references it
	}, p.register)
}
