package kafka

import "testing"

// Vectors of the Java client's murmur2 (Kafka's UtilsTest.testMurmur2).
func TestMurmur2MatchesTheJavaClient(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
	} {
		if got := murmur2([]byte(in)); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	if got := murmur2([]byte{12, 42, 56, 24, 109, 111}); got != 274204207 {
		t.Errorf("murmur2(binary) = %d, want 274204207", got)
	}
	// toPositive masks the sign bit, it does not negate: -973932308 & 0x7fffffff = 1173551340.
	if got := KeyPartition([]byte("21"), 1000); got != 1173551340%1000 {
		t.Errorf("KeyPartition(21, 1000) = %d, want %d", got, 1173551340%1000)
	}
}
