package kinds

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/api/serviceerror"
	tclient "go.temporal.io/sdk/client"
	"go.temporal.io/sdk/temporal"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/workflows"
)

// Object is a resource of any kind (the same method set as controller-runtime's client.Object).
type Object interface {
	metav1.Object
	runtime.Object
}

// Ref is a connection resource a work resource names: the field, the kind and the name.
type Ref struct {
	Field, Kind, Name string
}

// Work is a work kind: a resource run by one workflow.
type Work struct {
	// Kind is the resource's kind, as in YAML ("KafkaBackup"); workflow ids use it lowercased.
	Kind string
	// Plural and Short are the CRD's plural and short name, which the CLI also takes.
	Plural, Short string
	// Workflow is the registered workflow name.
	Workflow string
	// RunsOnce: a restore runs once (and again when its spec changes); a backup runs forever,
	// takes spec updates by signal, and can be triggered.
	RunsOnce bool

	// New returns an empty resource of the kind.
	New func() Object
	// Status is the part of the status every work kind shares.
	Status func(Object) *arkivev1.WorkStatus
	// Refs are the connection resources the resource names, in the order Input takes them.
	Refs func(Object) []Ref
	// Input builds the workflow's start input from the resource and the objects its Refs
	// name, and (backups) the spec the update signal carries. It applies the CRD defaults and
	// checks what admission cannot, naming the field.
	Input func(obj Object, refs []Object) (start, update any, err error)
	// Phase is the resource's status phase.
	Phase func(Object) string
	// Mirror copies the workflow's status query (decode reads it) into the resource's status.
	Mirror func(obj Object, decode func(any) error) error
	// Finished (restores) says the run for the current spec has ended: nothing more to follow.
	Finished func(Object) bool
	// Terminated (restores) records a workflow terminated by hand: the run failed, and the
	// workflow will answer no more queries.
	Terminated func(obj Object, message string)
	// Release (optional, restores that keep objects in the storage while they run) turns the
	// start input into that of a run that only releases what a run terminated by hand kept
	// there; the operator starts it under the same workflow id when the resource is deleted.
	Release func(start any) any
	// Warning (optional) is the warning the resource's status shows, and the run it belongs
	// to: the operator sends a Warning event for each new run that has one.
	Warning func(Object) (warning, run string)
	// LastRun (optional) is the newest run's id, its outcome, and a summary for people: the
	// operator sends an event for each run that ends.
	LastRun func(Object) (id, outcome, summary string)
	// Figures are what the operator exports as metrics for the resource (docs/metrics.md).
	Figures func(Object) Figures
}

// Figures are a resource's metrics, read from its spec and status. A zero field is not
// exported.
type Figures struct {
	// LastSuccess (backups) is when the backup last stored everything it was to store then.
	LastSuccess time.Time
	// NextRun (scheduled backups) is the next scheduled run.
	NextRun time.Time
	// Interval (backups) is how often the backup succeeds when all is well: a continuous Kafka
	// backup's round, the schedule's period otherwise; 0 for a backup that runs when triggered.
	Interval time.Duration
	// LagRecords (Kafka backups) counts the records the source holds and the backup does not.
	LagRecords *int64
	// Snapshots (snapshot backups) counts the snapshots kept.
	Snapshots *int64
	// Progress (restores) is the share of the restore done, 0 to 1.
	Progress *float64
}

// Connection is a connection kind: a resource that work resources name, whose Ready
// condition a connectivity check on a worker keeps.
type Connection struct {
	Kind string
	New  func() Object
	// Status is where the Ready condition goes.
	Status func(Object) *arkivev1.ConnectionStatus
	// Spec is what the check (and the workflows) receive, as JSON: Secret references only.
	Spec func(Object) any
	// Secrets are the Secrets the spec names, each with the field (prefixed by the kind and
	// name) that names it; the operator checks they exist.
	Secrets func(Object) map[string]string
}

// Works are the work kinds, Connections the connection kinds. Order is the order of help
// texts and of `arkive run`'s starts.
var (
	Works       = []*Work{kafkaBackup, kafkaRestore, schemaBackup, schemaRestore, resourceBackup, resourceRestore, zookeeperBackup, zookeeperRestore}
	Connections = []*Connection{kafkaCluster, schemaRegistry, zookeeperEnsemble, storage}
)

