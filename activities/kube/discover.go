package kube

import (
	"context"
	"fmt"
	"slices"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/dynamic"

	"arkive.io/arkive/internal/archive"
	"arkive.io/arkive/workflows"
)

// Kinds Arkive treats specially, by group and kind.
var (
	namespaceKind = archive.KindInfo{Group: "", Version: "v1", Kind: "Namespace", Resource: "namespaces"}
	crdKind       = archive.KindInfo{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition", Resource: "customresourcedefinitions"}
	crdGVR        = gvr(crdKind)
)

func gvr(k archive.KindInfo) schema.GroupVersionResource {
	return schema.GroupVersionResource{Group: k.Group, Version: k.Version, Resource: k.Resource}
}

func gk(group, kind string) schema.GroupKind { return schema.GroupKind{Group: group, Kind: kind} }

// kindName is how errors and results name a kind: "Secret", "Kafka.kafka.strimzi.io".
func kindName(group, kind string) string {
	if group == "" {
		return kind
	}
	return kind + "." + group
}

// servedKinds lists every kind the API server serves, in its preferred version. Groups whose
// discovery fails (an aggregated API that is down) are left out rather than failing the list:
// a selection naming one of their kinds then says the kind is not served.
func servedKinds(disc discovery.DiscoveryInterface) (map[schema.GroupKind]archive.KindInfo, error) {
	lists, err := disc.ServerPreferredResources()
	if err != nil && !discovery.IsGroupDiscoveryFailedError(err) {
		return nil, fmt.Errorf("discover the API server's kinds: %w", err)
	}
	out := map[schema.GroupKind]archive.KindInfo{}
	for _, l := range lists {
		gv, err := schema.ParseGroupVersion(l.GroupVersion)
		if err != nil {
			continue
		}
		for _, r := range l.APIResources {
			if strings.Contains(r.Name, "/") || !slices.Contains(r.Verbs, "list") {
				continue
			}
			out[gk(gv.Group, r.Kind)] = archive.KindInfo{Group: gv.Group, Version: gv.Version, Kind: r.Kind, Resource: r.Name, Namespaced: r.Namespaced}
		}
	}
	return out, nil
}

// crdInfo is what a restore needs to know of a CRD: its name and the versions it serves.
type crdInfo struct {
	name   string
	served []string
}

// listCRDs maps every custom kind to its CRD.
func listCRDs(ctx context.Context, dyn dynamic.Interface) (map[schema.GroupKind]crdInfo, error) {
	out := map[schema.GroupKind]crdInfo{}
	err := listPages(ctx, dyn.Resource(crdGVR), "", func(u *unstructured.Unstructured) error {
		out[crdGroupKind(u)] = crdInfo{name: u.GetName(), served: crdServed(u)}
		return nil
	})
	return out, err
}

func crdGroupKind(u *unstructured.Unstructured) schema.GroupKind {
	group, _, _ := unstructured.NestedString(u.Object, "spec", "group")
	kind, _, _ := unstructured.NestedString(u.Object, "spec", "names", "kind")
	return gk(group, kind)
}

func crdServed(u *unstructured.Unstructured) []string {
	versions, _, _ := unstructured.NestedSlice(u.Object, "spec", "versions")
	var out []string
	for _, v := range versions {
		m, _ := v.(map[string]any)
		if served, _ := m["served"].(bool); served {
			name, _ := m["name"].(string)
			out = append(out, name)
		}
	}
	return out
}

// listPages lists a resource page by page (never the whole list in memory at once) and calls
// fn with each object, its apiVersion and kind set.
func listPages(ctx context.Context, ri dynamic.ResourceInterface, labelSelector string, fn func(*unstructured.Unstructured) error) error {
	opts := metav1.ListOptions{Limit: 500, LabelSelector: labelSelector}
	for {
		l, err := ri.List(ctx, opts)
		if err != nil {
			return err
		}
		for i := range l.Items {
			if err := fn(&l.Items[i]); err != nil {
				return err
			}
		}
		if opts.Continue = l.GetContinue(); opts.Continue == "" {
			return nil
		}
	}
}

// filter is a selection's label selectors and exclusions, as a predicate on objects.
type filter struct {
	selectors []labels.Selector
	exclude   []workflows.ResourceType
}

func newFilter(field string, sel workflows.ResourceSelection) (*filter, error) {
	f := &filter{exclude: sel.Exclude}
	for i, s := range sel.LabelSelectors {
		ls, err := labels.Parse(s)
		if err != nil {
			return nil, invalidf("%s.labelSelectors[%d]: %v", field, i, err)
		}
		f.selectors = append(f.selectors, ls)
	}
	return f, nil
}

// takes says whether an object of group/kind passes the label selectors (any one of them)
// and no exclusion names it.
func (f *filter) takes(group, kind string, u *unstructured.Unstructured) bool {
	for _, x := range f.exclude {
		if x.Group == group && x.Kind == kind && (len(x.Names) == 0 || slices.Contains(x.Names, u.GetName())) {
			return false
		}
	}
	if len(f.selectors) == 0 {
		return true
	}
	set := labels.Set(u.GetLabels())
	return slices.ContainsFunc(f.selectors, func(s labels.Selector) bool { return s.Matches(set) })
}

// serverSelector is the selector the API server can apply itself: the one selector when there
// is exactly one (several are ORed, which a list request cannot express).
func (f *filter) serverSelector() string {
	if len(f.selectors) == 1 {
		return f.selectors[0].String()
	}
	return ""
}

// dynamicResource is a resource's client, namespaced or not.
type dynamicResource = dynamic.ResourceInterface

// resourceIn is kind k's client in namespace ns ("": a cluster-scoped kind).
func resourceIn(c *clients, k archive.KindInfo, ns string) dynamicResource {
	if ns == "" {
		return c.dyn.Resource(gvr(k))
	}
	return c.dyn.Resource(gvr(k)).Namespace(ns)
}
