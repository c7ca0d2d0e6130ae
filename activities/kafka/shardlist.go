package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"go.temporal.io/sdk/temporal"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"arkive.io/arkive/activities/backupstore"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/workflows/kafkabackup"
)

// inlineShardBytes is kafkabackup.InlineShardBytes; tests lower it.
var inlineShardBytes = kafkabackup.InlineShardBytes

// storeShards keeps a discovery's shards in the storage when, encoded, they pass
// inlineShardBytes (thousands of topics), and gives the workflow stand-ins naming them; the
// workflow's payloads then do not grow with the topics. The list is written at every such
// discovery (under a key named by its content, so an unchanged list keeps its key), and the
// lists of earlier discoveries are deleted: the workflow discovers only between cycles, so no
// capture it still waits for reads them.
func storeShards(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], res *kafkabackup.DiscoverShardsResult) error {
	data, err := json.Marshal(kafkabackup.StoredShards{Version: kafkabackup.StoredShardsVersion, Shards: res.Shards})
	if err != nil {
		return err
	}
	keep := ""
	if len(data) > inlineShardBytes {
		keep = store.Layout.Shards(data)
		if err := store.Put(ctx, keep, data); err != nil {
			return classify(fmt.Errorf("store the shard list: %w", err))
		}
		res.Shards = kafkabackup.RefShards(keep, res.Shards)
	}
	it := store.List(&blob.ListOptions{Prefix: store.Layout.ShardsPrefix()})
	for {
		obj, err := it.Next(ctx)
		if err != nil {
			return nil // io.EOF, or a failure: the next discovery deletes what is left
		}
		if obj.Key != keep {
			_ = store.Delete(ctx, obj.Key)
		}
	}
}

// shardLists keeps the shard lists this worker read: a key names its content, so a list read
// once serves every shard of every cycle until the next discovery changes it. Eight: a worker
// of several large backups.
var shardLists = keptByKey[[]kafkabackup.Shard]{max: 8}

// storedShard returns the shard a ShardRef names, from the list its discovery stored.
func storedShard(ctx context.Context, store *backupstore.Backup[blobstore.KafkaLayout], ref kafkabackup.ShardRef) (kafkabackup.Shard, error) {
	inconsistent := func(format string, args ...any) error {
		return temporal.NewNonRetryableApplicationError(fmt.Sprintf(format, args...), kafkabackup.ErrInconsistentCommit, nil)
	}
	if !strings.HasPrefix(ref.Key, store.Layout.ShardsPrefix()) {
		return kafkabackup.Shard{}, inconsistent("shard list %s is not this backup's", ref.Key)
	}
	shards, err := shardLists.get(ctx, ref.Key, func() ([]kafkabackup.Shard, error) {
		data, err := store.ReadAll(ctx, ref.Key)
		if gcerrors.Code(err) == gcerrors.NotFound {
			// Retried: the backup's next discovery stores it again.
			return nil, fmt.Errorf("the shard list %s is missing from the storage; the next discovery stores it again", ref.Key)
		}
		if err != nil {
			return nil, classify(fmt.Errorf("read the shard list %s: %w", ref.Key, err))
		}
		if store.Layout.Shards(data) != ref.Key {
			return nil, inconsistent("shard list %s does not hold what its name says (damaged)", ref.Key)
		}
		var list kafkabackup.StoredShards
		if err := json.Unmarshal(data, &list); err != nil || list.Version != kafkabackup.StoredShardsVersion {
			return nil, inconsistent("shard list %s: version %d, %v", ref.Key, list.Version, err)
		}
		return list.Shards, nil
	})
	if err != nil {
		return kafkabackup.Shard{}, err
	}
	if ref.Index < 0 || ref.Index >= len(shards) || shards[ref.Index].Len() != ref.Partitions {
		return kafkabackup.Shard{}, inconsistent("shard %d of %d partitions is not in the shard list %s (%d shards)", ref.Index, ref.Partitions, ref.Key, len(shards))
	}
	return shards[ref.Index], nil
}
