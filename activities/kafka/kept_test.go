package kafka

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// Activities asking for the same key at the same time share one load; a failed load is not
// kept; past max the oldest entry goes.
func TestKeptByKeyLoadsOnceAndKeepsTheNewest(t *testing.T) {
	k := keptByKey[int]{max: 2}
	var loads atomic.Int32
	release := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v, err := k.get(context.Background(), "a", func() (int, error) {
				loads.Add(1)
				<-release
				return 1, nil
			})
			require.NoError(t, err)
			require.Equal(t, 1, v)
		}()
	}
	for { // every goroutine but the loader waits on the one entry
		k.mu.Lock()
		started := k.byKey["a"] != nil
		k.mu.Unlock()
		if started && loads.Load() == 1 {
			break
		}
	}
	close(release)
	wg.Wait()
	require.Equal(t, int32(1), loads.Load(), "one load for sixteen asks")

	_, err := k.get(context.Background(), "b", func() (int, error) { return 0, errors.New("gone") })
	require.Error(t, err)
	v, err := k.get(context.Background(), "b", func() (int, error) { return 2, nil })
	require.NoError(t, err)
	require.Equal(t, 2, v, "a failed load is loaded again")

	_, _ = k.get(context.Background(), "c", func() (int, error) { return 3, nil })
	_, _ = k.get(context.Background(), "a", func() (int, error) { loads.Add(1); return 1, nil })
	require.Equal(t, int32(2), loads.Load(), "the oldest entry went past max")
}
