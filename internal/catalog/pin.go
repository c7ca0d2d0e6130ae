package catalog

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"gocloud.dev/blob"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/internal/blobstore"
)

// PinFor is how long a pin holds a generation after it was last renewed. A restore renews its
// pin when one of its streams starts and the pin was last renewed PinRenewAfter or more
// before, so only a restore idle (paused, or its worker gone) for longer than PinFor less
// PinRenewAfter can lose it; it then reads the current catalog and fails with
// RemovedByRetention if retention removed what it planned.
const PinFor = 24 * time.Hour

// PinRenewAfter is how old a pin gets before a stream's start renews it. Renewing rewrites the
// pinned root (up to about 0.45 KB per partition: docs/benchmarks.md, Kafka catalog), and a
// restore of 2,000 partitions starts 2,000 streams: each renewing it wrote the root 2,000 times.
const PinRenewAfter = time.Hour

// pin is the stored object of a pinned generation: a copy of that generation's root, so the
// holder reads exactly what it planned from, and nothing the root names is deleted while the
// pin lives (edit keeps retired objects; retention keeps segments).
type pin struct {
	Version    int               `json:"version"`
	Holder     string            `json:"holder"`
	Generation int64             `json:"generation"`
	Expires    time.Time         `json:"expires"`
	Root       *archive.Manifest `json:"root"`
}

// pinVersion is the version of the pin object this build writes and reads.
const pinVersion = 1

// pinKey is where holder's pin lives; holder names (a workflow id) are hashed into the key.
func pinKey(layout blobstore.KafkaLayout, holder string) string {
	sum := sha256.Sum256([]byte(holder))
	return layout.CatalogPrefix() + "pins/" + hex.EncodeToString(sum[:16]) + ".json"
}

// Pin keeps this catalog's generation readable for holder until now+PinFor: while it lives,
// no write deletes an object the generation's root names. Pinning again replaces holder's pin.
// A version 1 manifest is not pinned.
func (c *Catalog) Pin(ctx context.Context, holder string, now time.Time) error {
	if c.root == nil || !c.root.IsRoot() {
		// A version 1 manifest names every segment inline and can be large: it is not copied.
		// Its first write migrates it without deleting a segment.
		return nil
	}
	data, err := json.Marshal(pin{Version: pinVersion, Holder: holder, Generation: c.root.Generation, Expires: now.Add(PinFor).UTC(), Root: c.root})
	if err != nil {
		return err
	}
	return c.put(ctx, pinKey(c.layout, holder), data)
}

// OpenPinned opens the generation holder pinned, renewing the pin once it is PinRenewAfter old;
// found is false when holder has no live pin (never pinned, expired or removed).
func OpenPinned(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout, holder string, now time.Time) (c *Catalog, found bool, err error) {
	return openPinned(ctx, store, layout, holder, now, nil)
}

// OpenPinned is catalog.OpenPinned sharing the decoded pin, and then the deltas of its root,
// with the other catalogs opened through dc: the root must be left as it is (View copies it).
func (dc *ViewCache) OpenPinned(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout, holder string, now time.Time) (c *Catalog, found bool, err error) {
	return openPinned(ctx, store, layout, holder, now, dc)
}

func openPinned(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout, holder string, now time.Time, dc *ViewCache) (c *Catalog, found bool, err error) {
	c = &Catalog{store: store, layout: layout, deltas: dc}
	key := pinKey(layout, holder)
	data, err := c.get(ctx, key)
	if blobstore.IsNotFound(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", key, err)
	}
	var p *pin
	if dc != nil {
		// The same bytes decode to the same pin: a renewed pin has other bytes.
		sum := sha256.Sum256(data)
		v, err := dc.get(ctx, cacheID{manifest: layout.Manifest(), key: "pin " + hex.EncodeToString(sum[:])}, func() (any, int64, error) {
			return decodePin(data), int64(len(data)), nil
		})
		if err != nil {
			return nil, false, err // only the context's: decoding does not fail
		}
		p = v.(*pin)
	} else {
		p = decodePin(data)
	}
	if p == nil || !now.Before(p.Expires) {
		return nil, false, nil // unreadable or expired: as if unpinned, the caller reads the current root
	}
	c.root = p.Root
	if p.Expires.Sub(now) > PinFor-PinRenewAfter {
		return c, true, nil
	}
	return c, true, c.Pin(ctx, holder, now)
}

// decodePin is the pin data holds, or nil when it is not one this build reads.
func decodePin(data []byte) *pin {
	var p pin
	if err := json.Unmarshal(data, &p); err != nil || p.Root == nil || p.Version != pinVersion {
		return nil
	}
	return &p
}

// Unpin removes holder's pin (none is no error).
func Unpin(ctx context.Context, store *blobstore.Store, layout blobstore.KafkaLayout, holder string) error {
	if err := store.Delete(ctx, pinKey(layout, holder)); err != nil && !blobstore.IsNotFound(err) {
		return err
	}
	return nil
}

// OldestPin is the oldest generation a live pin holds (0 when none), after deleting expired
// pins. Writers call it only when they are about to delete something. The pins are listed once
// per Catalog value (one activity): retention's trim and its deletion ask both.
func (c *Catalog) OldestPin(ctx context.Context, now time.Time) (int64, error) {
	if c.pins != nil {
		return *c.pins, nil
	}
	oldest, err := c.listPins(ctx, now)
	if err == nil {
		c.pins = &oldest
	}
	return oldest, err
}

func (c *Catalog) listPins(ctx context.Context, now time.Time) (int64, error) {
	prefix := c.layout.CatalogPrefix() + "pins/"
	it := c.store.List(&blob.ListOptions{Prefix: prefix})
	oldest := int64(0)
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return oldest, nil
		}
		if err != nil {
			return 0, fmt.Errorf("list %s: %w", prefix, err)
		}
		data, err := c.get(ctx, obj.Key)
		if blobstore.IsNotFound(err) {
			continue
		}
		if err != nil {
			return 0, fmt.Errorf("read %s: %w", obj.Key, err)
		}
		var p pin
		if json.Unmarshal(data, &p) != nil || !now.Before(p.Expires) {
			// Expired, or not a pin this build reads: it holds nothing.
			if err := c.store.Delete(ctx, obj.Key); err != nil && !blobstore.IsNotFound(err) {
				return 0, fmt.Errorf("delete %s: %w", obj.Key, err)
			}
			continue
		}
		if oldest == 0 || p.Generation < oldest {
			oldest = p.Generation
		}
	}
}

// retiredAt is the generation whose write retired a list's objects (its key names it); the
// roots of earlier generations still name them.
func retiredAt(r archive.Retired) int64 {
	base := r.Key[strings.LastIndex(r.Key, "/")+1:]
	n, err := strconv.ParseInt(strings.TrimSuffix(base, ".json"), 10, 64)
	if err != nil {
		return 1 << 62 // not ours to date: a live pin keeps it
	}
	return n
}
