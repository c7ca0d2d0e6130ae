package schemaregistry

import (
	"cmp"
	"container/heap"
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync/atomic"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"
	"golang.org/x/sync/errgroup"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/activities/beat"
	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/schemarestore"
)

// vkey names a version of a subject (in the target's names).
type vkey struct {
	subject string
	version int
}

// restorePlan is everything a restore writes, computed from the snapshot and the target's
// current state. Plan and Import compute it the same way, so Import writes only what is still
// missing: a retry or a second restore of the same snapshot changes nothing.
type restorePlan struct {
	snapshot string
	subjects []archive.SubjectSnapshot // selected, renamed
	register []vkey                    // in dependency order
	versions map[vkey]archive.SchemaVersion
	delete   []vkey // referrers first
	settings []setting
	// ownMode: target subjects with a mode of their own, which overrides the global IMPORT.
	ownMode     map[string]string
	currentMode string
	// mode is the global mode a whole-registry restore leaves the target in (the snapshot's);
	// "" leaves the target's own. The workflow sets it, last.
	mode  string
	empty bool
	// legacy: the snapshot predates format 3 and knows only the compatibility level of a
	// config, so only levels are compared and written.
	legacy    bool
	diff      []string
	conflicts []string
}

type setting struct {
	kind, subject, from, to string // kind "compatibility" or "mode"; subject "" is global
	// For a config (kind "compatibility"), what to write: the level and the other fields; and
	// whether the target's config has fields the snapshot's lacks, which a write (merged into
	// the config by Confluent's API) would keep.
	level  string
	fields map[string]json.RawMessage
	clear  []string
}

// loadSnapshot reads the named (or newest) snapshot of a backup; field names the spec's field
// that names the snapshot in errors.
func (a *Activities) loadSnapshot(ctx context.Context, st *backupStore, field, backup, id string) (*archive.SchemaSnapshot, error) {
	m, found, err := readManifest(ctx, st, backup)
	if err != nil {
		return nil, err
	}
	ref := m.Newest()
	if id != "" {
		ref = m.Find(id)
	}
	if !found || ref == nil {
		what := "no snapshot"
		if id != "" {
			what = "no snapshot " + id
		}
		return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("%s: backup %s has %s in this storage", field, backup, what),
			schemarestore.ErrBackupNotFound, nil)
	}
	obj, err := st.ReadAll(ctx, ref.Key)
	if err != nil {
		if blobstore.IsNotFound(err) {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("snapshot %s: object %s is missing", ref.ID, ref.Key), schemarestore.ErrBackupNotFound, nil)
		}
		return nil, classify(fmt.Errorf("read %s: %w", ref.Key, err))
	}
	snap, err := archive.DecodeSchemaSnapshot(ref.Key, obj, st.Key)
	if err != nil {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), schemarestore.ErrCorruptSnapshot, nil)
	}
	return snap, nil
}

// selectSubjects applies the subject filter and renames; references to renamed subjects follow
// the rename.
func selectSubjects(snap *archive.SchemaSnapshot, spec schemarestore.Spec) ([]archive.SubjectSnapshot, error) {
	have := map[string]bool{}
	for _, s := range snap.Subjects {
		have[s.Name] = true
	}
	for i, n := range spec.Names {
		if !have[n] {
			return nil, backupstore.Invalid(fmt.Errorf("spec.subjects.names[%d]: subject %q is not in snapshot %s", i, n, snap.ID))
		}
	}
	rename := map[string]string{}
	targets := map[string]string{}
	for i, r := range spec.Renames {
		if !have[r.From] {
			return nil, backupstore.Invalid(fmt.Errorf("spec.renames[%d].from: subject %q is not in snapshot %s", i, r.From, snap.ID))
		}
		rename[r.From] = r.To
	}
	all := len(spec.Names) == 0 && len(spec.Prefixes) == 0
	var out []archive.SubjectSnapshot
	for _, s := range snap.Subjects {
		if !all && !slices.Contains(spec.Names, s.Name) && !slices.ContainsFunc(spec.Prefixes, func(p string) bool { return strings.HasPrefix(s.Name, p) }) {
			continue
		}
		s.Versions = slices.Clone(s.Versions)
		from := s.Name
		if to, ok := rename[s.Name]; ok {
			s.Name = to
		}
		if other, dup := targets[s.Name]; dup {
			return nil, backupstore.Invalid(fmt.Errorf("spec.renames: subjects %q and %q would both be restored as %q", other, from, s.Name))
		}
		targets[s.Name] = from
		for i, v := range s.Versions {
			if len(v.References) == 0 {
				continue
			}
			refs := slices.Clone(v.References)
			for j := range refs {
				if to, ok := rename[refs[j].Subject]; ok {
					refs[j].Subject = to
				}
			}
			s.Versions[i].References = refs
		}
		out = append(out, s)
	}
	return out, nil
}

