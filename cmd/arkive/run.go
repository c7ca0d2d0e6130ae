package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"k8s.io/apimachinery/pkg/util/yaml"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/specs"
	"arkive.io/arkive/workflows"
	"arkive.io/arkive/workflows/kafkabackup"
	"arkive.io/arkive/workflows/kafkarestore"
	"arkive.io/arkive/workflows/schemabackup"
	"arkive.io/arkive/workflows/schemarestore"
)

// resources are the objects of one YAML file, by kind and name.
type resources struct {
	clusters map[string]*arkivev1.KafkaCluster
	storages map[string]*arkivev1.Storage
	backups  []*arkivev1.KafkaBackup
	restores []*arkivev1.KafkaRestore

	registries     map[string]*arkivev1.SchemaRegistry
	schemaBackups  []*arkivev1.SchemaRegistryBackup
	schemaRestores []*arkivev1.SchemaRegistryRestore
}

// loadResources reads the same multi-document YAML `kubectl apply -f` takes.
func loadResources(r io.Reader) (*resources, error) {
	res := &resources{clusters: map[string]*arkivev1.KafkaCluster{}, storages: map[string]*arkivev1.Storage{},
		registries: map[string]*arkivev1.SchemaRegistry{}}
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
		var err error
		switch head.Kind {
		case "KafkaCluster":
			o := &arkivev1.KafkaCluster{}
			err = strictUnmarshal(raw, o)
			res.clusters[o.Name] = o
		case "Storage":
			o := &arkivev1.Storage{}
			err = strictUnmarshal(raw, o)
			res.storages[o.Name] = o
		case "KafkaBackup":
			o := &arkivev1.KafkaBackup{}
			err = strictUnmarshal(raw, o)
			res.backups = append(res.backups, o)
		case "KafkaRestore":
			o := &arkivev1.KafkaRestore{}
			err = strictUnmarshal(raw, o)
			res.restores = append(res.restores, o)
		case "SchemaRegistry":
			o := &arkivev1.SchemaRegistry{}
			err = strictUnmarshal(raw, o)
			res.registries[o.Name] = o
		case "SchemaRegistryBackup":
			o := &arkivev1.SchemaRegistryBackup{}
			err = strictUnmarshal(raw, o)
			res.schemaBackups = append(res.schemaBackups, o)
		case "SchemaRegistryRestore":
			o := &arkivev1.SchemaRegistryRestore{}
			err = strictUnmarshal(raw, o)
			res.schemaRestores = append(res.schemaRestores, o)
		default:
			return nil, fmt.Errorf("document %d: kind %q is not supported by arkive run (KafkaCluster, SchemaRegistry, Storage, KafkaBackup, KafkaRestore, SchemaRegistryBackup, SchemaRegistryRestore)", doc, head.Kind)
		}
		if err != nil {
			return nil, fmt.Errorf("document %d (%s): %w", doc, head.Kind, err)
		}
	}
	return res, nil
}

// strictUnmarshal refuses unknown fields, so a misspelt field is an error, not a silent default.
func strictUnmarshal(raw []byte, into any) error {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.DisallowUnknownFields()
	return d.Decode(into)
}

// backupInputs builds the workflow input of every KafkaBackup in the file.
func (r *resources) backupInputs() ([]kafkabackup.Input, []string, error) {
	var inputs []kafkabackup.Input
	var ids []string
	for _, kb := range r.backups {
		kc, ok := r.clusters[kb.Spec.Source]
		if !ok {
			return nil, nil, fmt.Errorf("KafkaBackup %s: spec.source: no KafkaCluster %q in the file", kb.Name, kb.Spec.Source)
		}
		st, ok := r.storages[kb.Spec.Sink]
		if !ok {
			return nil, nil, fmt.Errorf("KafkaBackup %s: spec.sink: no Storage %q in the file", kb.Name, kb.Spec.Sink)
		}
		in, err := specs.KafkaBackupInput(kb, kc, st)
		if err != nil {
			return nil, nil, fmt.Errorf("KafkaBackup %s: %w", kb.Name, err)
		}
		inputs = append(inputs, in)
		ids = append(ids, workflows.WorkflowID("KafkaBackup", in.Namespace, kb.Name))
	}
	return inputs, ids, nil
}

// restoreInputs builds the workflow input of every KafkaRestore in the file.
func (r *resources) restoreInputs() ([]kafkarestore.RunInput, []string, error) {
	var inputs []kafkarestore.RunInput
	var ids []string
	for _, kr := range r.restores {
		kc, ok := r.clusters[kr.Spec.Target]
		if !ok {
			return nil, nil, fmt.Errorf("KafkaRestore %s: spec.target: no KafkaCluster %q in the file", kr.Name, kr.Spec.Target)
		}
		st, ok := r.storages[kr.Spec.Source.Storage]
		if !ok {
			return nil, nil, fmt.Errorf("KafkaRestore %s: spec.source.storage: no Storage %q in the file", kr.Name, kr.Spec.Source.Storage)
		}
		in, err := specs.KafkaRestoreInput(kr, kc, st)
		if err != nil {
			return nil, nil, fmt.Errorf("KafkaRestore %s: %w", kr.Name, err)
		}
		inputs = append(inputs, in)
		ids = append(ids, workflows.WorkflowID("KafkaRestore", in.Namespace, kr.Name))
	}
	return inputs, ids, nil
}

