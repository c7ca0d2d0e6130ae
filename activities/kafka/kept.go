package kafka

import (
	"context"
	"sync"
)

// keptByKey keeps what a worker read of stored objects whose key names their content (shard
// lists, a restore's target pages), so each is read once per worker however many activities
// ask for it at the same time (a restore starts hundreds of streams at once); it holds at most
// max of them, dropping the oldest.
type keptByKey[T any] struct {
	mu    sync.Mutex
	max   int
	byKey map[string]*keptEntry[T]
	order []string // of the loaded entries, oldest first
}

type keptEntry[T any] struct {
	ready chan struct{} // closed once v or err is set
	v     T
	err   error
}

// get returns key's value, from what is kept or from load. A failed load is not kept: whoever
// waited for it loads again itself, under its own context.
func (k *keptByKey[T]) get(ctx context.Context, key string, load func() (T, error)) (T, error) {
	for {
		k.mu.Lock()
		e := k.byKey[key]
		if e == nil {
			if k.byKey == nil {
				k.byKey = map[string]*keptEntry[T]{}
			}
			e = &keptEntry[T]{ready: make(chan struct{})}
			k.byKey[key] = e
			k.mu.Unlock()
			e.v, e.err = load()
			k.keep(key, e)
			close(e.ready)
			return e.v, e.err
		}
		k.mu.Unlock()
		select {
		case <-e.ready:
		case <-ctx.Done():
			var zero T
			return zero, ctx.Err()
		}
		if e.err == nil {
			return e.v, nil
		}
	}
}

// keep records a finished load: kept (dropping the oldest past max), or forgotten if it failed.
func (k *keptByKey[T]) keep(key string, e *keptEntry[T]) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if e.err != nil {
		delete(k.byKey, key)
		return
	}
	k.order = append(k.order, key)
	if len(k.order) > k.max {
		delete(k.byKey, k.order[0])
		k.order = k.order[1:]
	}
}