func sameSchema(a archive.SchemaVersion, b archive.SchemaVersion) bool {
	return a.ID == b.ID && a.Type == b.Type && a.Schema == b.Schema && slices.Equal(a.References, b.References) &&
		SameIdentity(a.Fields, b.Fields)
}

func refsOf(rs []Reference) []archive.SchemaReference {
	var out []archive.SchemaReference
	for _, r := range rs {
		out = append(out, archive.SchemaReference{Name: r.Name, Subject: r.Subject, Version: r.Version})
	}
	return out
}

// prepare loads the snapshot, reads the target and decides every write; conflicts are listed
// in the plan, not written around.
func (a *Activities) prepare(ctx context.Context, c *Client, st *backupStore, in schemarestore.ImportInput) (*restorePlan, error) {
	snap, err := a.loadSnapshot(ctx, st, "spec.source", in.Backup, in.Snapshot)
	if err != nil {
		return nil, err
	}
	selected, err := selectSubjects(snap, in.Spec)
	if err != nil {
		return nil, err
	}
	p := &restorePlan{snapshot: snap.ID, subjects: selected, versions: map[vkey]archive.SchemaVersion{}, ownMode: map[string]string{},
		legacy: snap.Format < 3}
	if p.currentMode, err = c.Mode(ctx, ""); err != nil {
		return nil, classify(err)
	}
	// The same listings as the backup: an answer of [] from one of them is no proof of an
	// empty target.
	contexts, err := c.Contexts(ctx)
	if err != nil {
		return nil, classify(err)
	}
	existing, err := c.AllSubjects(ctx, contexts, true)
	if err != nil {
		return nil, classify(err)
	}
	p.empty = len(existing) == 0
	names := make([]string, len(selected))
	for i, s := range selected {
		names[i] = s.Name
	}
	// A target without subjects can still hold configs and modes of subjects (set before any
	// version): a write merges into a config, and a READONLY subject refuses registrations.
	target, err := readSubjects(ctx, c, names, p.empty, a.concurrency(), nil)
	if err != nil {
		return nil, classify(err)
	}
	restored := map[vkey]bool{}
	for _, s := range selected {
		for _, v := range s.Versions {
			restored[vkey{s.Name, v.Version}] = true
		}
	}
	var idChecks []vkey
	// Live versions of referenced subjects the restore does not bring, read once per subject
	// (many versions reference the same few common subjects).
	liveRefs := map[string][]int{}
	for i, s := range selected {
		have := target[i]
		if have.Mode != "" && have.Mode != schemarestore.ModeImport {
			p.ownMode[s.Name] = have.Mode
		}
		for _, v := range s.Versions {
			k := vkey{s.Name, v.Version}
			p.versions[k] = v
			j := slices.IndexFunc(have.Versions, func(h archive.SchemaVersion) bool { return h.Version == v.Version })
			if j >= 0 {
				h := have.Versions[j]
				switch {
				case !sameSchema(h, v):
					p.conflicts = append(p.conflicts, fmt.Sprintf("subject %s version %d: the target has schema id %d (%s) there, the snapshot id %d (%s)",
						s.Name, v.Version, h.ID, h.Type, v.ID, v.Type))
				case h.Deleted && !v.Deleted:
					p.conflicts = append(p.conflicts, fmt.Sprintf("subject %s version %d (id %d) is soft-deleted in the target but live in the snapshot; the API cannot undelete it",
						s.Name, v.Version, v.ID))
				case !h.Deleted && v.Deleted:
					p.delete = append(p.delete, k)
				}
				continue
			}
			p.register = append(p.register, k)
			if v.Deleted {
				p.delete = append(p.delete, k)
			}
			if !p.empty {
				idChecks = append(idChecks, k)
			}
			for _, r := range v.References {
				rk := vkey{r.Subject, r.Version}
				if restored[rk] {
					continue
				}
				live, seen := liveRefs[r.Subject]
				if !seen {
					if live, err = c.Versions(ctx, r.Subject, false); err != nil {
						return nil, classify(err)
					}
					liveRefs[r.Subject] = live
				}
				if !slices.Contains(live, r.Version) {
					p.conflicts = append(p.conflicts, fmt.Sprintf("subject %s version %d (id %d) references %s version %d, which is neither restored nor in the target",
						s.Name, v.Version, v.ID, r.Subject, r.Version))
				}
			}
		}
		p.addConfig(s.Name, have.Compatibility, have.Config, s.Compatibility, s.Config)
		p.addSetting("mode", s.Name, have.Mode, s.Mode)
	}
	if err := a.checkIDs(ctx, c, p, idChecks); err != nil {
		return nil, err
	}
	if len(in.Spec.Names) == 0 && len(in.Spec.Prefixes) == 0 && len(in.Spec.Renames) == 0 {
		// The global config and mode are the registry's, so only a whole-registry restore sets
		// them. IMPORT in a snapshot (taken during someone's import) is not restored: Arkive
		// never leaves a registry in IMPORT mode.
		level, fields, err := c.Config(ctx, "")
		if err != nil {
			return nil, classify(err)
		}
		if snap.Compatibility != "" || len(snap.Config) > 0 {
			p.addConfig("", level, fields, snap.Compatibility, snap.Config)
		}
		if snap.Mode != "" && snap.Mode != schemarestore.ModeImport {
			p.mode = snap.Mode
			p.addSetting("mode", "", p.currentMode, snap.Mode)
		}
	}
	p.order()
	for _, k := range p.register {
		v := p.versions[k]
		p.diff = append(p.diff, fmt.Sprintf("+ %s version %d (id %d, %s)", k.subject, k.version, v.ID, v.Type))
	}
	for _, k := range p.delete {
		p.diff = append(p.diff, fmt.Sprintf("- soft-delete %s version %d (id %d)", k.subject, k.version, p.versions[k].ID))
	}
	for _, s := range p.settings {
		where := s.subject
		if where == "" {
			where = "(global)"
		}
		p.diff = append(p.diff, fmt.Sprintf("~ %s %s: %s → %s", where, s.kind, orNone(s.from), orNone(s.to)))
	}
	return p, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

func (p *restorePlan) addSetting(kind, subject, from, to string) {
	if from != to {
		p.settings = append(p.settings, setting{kind: kind, subject: subject, from: from, to: to})
	}
}

// addConfig plans writing a config (the target's: level and fields have; the snapshot's:
// level and fields) when the two differ.
func (p *restorePlan) addConfig(subject, haveLevel string, have map[string]json.RawMessage, level string, fields map[string]json.RawMessage) {
	if p.legacy {
		have, fields = nil, nil
	}
	from, to := configValue(haveLevel, have), configValue(level, fields)
	if from == to {
		return
	}
	st := setting{kind: "compatibility", subject: subject, from: from, to: to, level: level, fields: fields}
	for k := range have {
		if _, ok := fields[k]; !ok {
			st.clear = append(st.clear, k)
		}
	}
	slices.Sort(st.clear)
	p.settings = append(p.settings, st)
}

// configValue is a config as one comparable line: the level, then the other fields as
// canonical JSON when there are any; "" for none.
func configValue(level string, fields map[string]json.RawMessage) string {
	if len(fields) == 0 {
		return level
	}
	canon := make(map[string]json.RawMessage, len(fields))
	for k, v := range fields {
		canon[k] = json.RawMessage(Canonical(v))
	}
	b, _ := json.Marshal(canon) // sorted keys
	return strings.TrimSpace(level + " " + string(b))
}

// checkIDs looks up, in the target, every id the restore would register: an id the target uses
// for a different schema is a conflict naming both sides.
func (a *Activities) checkIDs(ctx context.Context, c *Client, p *restorePlan, keys []vkey) error {
	found := make([]string, len(keys))
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(a.concurrency())
	for i, k := range keys {
		g.Go(func() error {
			v := p.versions[k]
			s, ok, err := c.SchemaByID(gctx, v.ID)
			if err != nil || !ok {
				return err
			}
			if s.SchemaType == v.Type && s.Schema == v.Schema && slices.Equal(refsOf(s.References), v.References) && SameIdentity(s.Fields, v.Fields) {
				return nil
			}
			users, err := c.SchemaUsers(gctx, v.ID)
			if err != nil {
				return err
			}
			where := "no live subject"
			if len(users) > 0 {
				where = fmt.Sprintf("subject %s version %d", users[0].Subject, users[0].Version)
			}
			found[i] = fmt.Sprintf("schema id %d: the snapshot's subject %s version %d has it, but the target uses it for a different schema (%s)",
				v.ID, k.subject, k.version, where)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return classify(err)
	}
	for _, f := range found {
		if f != "" {
			p.conflicts = append(p.conflicts, f)
		}
	}
	return nil
}

// order sorts registrations so every version comes after the versions it references and after
// the earlier versions of its subject, ties broken by id, then by the place the source listed
// the version among the sharers of its id (so the target lists them in the same order), then by
// subject and version; soft-deletes go in the reverse order, so a referrer is deleted before
// what it references.
func (p *restorePlan) order() {
	rank := func(k vkey) int {
		if r := p.versions[k].IDRank; r > 0 {
			return r
		}
		return math.MaxInt // unranked after ranked: older snapshots, deleted versions
	}
	slices.SortFunc(p.register, func(a, b vkey) int {
		return cmp.Or(cmp.Compare(p.versions[a].ID, p.versions[b].ID), cmp.Compare(rank(a), rank(b)),
			strings.Compare(a.subject, b.subject), cmp.Compare(a.version, b.version))
	})
	index := make(map[vkey]int, len(p.register))
	bySubject := map[string][]int{}
	for i, k := range p.register {
		index[k] = i
		bySubject[k.subject] = append(bySubject[k.subject], i)
	}
	indeg := make([]int, len(p.register))
	next := make([][]int, len(p.register))
	for i, k := range p.register {
		v := p.versions[k]
		for _, r := range v.References {
			if j, ok := index[vkey{r.Subject, r.Version}]; ok && j != i {
				next[j] = append(next[j], i)
				indeg[i]++
			}
		}
	}
	for _, list := range bySubject {
		slices.SortFunc(list, func(a, b int) int { return cmp.Compare(p.register[a].version, p.register[b].version) })
		for n := 1; n < len(list); n++ {
			next[list[n-1]] = append(next[list[n-1]], list[n])
			indeg[list[n]]++
		}
	}
	ready := &intHeap{}
	for i, d := range indeg {
		if d == 0 {
			heap.Push(ready, i)
		}
	}
	sorted := make([]vkey, 0, len(p.register))
	pos := make(map[vkey]int, len(p.register))
	for ready.Len() > 0 {
		i := heap.Pop(ready).(int)
		pos[p.register[i]] = len(sorted)
		sorted = append(sorted, p.register[i])
		for _, j := range next[i] {
			if indeg[j]--; indeg[j] == 0 {
				heap.Push(ready, j)
			}
		}
	}
	if len(sorted) < len(p.register) { // a reference cycle: impossible in a registry, keep the rest in order
		for _, k := range p.register {
			if _, ok := pos[k]; !ok {
				pos[k] = len(sorted)
				sorted = append(sorted, k)
			}
		}
	}
	p.register = sorted
	slices.SortStableFunc(p.delete, func(a, b vkey) int {
		pa, oka := pos[a]
		pb, okb := pos[b]
		switch {
		case oka && okb:
			return pb - pa
		case oka:
			return -1
		case okb:
			return 1
		}
		return 0
	})
}

type intHeap []int

func (h intHeap) Len() int           { return len(h) }
func (h intHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h intHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *intHeap) Push(x any)        { *h = append(*h, x.(int)) }
func (h *intHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

func (p *restorePlan) conflictError() error {
	if len(p.conflicts) == 0 {
		return nil
	}
	return temporal.NewNonRetryableApplicationError(schemarestore.ConflictMessage(p.conflicts, len(p.conflicts)), schemarestore.ErrConflict, nil)
}

// PlanRestore is the preflight: it reads the snapshot and the target and says what a restore
// would change. A conflict (an id the target uses for another schema, a version that differs,
// a reference that would dangle) fails here, before anything is written, naming both sides.
func (a *Activities) PlanRestore(ctx context.Context, in schemarestore.PlanInput) (_ schemarestore.Plan, err error) {
	defer func() { err = classify(err) }() // every failure leaves with a stable type
	c, st, err := a.open(ctx, in.Connection)
	if err != nil {
		return schemarestore.Plan{}, err
	}
	defer c.Close()
	defer st.Close()
	// Reading a large target takes a while and reports nothing: heartbeat through it.
	var done atomic.Int64
	defer heartbeat(ctx, &done)()
	p, err := a.prepare(ctx, c, st, schemarestore.ImportInput{Connection: in.Connection, Spec: in.Spec, Snapshot: in.Spec.Snapshot})
	if err != nil {
		return schemarestore.Plan{}, err
	}
	// A dry run shows its plan whatever it finds: the conflicts travel in the plan (the workflow
	// then fails, showing both). A restore fails here, before anything is written.
	if err := p.conflictError(); err != nil && !in.Spec.DryRun {
		return schemarestore.Plan{}, err
	}
	out := schemarestore.Plan{Snapshot: p.snapshot, Subjects: len(p.subjects), Versions: len(p.versions), Register: len(p.register),
		Delete: len(p.delete), Settings: len(p.settings), CurrentMode: p.currentMode, Mode: p.mode, Empty: p.empty}
	out.Diff = p.diff[:min(len(p.diff), schemarestore.MaxDiffLines)]
	out.DiffTruncated = len(p.diff) > len(out.Diff)
	out.Conflicts, out.ConflictCount = p.conflicts[:min(len(p.conflicts), schemarestore.MaxDiffLines)], len(p.conflicts)
	return out, nil
}

// SetMode sets the target's global mode and returns the one it had.
func (a *Activities) SetMode(ctx context.Context, in schemarestore.ModeInput) (_ schemarestore.ModeResult, err error) {
	defer func() { err = classify(err) }() // every failure leaves with a stable type
	defer beat.Start(ctx, nil)()
	c, err := a.client(ctx, in.Connection)
	if err != nil {
		return schemarestore.ModeResult{}, err
	}
	defer c.Close()
	prev, err := c.Mode(ctx, "")
	if err != nil {
		return schemarestore.ModeResult{}, classify(err)
	}
	if prev != in.Mode {
		if err := c.SetMode(ctx, "", in.Mode, in.Force); err != nil {
			return schemarestore.ModeResult{}, classify(err)
		}
	}
	return schemarestore.ModeResult{Previous: prev}, nil
}

// Import writes what the plan decides, in order: subject-level IMPORT mode where a subject's own
// mode would refuse the writes, every version with its original id and version, soft-deletes,
// then subject (and, for a whole registry, global) settings. The target must be in IMPORT mode.
func (a *Activities) Import(ctx context.Context, in schemarestore.ImportInput) (_ schemarestore.ImportResult, err error) {
	defer func() { err = classify(err) }() // every failure leaves with a stable type
	c, st, err := a.open(ctx, in.Connection)
	if err != nil {
		return schemarestore.ImportResult{}, err
	}
	defer c.Close()
	defer st.Close()
	// The heartbeat covers the plan's reading too, not only the writes.
	var done atomic.Int64
	defer heartbeat(ctx, &done)()
	p, err := a.prepare(ctx, c, st, in)
	if err != nil {
		return schemarestore.ImportResult{}, err
	}
	if err := p.conflictError(); err != nil {
		return schemarestore.ImportResult{}, err
	}
	res := schemarestore.ImportResult{Subjects: len(p.subjects)}
	for _, k := range p.register {
		if mode, ok := p.ownMode[k.subject]; ok && mode != schemarestore.ModeImport {
			if err := c.SetMode(ctx, k.subject, schemarestore.ModeImport, false); err != nil {
				return res, classify(err)
			}
			p.ownMode[k.subject] = schemarestore.ModeImport
			p.addSetting("mode", k.subject, schemarestore.ModeImport, p.subjectSetting("mode", k.subject))
		}
		v := p.versions[k]
		req := RegisterRequest{Schema: v.Schema, SchemaType: v.Type, ID: v.ID, Version: v.Version, Fields: v.Fields}
		for _, r := range v.References {
			req.References = append(req.References, Reference{Name: r.Name, Subject: r.Subject, Version: r.Version})
		}
		if _, err := c.Register(ctx, k.subject, req); err != nil {
			return res, classify(fmt.Errorf("register %s version %d (id %d): %w", k.subject, k.version, v.ID, err))
		}
		res.Registered++
		done.Add(1)
	}
	for _, k := range p.delete {
		if err := c.DeleteVersion(ctx, k.subject, k.version); err != nil {
			return res, classify(fmt.Errorf("soft-delete %s version %d: %w", k.subject, k.version, err))
		}
		res.Deleted++
		done.Add(1)
	}
	// Configs after the versions (a config's default or override metadata would otherwise be
	// merged into the versions registered after it), modes last: a subject restored as
	// READONLY refuses nothing after it. The global mode is the workflow's, after IMPORT ends.
	for _, kind := range []string{"compatibility", "mode"} {
		for _, s := range p.settings {
			if s.kind != kind || (kind == "mode" && s.subject == "") {
				continue
			}
			if err := p.write(ctx, c, s); err != nil {
				return res, classify(fmt.Errorf("set %s of %s: %w", kind, orNone(s.subject), err))
			}
			res.Settings++
		}
	}
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, res.ImportProgress)
	}
	return res, nil
}

// write applies one setting. A config the target holds with fields the snapshot's lacks is
// removed first (a subject's) or has them written as null (the global one, which cannot be
// removed; Confluent's API reads null as "clear"), since a write only merges.
func (p *restorePlan) write(ctx context.Context, c *Client, s setting) error {
	switch {
	case s.kind == "mode":
		return c.SetMode(ctx, s.subject, s.to, false)
	case s.to == "":
		return c.DeleteConfig(ctx, s.subject)
	case len(s.clear) > 0 && s.subject != "":
		if err := c.DeleteConfig(ctx, s.subject); err != nil {
			return err
		}
	case len(s.clear) > 0:
		fields := maps.Clone(s.fields)
		if fields == nil {
			fields = map[string]json.RawMessage{}
		}
		for _, k := range s.clear {
			fields[k] = json.RawMessage("null")
		}
		return c.SetConfig(ctx, "", s.level, fields)
	}
	return c.SetConfig(ctx, s.subject, s.level, s.fields)
}

// subjectSetting is the snapshot's own setting of a (target-named) subject.
func (p *restorePlan) subjectSetting(kind, subject string) string {
	for _, s := range p.subjects {
		if s.Name == subject {
			if kind == "mode" {
				return s.Mode
			}
			return s.Compatibility
		}
	}
	return ""
}
