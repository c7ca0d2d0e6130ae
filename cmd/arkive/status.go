package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"

	"arkive.io/arkive/internal/kinds"
	"arkive.io/arkive/workflows"
)

// resourceArg parses KIND/NAME into the kind (from the table of kinds) and name.
func resourceArg(fs *flag.FlagSet) (kind *kinds.Work, name string, err error) {
	if fs.NArg() != 1 {
		return nil, "", fmt.Errorf("want one KIND/NAME argument, such as kafkabackup/orders")
	}
	kindArg, name, ok := strings.Cut(fs.Arg(0), "/")
	kind = kinds.Parse(kindArg)
	if !ok || kind == nil || name == "" {
		return nil, "", fmt.Errorf("%q: want KIND/NAME with KIND one of %s", fs.Arg(0), kinds.CLINames(","))
	}
	return kind, name, nil
}

func statusCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	var t temporalFlags
	var namespace string
	fs := newFlagSet("status", "Prints the status query of the resource's workflow (id arkive/<kind>/<namespace>/<name>).\nKIND is "+
		kinds.CLINames("or")+".", stderr)
	t.register(fs)
	fs.StringVar(&namespace, "n", "default", "namespace of the resource")
	if err := parseFlags(fs, reorder(args), stderr); err != nil {
		return ignoreHelp(err)
	}
	kind, name, err := resourceArg(fs)
	if err != nil {
		return err
	}
	c, err := t.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	id := kind.WorkflowID(namespace, name)
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
