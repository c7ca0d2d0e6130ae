package main

import (
	"flag"
	"fmt"
	"io"
)

// synopses are the one-line usage of every command, shown by --help and the command list.
var synopses = map[string]string{
	"worker":   "arkive worker [flags]",
	"operator": "arkive operator [flags]",
	"run":      "arkive run -f FILE [flags]",
	"status":   "arkive status KIND/NAME [-n NAMESPACE] [flags]",
	"pause":    "arkive pause KIND/NAME [-n NAMESPACE] [flags]",
	"resume":   "arkive resume KIND/NAME [-n NAMESPACE] [flags]",
	"trigger":  "arkive trigger KIND/NAME [-n NAMESPACE] [flags]",
	"inspect":  "arkive inspect --storage URL [--backup NAME] [--snapshot ID|newest] [flags]",
	"verify":   "arkive verify --storage URL --backup NAME [--deep] [flags]",
	"export":   "arkive export --storage URL --backup NAME (--topic TOPIC [--partition P] [--from X] [--to Y] | --object KIND/NAMESPACE/NAME [--snapshot ID]) [flags]",
	"demo":     "arkive demo [flags]   (run it with `make demo`, which starts the servers it needs)",
}

// newFlagSet is a command's flag set; -h prints the synopsis, what the command does, and every
// flag with its documentation.
func newFlagSet(cmd, about string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("arkive "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage: %s\n\n%s\n\nFlags:\n", synopses[cmd], about)
		fs.PrintDefaults()
	}
	return fs
}
