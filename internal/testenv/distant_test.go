package testenv

import (
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/stretchr/testify/require"
)

// The distant broker keeps a client on the proxy (the broker advertises it) and every round
// trip takes at least twice the one-way delay, as it is set at the time.
func TestDistantKafkaDelaysEveryRoundTrip(t *testing.T) {
	d := DistantKafka(t, 0)
	cfg := sarama.NewConfig()
	cfg.Version = sarama.V3_0_0_0
	c, err := sarama.NewClient([]string{d.Addr}, cfg)
	require.NoError(t, err)
	defer c.Close()
	brokers := c.Brokers()
	require.Len(t, brokers, 1)
	require.Equal(t, d.Addr, brokers[0].Addr(), "the broker's metadata names the proxy")
	roundTrip := func() time.Duration {
		start := time.Now()
		for range 5 {
			require.NoError(t, c.RefreshMetadata())
		}
		return time.Since(start) / 5
	}
	roundTrip() // at no delay (not asserted: a loaded machine may take as long)
	d.SetOneWay(30 * time.Millisecond)
	require.GreaterOrEqual(t, roundTrip(), 60*time.Millisecond, "a metadata round trip 30 ms away")
}