// WorkKind is the work kind named kind ("KafkaBackup"), or nil.
func WorkKind(kind string) *Work {
	i := slices.IndexFunc(Works, func(w *Work) bool { return w.Kind == kind })
	if i < 0 {
		return nil
	}
	return Works[i]
}

// ConnectionKind is the connection kind named kind, or nil.
func ConnectionKind(kind string) *Connection {
	i := slices.IndexFunc(Connections, func(c *Connection) bool { return c.Kind == kind })
	if i < 0 {
		return nil
	}
	return Connections[i]
}

// Parse reads what a user types for a kind, as kubectl takes it: the kind, its plural or its
// short name, in any case.
func Parse(s string) *Work {
	s = strings.ToLower(s)
	for _, w := range Works {
		if s == strings.ToLower(w.Kind) || s == w.Plural || s == w.Short {
			return w
		}
	}
	return nil
}

// CLINames lists the work kinds as the CLI takes them: "kafkabackup (kb), … or x (y)".
func CLINames(or string) string {
	var names []string
	for _, w := range Works {
		names = append(names, fmt.Sprintf("%s (%s)", strings.ToLower(w.Kind), w.Short))
	}
	return joinList(names, or)
}

// KindNames lists the kinds ("KafkaBackup, …and X") of works, for help and errors.
func KindNames(works []*Work, and string) string {
	var names []string
	for _, w := range works {
		names = append(names, w.Kind)
	}
	return joinList(names, and)
}

// joinList joins names with commas and last before the last name ("a, b and c"); last ","
// joins them all with commas.
func joinList(names []string, last string) string {
	if len(names) < 2 || last == "," {
		return strings.Join(names, ", ")
	}
	return strings.Join(names[:len(names)-1], ", ") + " " + last + " " + names[len(names)-1]
}

// WorkflowID is the id of the workflow that runs a resource of the kind.
func (w *Work) WorkflowID(namespace, name string) string {
	return workflows.WorkflowID(w.Kind, namespace, name)
}

// Start starts the workflow of one resource, idempotently. A backup starts with
// SignalWithStart: it starts the workflow or hands the running one the new spec (its
// checkpoints stay), never a second workflow for one resource. A restore starts unless it is
// running already (then the running one stays); a restore that ended starts anew under the same
// id, which is how a corrected spec runs again.
//
// The workflow carries Arkive's search attributes and a summary for the Temporal UI; where the
// namespace has not registered the attributes, it starts without them.
func (w *Work) Start(ctx context.Context, c tclient.Client, id, queue string, start, update any) (tclient.WorkflowRun, error) {
	return w.startWith(ctx, c, StartOptions(w.Kind, id, queue), start, update)
}

// ReleaseMemo marks the runs StartRelease starts (in the workflow's memo), so that the
// operator waits for such a run instead of cancelling it.
const ReleaseMemo = "arkive.release"

// StartRelease starts, under the resource's workflow id, a run that only releases what a run
// terminated by hand kept in the storage (Release); start is the resource's start input.
func (w *Work) StartRelease(ctx context.Context, c tclient.Client, id, queue string, start any) error {
	opts := StartOptions(w.Kind, id, queue)
	opts.Memo = map[string]any{ReleaseMemo: true}
	_, err := w.startWith(ctx, c, opts, w.Release(start), nil)
	return err
}

func (w *Work) startWith(ctx context.Context, c tclient.Client, opts tclient.StartWorkflowOptions, start, update any) (tclient.WorkflowRun, error) {
	run, err := w.start(ctx, c, opts, start, update)
	var invalid *serviceerror.InvalidArgument
	if errors.As(err, &invalid) && strings.Contains(strings.ToLower(invalid.Error()), "search attribute") {
		opts.TypedSearchAttributes = temporal.SearchAttributes{}
		return w.start(ctx, c, opts, start, update)
	}
	return run, err
}

// StartOptions are what a resource's workflow starts with: its id and task queue, Arkive's
// search attributes and a summary for the Temporal UI.
func StartOptions(kind, id, queue string) tclient.StartWorkflowOptions {
	opts := tclient.StartWorkflowOptions{ID: id, TaskQueue: queue}
	if lower, namespace, name, ok := workflows.ParseWorkflowID(id); ok {
		opts.TypedSearchAttributes = workflows.StartAttributes(lower, namespace, name)
		opts.StaticSummary = fmt.Sprintf("%s %s/%s", kind, namespace, name)
	}
	return opts
}

