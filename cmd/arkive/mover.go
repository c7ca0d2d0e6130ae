package main

import (
	"context"
	"errors"
	"fmt"
	"io"

	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows"
)

// moverCmd runs a volume's mover: the process of the short-lived Pod that mounts one volume
// and backs it up or restores into it, and, for a Storage kept in a claim, mounts that claim
// too. It is a worker with only the activities that need those mounts, on a task queue of its
// own, so that the workflow's activities reach the Pod with the volume and nothing else does.
func moverCmd(ctx context.Context, args []string, stderr io.Writer) error {
	var f workerFlags
	fs := newFlagSet("mover", `Runs the volume activities of one volume's mover Pod (a backup or restore of the volume it mounts) on a task queue of its own, until interrupted.`, stderr)
	f.register(fs)
	fs.StringVar(&f.volume, "volume", envOr("ARKIVE_MOVER_VOLUME", ""), "where the Pod mounts the volume this mover backs up or restores into (env ARKIVE_MOVER_VOLUME)")
	var storageClaim string
	fs.StringVar(&storageClaim, "storage-claim", envOr("ARKIVE_MOVER_STORAGE_CLAIM", ""), "where the Pod mounts the claim of a Storage kept in a PersistentVolumeClaim (volume.claim or volume.create), which only movers reach (env ARKIVE_MOVER_STORAGE_CLAIM)")
	if err := parseFlags(fs, args, stderr); err != nil {
		return ignoreHelp(err)
	}
	if f.taskQueue == workflows.DefaultTaskQueue {
		return fmt.Errorf("--task-queue: a mover polls a task queue of its own (arkive-mover-<uid>), not the shared %q", workflows.DefaultTaskQueue)
	}
	if f.volume == "" && storageClaim == "" {
		return errors.New("--volume: name where the Pod mounts the volume (or --storage-claim, for a mover that only serves a Storage's claim)")
	}
	blobstore.SetClaimRoot(storageClaim)
	if err := f.validate(); err != nil {
		return err
	}
	f.mover = true
	c, err := f.dial(stderr)
	if err != nil {
		return err
	}
	defer c.Close()
	return runWorker(ctx, c, f, stderr)
}
