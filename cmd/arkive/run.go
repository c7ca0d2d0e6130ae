package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"k8s.io/apimachinery/pkg/util/yaml"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/internal/specs"
)

// resources are the objects of one YAML file: connection objects by kind and name, and work
// objects in file order.
type resources struct {
	connections map[string]map[string]kinds.Object
	work        []workObject
}

type workObject struct {
	kind *kinds.Work
	obj  kinds.Object
}

// start is one workflow `arkive run` starts.
type start struct {
	kind          *kinds.Work
	id            string
	input, update any
}

// loadResources reads the same multi-document YAML `kubectl apply -f` takes.
func loadResources(r io.Reader) (*resources, error) {
	res := &resources{connections: map[string]map[string]kinds.Object{}}
	dec := yaml.NewYAMLOrJSONDecoder(r, 64<<10)
	for doc := 1; ; doc++ {
		var raw json.RawMessage
		if err := dec.Decode(&raw); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if len(raw) == 0 || string(raw) == "null" {
			continue
		}
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := json.Unmarshal(raw, &head); err != nil {
			return nil, fmt.Errorf("document %d: %w", doc, err)
		}
		if head.APIVersion != arkivev1.GroupVersion.String() {
			return nil, fmt.Errorf("document %d: apiVersion %q is not %s", doc, head.APIVersion, arkivev1.GroupVersion)
		}
		conn, work := kinds.ConnectionKind(head.Kind), kinds.WorkKind(head.Kind)
		var obj kinds.Object
		switch {
		case conn != nil:
			obj = conn.New()
		case work != nil:
			obj = work.New()
		default:
			return nil, fmt.Errorf("document %d: kind %q is not supported by arkive run (%s)", doc, head.Kind, supportedKinds())
		}
		if err := strictUnmarshal(raw, obj); err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", doc, head.Kind, err)
		}
		if work != nil {
			res.work = append(res.work, workObject{work, obj})
			continue
		}
		if res.connections[head.Kind] == nil {
			res.connections[head.Kind] = map[string]kinds.Object{}
		}
		res.connections[head.Kind][obj.GetName()] = obj
	}
	return res, nil
}

// supportedKinds names every kind of the table, connection kinds first.
func supportedKinds() string {
	var names []string
	for _, c := range kinds.Connections {
		names = append(names, c.Kind)
	}
	for _, w := range kinds.Works {
		names = append(names, w.Kind)
	}
	return strings.Join(names, ", ")
}

// strictUnmarshal refuses unknown fields, so a misspelt field is an error, not a silent default.
func strictUnmarshal(raw []byte, into any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(into)
}

// starts builds the workflow input of every work resource in the file, from the connection
// objects of the file its references name.
func (r *resources) starts() ([]start, error) {
	var out []start
	for _, w := range r.work {
		var refs []kinds.Object
		for _, ref := range w.kind.Refs(w.obj) {
			c, ok := r.connections[ref.Kind][ref.Name]
			if !ok {
				return nil, fmt.Errorf("%s %s: %s: no %s %q in the file", w.kind.Kind, w.obj.GetName(), ref.Field, ref.Kind, ref.Name)
			}
			refs = append(refs, c)
		}
		in, update, err := w.kind.Input(w.obj, refs)
		if err != nil {
			return nil, fmt.Errorf("%s %s: %w", w.kind.Kind, w.obj.GetName(), err)
		}
		out = append(out, start{kind: w.kind, id: w.kind.WorkflowID(specs.Namespace(w.obj.GetNamespace()), w.obj.GetName()), input: in, update: update})
	}
	// Backups first, then restores, each in table order: as before the table, and so a file
	// with both starts the backup before the restore that may read it.
	slices.SortStableFunc(out, func(a, b start) int {
		return slices.Index(kinds.Works, a.kind) - slices.Index(kinds.Works, b.kind)
	})
	return out, nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f workerFlags
	var file string
	var noWorker bool
	fs := newFlagSet("run", wrap("Starts (or updates) the workflows of the "+kinds.KindNames(kinds.Works, "and")+
		" resources in FILE, the same YAML kubectl takes, and runs a worker in this process unless --no-worker is given."), stderr)
	f.register(fs)
	fs.StringVar(&file, "f", "", "YAML file with connection (KafkaCluster, SchemaRegistry, ZooKeeperEnsemble, Storage) and work resources (- for stdin)")
	fs.BoolVar(&noWorker, "no-worker", false, "only start or update the workflows; do not run a worker in this process")
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	if file == "" {
		return errors.New("-f: a resource file is required")
	}
	in := io.Reader(os.Stdin)
	if file != "-" {
		fh, err := os.Open(file)
		if err != nil {
			return err
		}
		defer fh.Close()
		in = fh
	}
	res, err := loadResources(in)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	starts, err := res.starts()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(starts) == 0 {
		return fmt.Errorf("%s: the file holds no %s", file, kinds.KindNames(kinds.Works, "or"))
	}
	if !noWorker {
		if err := f.withMetrics(); err != nil {
			return err
		}
	}
	c, err := f.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	for _, st := range starts {
		// A backup starts, or its running workflow gets the new spec (its checkpoints stay);
		// a running restore is left as it is, not started twice.
		run, err := st.kind.Start(ctx, c, st.id, f.taskQueue, st.input, st.update)
		if err != nil {
			return fmt.Errorf("start %s: %w", st.id, err)
		}
		verb := "started or updated"
		if st.kind.RunsOnce {
			verb = "started"
		}
		fmt.Fprintf(stdout, "%s %s (run %s)\n", st.id, verb, run.GetRunID())
	}
	if noWorker {
		return nil
	}
	return runWorker(ctx, c, f, stderr)
}

// wrap breaks a help text into lines of at most 100 characters.
func wrap(text string) string {
	var b strings.Builder
	n := 0
	for _, w := range strings.Fields(text) {
		if n > 0 && n+1+len(w) > 100 {
			b.WriteByte('\n')
			n = 0
		} else if n > 0 {
			b.WriteByte(' ')
			n++
		}
		b.WriteString(w)
		n += len(w)
	}
	return b.String()
}
