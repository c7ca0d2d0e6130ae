package catalog

import (
	"reflect"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"arkive.io/arkive/internal/archive"
)

// TestCopyManifestSharesNothing fills every field of a manifest, reached by reflection so that
// a field added later is filled too, and checks that copyManifest's copy equals it and shares
// no slice, map or pointer with it: a view may be changed while the root stays shared.
func TestCopyManifestSharesNothing(t *testing.T) {
	var m archive.Manifest
	fill(reflect.ValueOf(&m).Elem(), 0)
	require.NotEmpty(t, m.Topics[0].Data[0].Segments, "the filler reaches nested lists")
	v := copyManifest(&m)
	require.Equal(t, &m, v)
	shared(t, "Manifest", reflect.ValueOf(m), reflect.ValueOf(*v))

	// And the check finds sharing where there is some.
	w := *v
	w.Runs = m.Runs
	var found []string
	probe := &recorder{found: &found}
	sharedIn(probe, "Manifest", reflect.ValueOf(m), reflect.ValueOf(w))
	require.Equal(t, []string{"Manifest.Runs"}, found)
}

var timeType = reflect.TypeFor[time.Time]()

// fill gives every field a value that is not its zero: two elements per list, one entry per map.
func fill(v reflect.Value, depth int) {
	if depth > 8 {
		return
	}
	if v.Type() == timeType {
		v.Set(reflect.ValueOf(time.Date(2026, 12, 7, 6, 0, depth, 0, time.UTC)))
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		v.SetInt(int64(depth + 1))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(depth + 1))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(depth) + 0.5)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 2, 2))
		for i := range 2 {
			fill(v.Index(i), depth+1)
		}
	case reflect.Map:
		v.Set(reflect.MakeMap(v.Type()))
		k, e := reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem()
		fill(k, depth+1)
		fill(e, depth+1)
		v.SetMapIndex(k, e)
	case reflect.Struct:
		for i := range v.NumField() {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), depth+1)
			}
		}
	}
}

type reporter interface {
	Errorf(format string, args ...any)
}

type recorder struct{ found *[]string }

func (r *recorder) Errorf(_ string, args ...any) { *r.found = append(*r.found, args[0].(string)) }

func shared(t *testing.T, path string, a, b reflect.Value) { t.Helper(); sharedIn(t, path, a, b) }

// sharedIn reports each path at which a and b hold the same slice array, map or pointer.
func sharedIn(r reporter, path string, a, b reflect.Value) {
	if a.Type() == timeType {
		return // its location pointer is immutable
	}
	switch a.Kind() {
	case reflect.Pointer:
		if a.IsNil() || b.IsNil() {
			return
		}
		if a.Pointer() == b.Pointer() {
			r.Errorf("%s", path)
			return
		}
		sharedIn(r, path, a.Elem(), b.Elem())
	case reflect.Slice:
		if a.Len() > 0 && b.Len() > 0 && a.Index(0).Addr().Pointer() == b.Index(0).Addr().Pointer() {
			r.Errorf("%s", path)
			return
		}
		for i := range min(a.Len(), b.Len()) {
			sharedIn(r, path, a.Index(i), b.Index(i))
		}
	case reflect.Map:
		if !a.IsNil() && a.Pointer() == b.Pointer() {
			r.Errorf("%s", path)
		}
	case reflect.Struct:
		for i := range a.NumField() {
			if a.Type().Field(i).IsExported() {
				sharedIn(r, path+"."+a.Type().Field(i).Name, a.Field(i), b.Field(i))
			}
		}
	}
}
