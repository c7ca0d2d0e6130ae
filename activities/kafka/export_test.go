package kafka

// HoldCaptures counts n partitions as being captured by a, as other shards on a busy worker
// would, until release is called.
func HoldCaptures(a *Activities, n int) (release func()) { return a.countCapture(n) }
