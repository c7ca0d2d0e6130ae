package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"
	"sigs.k8s.io/yaml"

	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/workflows"
)

// resourceCmd parses the flags and the KIND/NAME argument of a command about one resource's
// workflow (status, pause, resume, trigger); help is the command's --help text, and extra
// (optional) adds the command's own flags. ok is false when --help was asked for (err is then
// nil).
func resourceCmd(name, help string, args []string, stderr io.Writer, extra func(*flag.FlagSet)) (t temporalFlags, kind *kinds.Work, id string, ok bool, err error) {
	var namespace string
	fs := newFlagSet(name, help, stderr)
	t.register(fs)
	fs.StringVar(&namespace, "n", "default", "namespace of the resource")
	if extra != nil {
		extra(fs)
	}
	if err := parseFlags(fs, reorder(args), stderr); err != nil {
		return t, nil, "", false, ignoreHelp(err)
	}
	if fs.NArg() != 1 {
		return t, nil, "", false, fmt.Errorf("want one KIND/NAME argument, such as kafkabackup/orders")
	}
	kindArg, resource, found := strings.Cut(fs.Arg(0), "/")
	kind = kinds.Parse(kindArg)
	if !found || kind == nil || resource == "" {
		return t, nil, "", false, fmt.Errorf("%q: want KIND/NAME with KIND one of %s", fs.Arg(0), kinds.CLINames(","))
	}
	return t, kind, kind.WorkflowID(namespace, resource), true, nil
}

// queryWait is how long status waits for a worker to answer the status query before it shows
// what Temporal itself knows.
const queryWait = 10 * time.Second

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var format string
	t, _, id, ok, err := resourceCmd("status", "Prints the status query of the resource's workflow (id arkive/<kind>/<namespace>/<name>).\n"+
		"When no worker answers it, prints what Temporal knows of the workflow and says whether any worker polls the task queue.\nKIND is "+
		kinds.CLINames("or")+".", args, stderr, func(fs *flag.FlagSet) {
		fs.StringVar(&format, "o", "table", "output: table (the status's top-level fields), json or yaml (the whole status, nothing else)")
	})
	if !ok {
		return err
	}
	if format != "table" && format != "json" && format != "yaml" {
		return fmt.Errorf("-o: %q is not table, json or yaml", format)
	}
	c, err := t.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	qctx, cancel := context.WithTimeout(ctx, queryWait)
	defer cancel()
	var raw json.RawMessage
	v, qerr := c.QueryWorkflow(qctx, id, "", workflows.QueryStatus)
	if qerr == nil {
		qerr = v.Get(&raw)
	}
	if qerr != nil {
		doc, err := whatTemporalKnows(ctx, c, id, t.taskQueue, qerr)
		if err != nil {
			return err
		}
		if raw, err = json.Marshal(doc); err != nil {
			return err
		}
	}
	return printStatus(stdout, format, id, raw)
}

// whatTemporalKnows describes a workflow whose status query got no answer: its run state,
// times, history length and last failure from Temporal, and how many workers poll its task
// queue (none: that is why no one answered).
func whatTemporalKnows(ctx context.Context, c client.Client, id, queue string, qerr error) (map[string]any, error) {
	d, err := c.DescribeWorkflowExecution(ctx, id, "")
	if err != nil {
		return nil, fmt.Errorf("query %s: %w", id, err)
	}
	info := d.GetWorkflowExecutionInfo()
	if q := info.GetTaskQueue(); q != "" {
		queue = q
	}
	doc := map[string]any{"workflowState": info.GetStatus().String(),
		"startTime": info.GetStartTime().AsTime(), "historyLength": info.GetHistoryLength(), "taskQueue": queue,
		"queryError": qerr.Error()}
	if ct := info.GetCloseTime(); ct != nil {
		doc["closeTime"] = ct.AsTime()
	}
	// The search attributes: ArkivePhase is the phase the workflow last published.
	attrs := map[string]any{}
	for name, p := range info.GetSearchAttributes().GetIndexedFields() {
		var v any
		if err := converter.GetDefaultDataConverter().FromPayload(p, &v); err == nil {
			attrs[name] = v
		}
	}
	if len(attrs) > 0 {
		doc["searchAttributes"] = attrs
	}
	if pending := d.GetPendingActivities(); len(pending) > 0 {
		last := pending[0].GetLastFailure().GetMessage()
		doc["pendingActivities"] = len(pending)
		if last != "" {
			doc["lastFailure"] = last
		}
	}
	tq, err := c.DescribeTaskQueue(ctx, queue, enumspb.TASK_QUEUE_TYPE_WORKFLOW)
	if err == nil {
		doc["pollers"] = len(tq.GetPollers())
		if len(tq.GetPollers()) == 0 {
			doc["note"] = "no worker is polling task queue " + queue + ": start one (arkive worker) to get the status"
		}
	}
	return doc, nil
}

// printStatus writes the status document: json and yaml hold it whole and nothing else (for
// jq and yq); table lists its top-level fields, the workflow id first.
func printStatus(w io.Writer, format, id string, raw json.RawMessage) error {
	switch format {
	case "json":
		var out bytes.Buffer
		if err := json.Indent(&out, raw, "", "  "); err != nil {
			return err
		}
		_, err := fmt.Fprintf(w, "%s\n", out.Bytes())
		return err
	case "yaml":
		b, err := yaml.JSONToYAML(raw)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	var doc map[string]any
	if err := json.Unmarshal(raw, &doc); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "workflow\t%s\n", id)
	for _, k := range slices.Sorted(maps.Keys(doc)) {
		fmt.Fprintf(tw, "%s\t%s\n", k, cell(doc[k]))
	}
	return tw.Flush()
}

// cell shows a value in one line: scalars as they are, lists and objects by their size.
func cell(v any) string {
	switch x := v.(type) {
	case []any:
		return fmt.Sprintf("%d items (-o yaml shows them)", len(x))
	case map[string]any:
		return fmt.Sprintf("%d fields (-o yaml shows them)", len(x))
	case string:
		if x == "" {
			return "-"
		}
		return strings.ReplaceAll(x, "\n", " ")
	case nil:
		return "-"
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// reorder moves flags before the positional argument, so "status kb/x -n prod" works too.
func reorder(args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		if strings.HasPrefix(args[i], "-") {
			flags = append(flags, args[i])
			if !strings.Contains(args[i], "=") && i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
				flags = append(flags, args[i+1])
				i++
			}
			continue
		}
		pos = append(pos, args[i])
	}
	return append(flags, pos...)
}
