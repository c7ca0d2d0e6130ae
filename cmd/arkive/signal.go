package main

import (
	"context"
	"fmt"
	"io"

	"arkive.io/arkive/workflows"
)

// signalAbout says what each signal does, for --help.
var signalAbout = map[string]string{
	workflows.SignalPause:   "Pauses the resource's workflow: running activities stop at a checkpoint and nothing new\nstarts until resume. The status shows Paused with reason PausedBySignal.",
	workflows.SignalResume:  "Resumes a workflow paused by the pause signal (a spec with enabled: false stays paused).",
	workflows.SignalTrigger: "Starts a backup run now, whatever the schedule says (backups only).",
}

// signalCmd sends pause, resume or trigger to a resource's workflow, so nobody has to build
// workflow ids by hand.
func signalCmd(ctx context.Context, signal string, args []string, stdout, stderr io.Writer) error {
	t, kind, id, ok, err := resourceCmd(signal, signalAbout[signal], args, stderr, nil)
	if !ok {
		return err
	}
	if signal == workflows.SignalTrigger && kind.RunsOnce {
		return fmt.Errorf("trigger: a %s runs once and has nothing to trigger", kind.Kind)
	}
	c, err := t.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := c.SignalWorkflow(ctx, id, "", signal, nil); err != nil {
		return fmt.Errorf("%s %s: %w", signal, id, err)
	}
	fmt.Fprintf(stdout, "sent %s to %s\n", signal, id)
	return nil
}
