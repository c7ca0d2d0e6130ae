package volume

import (
	"context"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"runtime/debug"
	"strconv"
	"syscall"
	"testing"
	"time"

	"arkive.io/arkive/internal/blobstore"
)

// The test binary doubles as a stand-in for the mover process: with ARKIVE_VOLUME_CHILD set
// it runs one backup or restore and exits, so that tests can SIGKILL a real process and
// benchmarks can read its peak RSS. It prints "progress <bytes>" / "position <n> <bytes>"
// lines as it goes, as the mover heartbeats.
func TestMain(m *testing.M) {
	if op := os.Getenv("ARKIVE_VOLUME_CHILD"); op != "" {
		if err := child(op); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	code := m.Run()
	if benchMounted != "" {
		if out, err := exec.Command("umount", benchMounted).CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "umount %s: %v: %s\n", benchMounted, err, out)
		}
	}
	if benchWork != "" {
		_ = os.RemoveAll(benchWork)
	}
	os.Exit(code)
}

func child(op string) error {
	debug.SetGCPercent(50) // as the mover's process does (worker.SetGCTarget)
	ctx := context.Background()
	store, err := blobstore.OpenURL(ctx, "file://"+os.Getenv("ARKIVE_VOLUME_STORE"))
	if err != nil {
		return err
	}
	layout, err := blobstore.Volumes("data")
	if err != nil {
		return err
	}
	var key []byte
	if k := os.Getenv("ARKIVE_VOLUME_KEY"); k != "" {
		if key, err = hex.DecodeString(k); err != nil {
			return err
		}
	}
	r, err := Open(ctx, store, layout, key)
	if err != nil {
		return err
	}
	defer r.Close()
	id, dir := os.Getenv("ARKIVE_VOLUME_ID"), os.Getenv("ARKIVE_VOLUME_DIR")
	switch op {
	case "backup":
		// Reported often, so that a test's kill lands where it asked, however fast the copy.
		ref, err := r.Backup(ctx, dir, BackupOptions{ID: id, Volume: "v", ProgressEvery: 50 * time.Millisecond, OnProgress: func(p Progress) {
			fmt.Printf("progress %d\n", p.Bytes)
		}})
		if err == nil {
			for _, w := range ref.Warnings {
				fmt.Printf("warning %s\n", w)
			}
		}
		return err
	case "restore":
		m, err := r.Manifest(ctx)
		if err != nil {
			return err
		}
		ref := m.Find(id)
		if ref == nil {
			return fmt.Errorf("no snapshot %s", id)
		}
		from, _ := strconv.Atoi(os.Getenv("ARKIVE_VOLUME_FROM"))
		_, err = r.Restore(ctx, ref, dir, RestoreOptions{From: from, ProgressEvery: 50 * time.Millisecond, OnPosition: func(pos int, p Progress) {
			fmt.Printf("position %d %d\n", pos, p.Bytes)
		}})
		return err
	}
	return fmt.Errorf("unknown child operation %q", op)
}

// childCmd prepares a child run of op on storeDir (snapshot id, directory dir).
func childCmd(op, storeDir, id, dir string, key []byte, from int) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "ARKIVE_VOLUME_CHILD="+op, "ARKIVE_VOLUME_STORE="+storeDir, "ARKIVE_VOLUME_ID="+id,
		"ARKIVE_VOLUME_DIR="+dir, "ARKIVE_VOLUME_KEY="+hex.EncodeToString(key), "ARKIVE_VOLUME_FROM="+strconv.Itoa(from))
	cmd.Stderr = os.Stderr
	return cmd
}

// peakRSS is a finished process's peak resident set in MiB.
func peakRSS(cmd *exec.Cmd) float64 {
	return float64(cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss) / 1024
}
