// Package temporaltest holds helpers for tests of workflows in the SDK's test environment.
package temporaltest

import (
	"fmt"
	"sync"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

// WarnPayloadBytes is Temporal's per-payload warning limit (the hard limit is 2 MB).
const WarnPayloadBytes = 256 << 10

// SizeCheckingConverter records every payload of WarnPayloadBytes or more, and the largest
// payload it encoded: set it as the test environment's data converter, and every input,
// result, continue-as-new state and query answer passes through it.
type SizeCheckingConverter struct {
	converter.DataConverter
	mu      sync.Mutex
	largest int
	total   int64
	tooBig  []string
}

// NewSizeCheckingConverter wraps the default data converter.
func NewSizeCheckingConverter() *SizeCheckingConverter {
	return &SizeCheckingConverter{DataConverter: converter.GetDefaultDataConverter()}
}

// ToPayload encodes v and records its size.
func (c *SizeCheckingConverter) ToPayload(v any) (*commonpb.Payload, error) {
	p, err := c.DataConverter.ToPayload(v)
	if p != nil {
		c.mu.Lock()
		c.largest = max(c.largest, p.Size())
		c.total += int64(p.Size())
		if p.Size() >= WarnPayloadBytes {
			c.tooBig = append(c.tooBig, fmt.Sprintf("%T: %d bytes", v, p.Size()))
		}
		c.mu.Unlock()
	}
	return p, err
}

// ToPayloads encodes each value through ToPayload.
func (c *SizeCheckingConverter) ToPayloads(vs ...any) (*commonpb.Payloads, error) {
	out := &commonpb.Payloads{}
	for _, v := range vs {
		p, err := c.ToPayload(v)
		if err != nil {
			return nil, err
		}
		out.Payloads = append(out.Payloads, p)
	}
	return out, nil
}

// Largest is the size of the largest payload encoded so far.
func (c *SizeCheckingConverter) Largest() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.largest
}

// Total is the size of every payload encoded so far: about what a history holds (inputs,
// results, signals), plus query answers.
func (c *SizeCheckingConverter) Total() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.total
}

// TooBig describes each payload of WarnPayloadBytes or more.
func (c *SizeCheckingConverter) TooBig() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.tooBig...)
}
