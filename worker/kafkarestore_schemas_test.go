package worker_test

import (
	"encoding/binary"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/IBM/sarama"
	havro "github.com/hamba/avro/v2"
	"github.com/stretchr/testify/require"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/blobstore"
	"arkive.io/arkive/internal/registrytest"
	"arkive.io/arkive/internal/testenv"
	"arkive.io/arkive/workflows/kafkarestore"
)

// wire frames an Avro body in the Confluent wire format: magic byte 0, the schema id, the body.
func wire(id int, body []byte) []byte {
	return append(binary.BigEndian.AppendUint32([]byte{0}, uint32(id)), body...)
}

// registryReader is a schema-registry-aware deserializer, written against the registry's REST
// API as a consumer's library would be: a wire-format key or value is decoded with the schema
// its id names (references resolved through the subjects they name).
type registryReader struct {
	api   registryAPI
	cache map[int]havro.Schema
}

func newRegistryReader(t *testing.T, base string) *registryReader {
	return &registryReader{api: registryAPI{t: t, base: base}, cache: map[int]havro.Schema{}}
}

func (r *registryReader) schema(id int) havro.Schema {
	if s, ok := r.cache[id]; ok {
		return s
	}
	named := &havro.SchemaCache{}
	var parse func(answer map[string]any) havro.Schema
	parse = func(answer map[string]any) havro.Schema {
		refs, _ := answer["references"].([]any)
		for _, ref := range refs {
			rm := ref.(map[string]any)
			parse(r.api.call(http.MethodGet, fmt.Sprintf("/subjects/%s/versions/%v", url.PathEscape(rm["subject"].(string)), rm["version"]), nil))
		}
		s, err := havro.ParseWithCache(answer["schema"].(string), "", named)
		require.NoError(r.api.t, err, "schema %v", answer["schema"])
		return s
	}
	s := parse(r.api.call(http.MethodGet, fmt.Sprintf("/schemas/ids/%d", id), nil))
	r.cache[id] = s
	return s
}

// decode reads a wire-format key or value to its datum; id is the schema id it carries.
func (r *registryReader) decode(b []byte) (datum any, id int) {
	require.True(r.api.t, len(b) >= 5 && b[0] == 0, "not in the wire format: %x", b)
	id = int(binary.BigEndian.Uint32(b[1:5]))
	require.NoError(r.api.t, havro.Unmarshal(r.schema(id), b[5:], &datum), "schema id %d", id)
	return datum, id
}

// readRaw reads a one-partition topic's records as they are stored, bytes untouched.
func readRaw(t *testing.T, bootstrap, topic string) []*sarama.ConsumerMessage {
	t.Helper()
	end := endOffsets(t, bootstrap, topic)[0]
	c, err := sarama.NewConsumer([]string{bootstrap}, sarama.NewConfig())
	require.NoError(t, err)
	defer c.Close()
	pc, err := c.ConsumePartition(topic, 0, sarama.OffsetOldest)
	require.NoError(t, err)
	defer pc.Close()
	var out []*sarama.ConsumerMessage
	for int64(len(out)) < end {
		out = append(out, <-pc.Messages())
	}
	return out
}

// produceRaw writes keys and values to partition 0 as given.
func produceRaw(t *testing.T, bootstrap, topic string, keys, values [][]byte) {
	t.Helper()
	var msgs []*sarama.ProducerMessage
	for i := range values {
		msgs = append(msgs, &sarama.ProducerMessage{Topic: topic, Key: sarama.ByteEncoder(keys[i]), Value: sarama.ByteEncoder(values[i])})
	}
	sendAsGiven(t, bootstrap, msgs)
}

// sendAsGiven sends messages to the partitions they name, in order.
func sendAsGiven(t *testing.T, bootstrap string, msgs []*sarama.ProducerMessage) {
	t.Helper()
	cfg := testenv.ProducerConfig()
	cfg.Producer.Partitioner = sarama.NewManualPartitioner
	p, err := sarama.NewSyncProducer([]string{bootstrap}, cfg)
	require.NoError(t, err)
	defer p.Close()
	require.NoError(t, p.SendMessages(msgs))
}

