package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"strconv"
	"syscall"

	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"arkive.io/arkive/workflows"
)

const usage = `arkive backs up and restores Kafka platforms through Temporal workflows.

Usage:
  arkive operator [flags]                            run the Kubernetes operator
  arkive worker   [flags]                            run workflows and activities
  arkive mover    --task-queue Q [flags]             run a volume mover's activities (in its Pod)
  arkive run      -f FILE [flags]                    start or update the backups and restores in FILE, and run a worker
  arkive status   KIND/NAME [-n NAMESPACE]           print a resource's workflow status
  arkive pause    KIND/NAME [-n NAMESPACE]           pause a resource's workflow
  arkive resume   KIND/NAME [-n NAMESPACE]           resume it
  arkive trigger  KIND/NAME [-n NAMESPACE]           start a backup run now
  arkive inspect  --storage URL [--backup NAME]      what is in a storage's backups
  arkive verify   --storage URL --backup NAME        is a backup whole (exit 1 if not)
  arkive export   --storage URL --backup NAME --topic T   records as JSON lines
  arkive demo                                        backup and restore on local servers (make demo)

KIND is kafkabackup (kb), kafkarestore (kr), schemaregistrybackup (srb) or schemaregistryrestore (srr).
Run "arkive COMMAND -h" for a command's flags.
`

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "arkive:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(stdout, usage)
		return nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "worker":
		return workerCmd(ctx, args[1:], stderr)
	case "mover":
		return moverCmd(ctx, args[1:], stderr)
	case "run":
		return runCmd(ctx, args[1:], stdout, stderr)
	case "status":
		return statusCmd(ctx, args[1:], stdout, stderr)
	case "demo":
		return demoCmd(ctx, args[1:], stdout, stderr)
	case "operator":
		return operatorCmd(ctx, args[1:], stderr)
	case "inspect":
		return inspectCmd(ctx, args[1:], stdout, stderr)
	case "verify":
		return verifyCmd(ctx, args[1:], stdout, stderr)
	case "export":
		return exportCmd(ctx, args[1:], stdout, stderr)
	case workflows.SignalPause, workflows.SignalResume, workflows.SignalTrigger:
		return signalCmd(ctx, args[0], args[1:], stdout, stderr)
	}
	return fmt.Errorf("unknown command %q (see arkive --help)", args[0])
}

// temporalFlags are the connection flags every command that talks to Temporal takes; each
// falls back to an environment variable.
type temporalFlags struct {
	address, namespace, taskQueue string
	security                      temporalSecurity
	// metrics, when set, receives the SDK's metrics (a worker with a metrics port).
	metrics client.MetricsHandler
}

func (t *temporalFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&t.address, "temporal-address", envOr("ARKIVE_TEMPORAL_ADDRESS", "localhost:7233"), "Temporal frontend host:port (env ARKIVE_TEMPORAL_ADDRESS)")
	fs.StringVar(&t.namespace, "temporal-namespace", envOr("ARKIVE_TEMPORAL_NAMESPACE", "default"), "Temporal namespace (env ARKIVE_TEMPORAL_NAMESPACE)")
	fs.StringVar(&t.taskQueue, "task-queue", envOr("ARKIVE_TASK_QUEUE", workflows.DefaultTaskQueue), "task queue (env ARKIVE_TASK_QUEUE)")
	t.security.register(fs)
}

func (t *temporalFlags) dial(stderr io.Writer) (client.Client, error) {
	logger := tlog.NewStructuredLogger(slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	conn, creds, err := t.security.options()
	if err != nil {
		return nil, err
	}
	c, err := client.Dial(client.Options{HostPort: t.address, Namespace: t.namespace, Logger: logger, MetricsHandler: t.metrics,
		ConnectionOptions: conn, Credentials: creds})
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s: %w", t.address, err)
	}
	return c, nil
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// parseFlags parses and turns -h into a clean exit and other errors into one-line reasons.
func parseFlags(fs *flag.FlagSet, args []string, stderr io.Writer) error {
	fs.SetOutput(stderr)
	err := fs.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		return errHelp
	}
	return err
}

var errHelp = errors.New("help requested")