func (w *Work) start(ctx context.Context, c tclient.Client, opts tclient.StartWorkflowOptions, start, update any) (tclient.WorkflowRun, error) {
	if w.RunsOnce {
		opts.WorkflowIDConflictPolicy = enumspb.WORKFLOW_ID_CONFLICT_POLICY_USE_EXISTING
		return c.ExecuteWorkflow(ctx, opts, w.Workflow, start)
	}
	return c.SignalWithStartWorkflow(ctx, opts.ID, workflows.SignalUpdate, update, opts, w.Workflow, start)
}

// Update hands a running backup's workflow a changed spec.
func (w *Work) Update(ctx context.Context, c tclient.Client, id string, update any) error {
	return c.SignalWorkflow(ctx, id, "", workflows.SignalUpdate, update)
}

// work builds a table entry from functions on the kind's own types, so each kind's file
// states only what is its own and no entry repeats the type assertions.
type work[O Object, S any] struct {
	kind, plural, short, workflow string
	runsOnce                      bool
	new                           func() O
	status                        func(O) *arkivev1.WorkStatus
	refs                          func(O) []Ref
	input                         func(O, []Object) (any, any, error)
	phase                         func(O) string
	mirror                        func(O, *S)
	// restore (restores only) is the resource's phase and whether it is a dry run.
	restore func(O) (*arkivev1.RestorePhase, bool)
	warning func(O) (string, string)
	lastRun func(O) (string, string, string)
	figures func(O) Figures
	release func(start any) any
}

func (k work[O, S]) entry() *Work {
	w := &Work{Kind: k.kind, Plural: k.plural, Short: k.short, Workflow: k.workflow, RunsOnce: k.runsOnce,
		New:    func() Object { return k.new() },
		Status: func(o Object) *arkivev1.WorkStatus { return k.status(o.(O)) },
		Refs:   func(o Object) []Ref { return k.refs(o.(O)) },
		Input:  func(o Object, refs []Object) (any, any, error) { return k.input(o.(O), refs) },
		Phase:  func(o Object) string { return k.phase(o.(O)) },
		Mirror: func(o Object, decode func(any) error) error {
			var s S
			if err := decode(&s); err != nil {
				return err
			}
			k.mirror(o.(O), &s)
			return nil
		},
	}
	w.Release = k.release
	if k.warning != nil {
		w.Warning = func(o Object) (string, string) { return k.warning(o.(O)) }
	}
	if k.lastRun != nil {
		w.LastRun = func(o Object) (string, string, string) { return k.lastRun(o.(O)) }
	}
	w.Figures = func(o Object) Figures {
		var f Figures
		if k.figures != nil {
			f = k.figures(o.(O))
		}
		if k.restore != nil && f.Progress == nil {
			// A restore that reports no finer progress: none until it is done.
			switch phase, _ := k.restore(o.(O)); *phase {
			case arkivev1.RestoreRestoring:
				f.Progress = ptr.To(0.0)
			case arkivev1.RestoreDone:
				f.Progress = ptr.To(1.0)
			}
		}
		return f
	}
	if k.restore != nil {
		w.Finished = func(o Object) bool {
			phase, dryRun := k.restore(o.(O))
			return *phase == arkivev1.RestoreDone || *phase == arkivev1.RestoreFailed || (dryRun && *phase == arkivev1.RestoreReady)
		}
		w.Terminated = func(o Object, message string) {
			phase, _ := k.restore(o.(O))
			st := k.status(o.(O))
			*phase, st.LastError = arkivev1.RestoreFailed, message
			SetWorkflowReady(&st.Conditions, o.GetGeneration(), metav1.ConditionFalse, arkivev1.ReasonTerminated, message)
		}
	}
	return w
}

// connection builds a connection table entry, like work.
type connection[O Object] struct {
	kind    string
	new     func() O
	status  func(O) *arkivev1.ConnectionStatus
	spec    func(O) any
	secrets func(O, func(name, field string))
}

func (k connection[O]) entry() *Connection {
	return &Connection{Kind: k.kind, New: func() Object { return k.new() },
		Status: func(o Object) *arkivev1.ConnectionStatus { return k.status(o.(O)) },
		Spec:   func(o Object) any { return k.spec(o.(O)) },
		Secrets: func(o Object) map[string]string {
			named := map[string]string{}
			k.secrets(o.(O), func(name, field string) {
				if name != "" {
					named[name] = k.kind + " " + o.GetName() + " spec." + field
				}
			})
			return named
		},
	}
}