// orderSchemas are five versions of an order value, each adding a field with a default (so
// every version is compatible with the one before); the last imports an Address through a
// reference.
var orderSchemas = []string{
	`{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"}]}`,
	`{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1}]}`,
	`{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1},{"name":"note","type":["null","string"],"default":null}]}`,
	`{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1},{"name":"note","type":["null","string"],"default":null},{"name":"price","type":"double","default":0}]}`,
	`{"type":"record","name":"Order","namespace":"com.acme","fields":[{"name":"id","type":"long"},{"name":"item","type":"string"},{"name":"qty","type":"int","default":1},{"name":"note","type":["null","string"],"default":null},{"name":"price","type":"double","default":0},{"name":"ship","type":["null","com.acme.Address"],"default":null}]}`,
}

const addressSchema = `{"type":"record","name":"Address","namespace":"com.acme","fields":[{"name":"street","type":"string"}]}`

// occupy registers n schemas no source record uses, so the ids a fresh registry gives first
// belong to other schemas than the source's.
func occupy(api registryAPI, n int) {
	for i := range n {
		api.register(fmt.Sprintf("other-%02d-value", i), "AVRO", avro(fmt.Sprintf("Other%d", i), i))
	}
}

// newRemapBed is a worker with MinIO (newSRBed), a source and a target registry, and a
// one-partition topic.
func newRemapBed(t *testing.T, prefix string) (b *srBed, src, dst registryAPI, topic string) {
	b = newSRBed(t, nil)
	src, dst = registryAPI{t: t, base: registrytest.New().Start(t)}, registryAPI{t: t, base: registrytest.New().Start(t)}
	return b, src, dst, testenv.Topic(t, prefix, 1, nil)
}