// schemaInputs builds the workflow inputs of the file's SchemaRegistryBackups and -Restores.
func (r *resources) schemaInputs() ([]schemabackup.Input, []string, []schemarestore.Input, []string, error) {
	var bins []schemabackup.Input
	var rins []schemarestore.Input
	var bids, rids []string
	lookup := func(kind, name, field, reg, store string) (*arkivev1.SchemaRegistry, *arkivev1.Storage, error) {
		sr, ok := r.registries[reg]
		if !ok {
			return nil, nil, fmt.Errorf("%s %s: %s: no SchemaRegistry %q in the file", kind, name, field, reg)
		}
		st, ok := r.storages[store]
		if !ok {
			return nil, nil, fmt.Errorf("%s %s: no Storage %q in the file", kind, name, store)
		}
		return sr, st, nil
	}
	for _, b := range r.schemaBackups {
		sr, st, err := lookup("SchemaRegistryBackup", b.Name, "spec.registry", b.Spec.Registry, b.Spec.Storage)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		in, err := specs.SchemaBackupInput(b, sr, st)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("SchemaRegistryBackup %s: %w", b.Name, err)
		}
		bins = append(bins, in)
		bids = append(bids, workflows.WorkflowID("SchemaRegistryBackup", in.Namespace, b.Name))
	}
	for _, rs := range r.schemaRestores {
		sr, st, err := lookup("SchemaRegistryRestore", rs.Name, "spec.target", rs.Spec.Target, rs.Spec.Source.Storage)
		if err != nil {
			return nil, nil, nil, nil, err
		}
		in, err := specs.SchemaRestoreInput(rs, sr, st)
		if err != nil {
			return nil, nil, nil, nil, fmt.Errorf("SchemaRegistryRestore %s: %w", rs.Name, err)
		}
		rins = append(rins, in)
		rids = append(rids, workflows.WorkflowID("SchemaRegistryRestore", in.Namespace, rs.Name))
	}
	return bins, bids, rins, rids, nil
}

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var f workerFlags
	var file string
	var noWorker bool
	fs := newFlagSet("run", `Starts (or updates) the workflows of the KafkaBackup, KafkaRestore, SchemaRegistryBackup and
SchemaRegistryRestore resources in FILE, the same YAML kubectl takes, and runs a worker in this
process unless --no-worker is given.`, stderr)
	f.register(fs)
	fs.StringVar(&file, "f", "", "YAML file with connection (KafkaCluster, SchemaRegistry, Storage) and work resources (- for stdin)")
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
	inputs, ids, err := res.backupInputs()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	rinputs, rids, err := res.restoreInputs()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	sbins, sbids, srins, srids, err := res.schemaInputs()
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	if len(inputs)+len(rinputs)+len(sbins)+len(srins) == 0 {
		return fmt.Errorf("%s: the file holds no KafkaBackup, KafkaRestore, SchemaRegistryBackup or SchemaRegistryRestore", file)
	}
	if !noWorker {
		f.withMetrics()
	}
	c, err := f.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i, input := range inputs {
		// Start, or hand the running workflow the new spec: its checkpoints stay.
		run, err := c.SignalWithStartWorkflow(ctx, ids[i], workflows.SignalUpdate, input.Spec,
			client.StartWorkflowOptions{ID: ids[i], TaskQueue: f.taskQueue}, kafkabackup.WorkflowName, input)
		if err != nil {
			return fmt.Errorf("start %s: %w", ids[i], err)
		}
		fmt.Fprintf(stdout, "%s started or updated (run %s)\n", ids[i], run.GetRunID())
	}
	for i, input := range rinputs {
		// A restore runs once: starting it again while it runs is refused, not repeated.
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: rids[i], TaskQueue: f.taskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, kafkarestore.WorkflowName, input)
		if err != nil {
			return fmt.Errorf("start %s: %w", rids[i], err)
		}
		fmt.Fprintf(stdout, "%s started (run %s)\n", rids[i], run.GetRunID())
	}
	for i, input := range sbins {
		run, err := c.SignalWithStartWorkflow(ctx, sbids[i], workflows.SignalUpdate, input.Spec,
			client.StartWorkflowOptions{ID: sbids[i], TaskQueue: f.taskQueue}, schemabackup.WorkflowName, schemabackup.RunInput{Input: input})
		if err != nil {
			return fmt.Errorf("start %s: %w", sbids[i], err)
		}
		fmt.Fprintf(stdout, "%s started or updated (run %s)\n", sbids[i], run.GetRunID())
	}
	for i, input := range srins {
		run, err := c.ExecuteWorkflow(ctx, client.StartWorkflowOptions{ID: srids[i], TaskQueue: f.taskQueue,
			WorkflowIDConflictPolicy: enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING}, schemarestore.WorkflowName, input)
		if err != nil {
			return fmt.Errorf("start %s: %w", srids[i], err)
		}
		fmt.Fprintf(stdout, "%s started (run %s)\n", srids[i], run.GetRunID())
	}
	if noWorker {
		return nil
	}
	return runWorker(ctx, c, f, stderr)
}
