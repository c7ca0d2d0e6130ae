package kafka

import "time"

// HoldCaptures counts n partitions as being captured by a, as other shards on a busy worker
// would, until release is called.
func HoldCaptures(a *Activities, n int) (release func()) { return a.countCapture(n) }

// AsRetry makes a's CaptureShard calls run as a second attempt of an activity scheduled at
// scheduled, as a worker that takes over a dead worker's shard does.
func AsRetry(a *Activities, scheduled time.Time) {
	a.attempt = func() (int32, time.Time) { return 2, scheduled }
}
