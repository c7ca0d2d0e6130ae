package kafka

import "sync"

// keptByKey keeps what a worker read of stored objects whose key names their content (shard
// lists, a restore's target pages), so each is read once per worker; it holds at most max of
// them, dropping the oldest.
type keptByKey[T any] struct {
	mu    sync.Mutex
	max   int
	byKey map[string]T
	order []string
}

func (k *keptByKey[T]) get(key string) (T, bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.byKey[key]
	return v, ok
}

func (k *keptByKey[T]) put(key string, v T) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.byKey[key]; ok {
		return
	}
	if k.byKey == nil {
		k.byKey = map[string]T{}
	}
	k.byKey[key] = v
	k.order = append(k.order, key)
	if len(k.order) > k.max {
		delete(k.byKey, k.order[0])
		k.order = k.order[1:]
	}
}