// Acceptance (#22 points 15 and 16): a topic of Avro records under the source registry's ids
// is restored into a cluster whose registry already holds other schemas under those ids. The
// restore registers the snapshot's schemas there (references, a soft-deleted version, a schema
// the target already holds), rewrites the id in every key and value, and a consumer that
// decodes through the target registry reads every record back to the datum the source's
// consumer reads. A record not in the wire format is written unchanged. More ids than travel
// inline are carried by storage key, and the stored map is gone when the restore ends. A
// second restore registers nothing new.
func TestKafkaRestoreRemapsSchemaIDs(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	b, src, dst, topic := newRemapBed(t, "remap")
	srcURL, dstURL := src.base, dst.base

	// The source: the topic's key and order schemas, and filler subjects, so the snapshot holds
	// more ids than travel inline.
	keyID := src.register(topic+"-key", "AVRO", `"string"`)
	src.register("common-address", "AVRO", addressSchema)
	var orderIDs []int
	for i, s := range orderSchemas {
		var refs []map[string]any
		if i == len(orderSchemas)-1 {
			refs = append(refs, ref("com.acme.Address", "common-address", 1))
		}
		orderIDs = append(orderIDs, src.register(topic+"-value", "AVRO", s, refs...))
	}
	for i := range 600 {
		src.register(fmt.Sprintf("filler-%03d-value", i), "AVRO", avro(fmt.Sprintf("Filler%d", i), i))
	}

	// Records: four per order version, then a value that is not in the wire format, then one
	// that starts with the magic byte but is too short to hold an id.
	keySchema := havro.MustParse(`"string"`)
	srcReader := newRegistryReader(t, srcURL)
	var keys, values [][]byte
	for v, id := range orderIDs {
		for j := range 4 {
			n := int64(v*10 + j)
			datum := map[string]any{"id": n, "item": fmt.Sprintf("item-%d", n)}
			if v >= 1 {
				datum["qty"] = j + 2
			}
			if v >= 2 {
				datum["note"] = map[string]any{"string": fmt.Sprintf("note %d", n)}
			}
			if v >= 3 {
				datum["price"] = float64(n) / 4
			}
			if v == 4 {
				datum["ship"] = map[string]any{"com.acme.Address": map[string]any{"street": fmt.Sprintf("%d Main St", n)}}
			}
			body, err := havro.Marshal(srcReader.schema(id), datum)
			require.NoError(t, err, "version %d", v+1)
			kb, err := havro.Marshal(keySchema, fmt.Sprintf("order-%d", n))
			require.NoError(t, err)
			keys, values = append(keys, wire(keyID, kb)), append(values, wire(id, body))
		}
	}
	keys, values = append(keys, []byte("plain-key"), []byte("plain-key-2")), append(values, []byte(`{"not":"avro"}`), []byte{0, 1})
	produceRaw(t, bootstrap, topic, keys, values)
	// Version 2 is soft-deleted after its records were written: they must still be readable.
	src.call(http.MethodDelete, "/subjects/"+url.PathEscape(topic+"-value")+"/versions/2", nil)

	// The target already holds other schemas under the source's ids, and the Address itself.
	occupy(dst, len(orderIDs)+3)
	dst.register("common-address", "AVRO", addressSchema)

	volume := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	backupOnce(t, b.c, b.queue, bootstrap, volume, "default/remap", topic)
	b.snapshot(t, "remap-src", srcURL)
	remap := func(in *kafkarestore.Input) {
		in.Schemas = &kafkarestore.SchemaRemap{RegistryConnection: b.conn(t, "default/remap-src", registrySpec(dstURL, "")), Keys: true, Values: true}
	}

	restoreInto := func(name string) kafkarestore.Status {
		wid := startRestore(t, b.c, b.queue, bootstrap, volume, "default/remap", kafkarestore.Spec{CreateTopics: true,
			Topics: []kafkarestore.TopicMapping{{Source: topic, Target: name}}}, remap)
		s := restoreStatus(t, b.c, wid)
		require.Equal(t, kafkarestore.PhaseDone, s.Phase, "%s %s", s.Reason, s.LastError)
		return s
	}
	check := func(name string) {
		dstReader := newRegistryReader(t, dstURL)
		got, want := readRaw(t, bootstrap, name), readRaw(t, bootstrap, topic)
		require.Len(t, got, len(want))
		moved := 0
		for i, w := range want {
			g := got[i]
			if i >= len(orderIDs)*4 {
				require.Equal(t, w.Key, g.Key, "record %d: not in the wire format, unchanged", i)
				require.Equal(t, w.Value, g.Value, "record %d: not in the wire format, unchanged", i)
				continue
			}
			for _, part := range []struct{ w, g []byte }{{w.Key, g.Key}, {w.Value, g.Value}} {
				wd, wid := srcReader.decode(part.w)
				gd, gid := dstReader.decode(part.g)
				require.Equal(t, wd, gd, "record %d: the datum read through the target registry", i)
				if wid != gid {
					moved++
				}
			}
		}
		require.Equal(t, len(orderIDs)*4*2, moved, "every key and value carries the target's id, not the source's")
	}

	layout, err := blobstore.Kafka("default/remap")
	require.NoError(t, err)
	s := restoreInto(topic + "-a")
	check(topic + "-a")
	require.NotNil(t, s.SchemaIDs)
	require.Equal(t, 2+len(orderIDs)+600, s.SchemaIDs.Count, "one pair per id of the snapshot")
	require.Equal(t, 2+len(orderIDs)+600, s.SchemaIDs.Versions)
	require.NotEmpty(t, s.SchemaIDs.Key, "a map this large travels by storage key")
	_, err = os.Stat(filepath.Join(volume.Volume.Path, filepath.FromSlash(s.SchemaIDs.Key)))
	require.True(t, os.IsNotExist(err), "the stored map is deleted when the restore ends (%v)", err)
	require.Equal(t, layout.Root(), s.SchemaIDs.Key[:len(layout.Root())])

	// The target: the Address it held is the one the orders import (no second version); the
	// soft-deleted version was registered for its records and is soft-deleted again, so the
	// live versions match the source's.
	versions := func(base, subject string) []int {
		var out []int
		for _, sub := range dump(t, base, nil).Subjects {
			for _, v := range sub.Versions {
				if sub.Name == subject && !v.Deleted {
					out = append(out, v.Version)
				}
			}
		}
		return out
	}
	require.Equal(t, []int{1}, versions(dstURL, "common-address"))
	require.Equal(t, versions(srcURL, topic+"-value"), versions(dstURL, topic+"-value"), "live versions of %s-value", topic)

	// A second restore of the same snapshot finds every schema there: the registry is unchanged.
	before := dump(t, dstURL, nil)
	restoreInto(topic + "-b")
	check(topic + "-b")
	require.Equal(t, before, dump(t, dstURL, nil), "a second restore registers nothing")
}

