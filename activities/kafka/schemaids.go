package kafka

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"

	"go.temporal.io/sdk/temporal"

	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/kafkarestore"
)

// wireMagic is the first byte of a key or value in the Confluent wire format, which a 4-byte
// big-endian schema id follows.
const wireMagic = 0

// loadIDs returns a stream's schema id map (nil when ids are kept): inline, or read from the
// object the remap stored it in.
func loadIDs(ctx context.Context, store *blobstore.Store, remap *kafkarestore.StreamRemap) (map[int32]int32, error) {
	if remap == nil {
		return nil, nil
	}
	pairs := remap.IDs.Pairs
	if remap.IDs.Key != "" {
		data, err := store.ReadAll(ctx, remap.IDs.Key)
		if err != nil {
			if blobstore.IsNotFound(err) {
				return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the schema id map %s is missing from the storage", remap.IDs.Key), kafkarestore.ErrBackupNotFound, nil)
			}
			return nil, classify(fmt.Errorf("read the schema id map %s: %w", remap.IDs.Key, err))
		}
		if err := json.Unmarshal(data, &pairs); err != nil {
			return nil, temporal.NewNonRetryableApplicationError(fmt.Sprintf("the schema id map %s cannot be read: %v", remap.IDs.Key, err), kafkarestore.ErrCorruptManifest, nil)
		}
	}
	ids := make(map[int32]int32, len(pairs))
	for _, p := range pairs {
		ids[p[0]] = p[1]
	}
	return ids, nil
}

// unknownIDError is a record whose schema id the snapshot does not hold.
type unknownIDError struct {
	topic     string
	partition int32
	offset    int64
	part      string
	id        int32
	snapshot  string
}

func (e *unknownIDError) Error() string {
	return fmt.Sprintf("%s/%d offset %d: the %s carries schema id %d, which snapshot %s does not hold; the records before it are restored (spec.schemaRegistry.unknownSchemaIds: Keep writes such records unchanged)",
		e.topic, e.partition, e.offset, e.part, e.id, e.snapshot)
}

// rewriteID replaces, in place, the schema id of a key or value in the wire format with the
// target's. Anything else (shorter, or another first byte) is not in the wire format and is
// left as it is.
func (r *restorer) rewriteID(b []byte, part string, partition int32, offset int64) error {
	if len(b) < 5 || b[0] != wireMagic {
		return nil
	}
	src := int32(binary.BigEndian.Uint32(b[1:5]))
	dst, ok := r.ids[src]
	switch {
	case ok:
		binary.BigEndian.PutUint32(b[1:5], uint32(dst))
	case !r.in.Remap.KeepUnknown:
		return &unknownIDError{topic: r.in.Stream.Source, partition: partition, offset: offset, part: part, id: src, snapshot: r.in.Remap.IDs.Snapshot}
	}
	return nil
}
