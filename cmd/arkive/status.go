package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/workflows"
)

// resourceCmd parses the flags and the KIND/NAME argument of a command about one resource's
// workflow (status, pause, resume, trigger); help is the command's --help text. ok is false
// when --help was asked for (err is then nil).
func resourceCmd(name, help string, args []string, stderr io.Writer) (t temporalFlags, kind *kinds.Work, id string, ok bool, err error) {
	var namespace string
	fs := newFlagSet(name, help, stderr)
	t.register(fs)
	fs.StringVar(&namespace, "n", "default", "namespace of the resource")
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

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	t, _, id, ok, err := resourceCmd("status", "Prints the status query of the resource's workflow (id arkive/<kind>/<namespace>/<name>).\nKIND is "+
		kinds.CLINames("or")+".", args, stderr)
	if !ok {
		return err
	}
	c, err := t.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	v, err := c.QueryWorkflow(ctx, id, "", workflows.QueryStatus)
	if err != nil {
		return fmt.Errorf("query %s: %w", id, err)
	}
	var raw json.RawMessage
	if err := v.Get(&raw); err != nil {
		return fmt.Errorf("read status of %s: %w", id, err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, raw, "", "  "); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "%s\n%s\n", id, out.String())
	return nil
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
