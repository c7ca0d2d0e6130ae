package workflows

import (
	"fmt"
	"sort"
	"time"
)

// SnapshotInfo is a stored snapshot as retention sees it.
type SnapshotInfo struct {
	ID   string    `json:"id"`
	Time time.Time `json:"time"`
}

// SnapshotID is the id of the n-th snapshot of a backup, taken at t: its UTC time and the
// number, so ids sort by age, two snapshots in one second differ, and a retried activity (same
// input) names the same object.
func SnapshotID(t time.Time, n int) string {
	return fmt.Sprintf("%s-%06d", t.UTC().Format("20060102T150405Z"), n)
}

// Drops picks the snapshots retention removes: beyond the newest keepLast (0: no bound), and
// older than maxAge (0: no bound). The newest snapshot always stays, so a backup never ends up
// with none.
func Drops(snaps []SnapshotInfo, keepLast int, maxAge time.Duration, now time.Time) []string {
	s := append([]SnapshotInfo(nil), snaps...)
	sort.SliceStable(s, func(i, j int) bool { return s[i].Time.Before(s[j].Time) })
	var out []string
	for i := 0; i < len(s)-1; i++ { // never the newest
		fromNewest := len(s) - 1 - i // 1 for the one before the newest
		if (keepLast > 0 && fromNewest >= keepLast) || (maxAge > 0 && now.Sub(s[i].Time) > maxAge) {
			out = append(out, s[i].ID)
		}
	}
	return out
}