// Acceptance (#22 point 15): a record whose schema id the snapshot does not hold stops the
// restore there, naming topic, partition, offset and id, with the records before it written;
// with unknownSchemaIds Keep it is written unchanged and the rest rewritten. A map this small
// travels inline. A dry run registers nothing and says how many ids the snapshot holds.
func TestKafkaRestoreUnknownSchemaIDs(t *testing.T) {
	bootstrap := testenv.Kafka(t)
	b, src, dst, topic := newRemapBed(t, "unknown-ids")
	srcURL, dstURL := src.base, dst.base
	var ids []int
	for i := range 3 {
		ids = append(ids, src.register(fmt.Sprintf("t%d-value", i), "AVRO", avro(fmt.Sprintf("T%d", i), i)))
	}
	occupy(dst, 5)
	// Offsets 0-2 carry known ids, offset 3 an id no registry has, offsets 4-5 known ids.
	values := [][]byte{wire(ids[0], []byte("a")), wire(ids[1], []byte("b")), wire(ids[2], []byte("c")),
		wire(999, []byte("d")), wire(ids[0], []byte("e")), wire(ids[1], []byte("f"))}
	produceRaw(t, bootstrap, topic, make([][]byte, len(values)), values)
	volume := arkivev1.StorageSpec{Volume: &arkivev1.VolumeStorage{Path: t.TempDir()}}
	backupOnce(t, b.c, b.queue, bootstrap, volume, "default/unknown-ids", topic)
	b.snapshot(t, "unknown-src", srcURL)

	run := func(name string, keep, dryRun bool) kafkarestore.Status {
		wid := startRestore(t, b.c, b.queue, bootstrap, volume, "default/unknown-ids", kafkarestore.Spec{CreateTopics: true, DryRun: dryRun,
			Topics: []kafkarestore.TopicMapping{{Source: topic, Target: name}}}, func(in *kafkarestore.Input) {
			in.Schemas = &kafkarestore.SchemaRemap{RegistryConnection: b.conn(t, "default/unknown-src", registrySpec(dstURL, "")), Values: true, KeepUnknown: keep}
		})
		return restoreStatus(t, b.c, wid)
	}
	before := dump(t, dstURL, nil)
	s := run(topic+"-dry", false, true)
	require.Equal(t, kafkarestore.PhaseReady, s.Phase, "%s %s", s.Reason, s.LastError)
	require.NotNil(t, s.SchemaIDs)
	require.Equal(t, 3, s.SchemaIDs.Count)
	require.Zero(t, s.SchemaIDs.Versions, "a dry run registers nothing")
	require.Equal(t, before, dump(t, dstURL, nil), "a dry run registers nothing")

	s = run(topic+"-fail", false, false)
	require.Equal(t, kafkarestore.PhaseFailed, s.Phase)
	require.Equal(t, kafkarestore.ErrUnknownSchemaID, s.Reason)
	require.Contains(t, s.LastError, fmt.Sprintf("%s/0 offset 3: the value carries schema id 999", topic))
	require.Equal(t, int64(3), s.Records, "the records before it are written and counted")
	got := readRaw(t, bootstrap, topic+"-fail")
	require.Len(t, got, 3)
	require.Empty(t, s.SchemaIDs.Key, "three ids travel inline")

	s = run(topic+"-keep", true, false)
	require.Equal(t, kafkarestore.PhaseDone, s.Phase, "%s %s", s.Reason, s.LastError)
	got = readRaw(t, bootstrap, topic+"-keep")
	require.Len(t, got, len(values))
	srcReader, dstReader := newRegistryReader(t, srcURL), newRegistryReader(t, dstURL)
	for i, g := range got {
		if i == 3 {
			require.Equal(t, values[3], []byte(g.Value), "an unknown id is kept as it was")
			continue
		}
		id := int(binary.BigEndian.Uint32(g.Value[1:5]))
		require.NotEqual(t, int(binary.BigEndian.Uint32(values[i][1:5])), id, "offset %d: the target's id", i)
		require.Equal(t, values[i][5:], []byte(g.Value[5:]), "offset %d: the body is untouched", i)
		require.Equal(t, srcReader.schema(int(binary.BigEndian.Uint32(values[i][1:5]))).String(), dstReader.schema(id).String(), "offset %d: the same schema", i)
	}
}
