package workflows

import (
	"strconv"
	"strings"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

// Search attributes of every resource's workflow, so the Temporal UI and CLI find workflows by
// resource and phase (ArkivePhase="Failed"). They must be registered on the Temporal namespace:
// hack/servers.sh does it on the dev server, docs/temporal.md says how on a production cluster.
// A workflow started where they are not registered runs without them.
var (
	AttrKind      = temporal.NewSearchAttributeKeyKeyword("ArkiveKind")
	AttrNamespace = temporal.NewSearchAttributeKeyKeyword("ArkiveNamespace")
	AttrResource  = temporal.NewSearchAttributeKeyKeyword("ArkiveResource")
	AttrPhase     = temporal.NewSearchAttributeKeyKeyword("ArkivePhase")
)

// ParseWorkflowID reads kind (lowercase), namespace and name back from WorkflowID's form.
func ParseWorkflowID(id string) (kind, namespace, name string, ok bool) {
	parts := strings.Split(id, "/")
	if len(parts) != 4 || parts[0] != "arkive" {
		return "", "", "", false
	}
	return parts[1], parts[2], parts[3], true
}

// StartAttributes are the search attributes a resource's workflow starts with; the phase
// follows once the workflow runs (ServeStatus).
func StartAttributes(kind, namespace, name string) temporal.SearchAttributes {
	return temporal.NewSearchAttributes(AttrKind.ValueSet(kind), AttrNamespace.ValueSet(namespace), AttrResource.ValueSet(name))
}

// ServeStatus answers the status query with status(). A workflow started with Arkive's search
// attributes also keeps ArkivePhase and its current details (which the Temporal UI shows) on
// what summary() says, from a goroutine that wakes when either changes; summary is called
// after every event, so it must be cheap. A workflow started without the attributes (an older
// one, or a namespace without them) upserts nothing: its history replays as it was written.
func ServeStatus[S any](ctx workflow.Context, status func() S, summary func() (phase, details string)) error {
	if err := workflow.SetQueryHandler(ctx, QueryStatus, func() (S, error) { return status(), nil }); err != nil {
		return err
	}
	if !workflow.GetTypedSearchAttributes(ctx).ContainsKey(AttrKind) {
		return nil
	}
	workflow.Go(ctx, func(ctx workflow.Context) {
		published, _ := workflow.GetTypedSearchAttributes(ctx).GetKeyword(AttrPhase)
		shown := ""
		for {
			var now, text string
			if err := workflow.Await(ctx, func() bool {
				now, text = summary()
				return (now != published && now != "") || text != shown
			}); err != nil {
				return // the workflow is ending
			}
			if text != shown {
				workflow.SetCurrentDetails(ctx, text)
				shown = text
			}
			if now != published && now != "" {
				if err := workflow.UpsertTypedSearchAttributes(ctx, AttrPhase.ValueSet(now)); err != nil {
					workflow.GetLogger(ctx).Warn("ArkivePhase not updated", "error", err)
					return
				}
				published = now
			}
		}
	})
	return nil
}

// Details is a workflow's current details for people: its phase, why, and the last error.
func Details(phase, reason, lastError string) string {
	text := phase
	if reason != "" {
		text += " (" + reason + ")"
	}
	if lastError != "" {
		text += ": " + lastError
	}
	return text
}

// Thousands writes n with comma thousands separators (120,000), for summaries people read.
func Thousands(n int64) string {
	digits := strconv.FormatInt(n, 10)
	sign := ""
	if n < 0 {
		sign, digits = "-", digits[1:]
	}
	var b strings.Builder
	for i, d := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(d)
	}
	return sign + b.String()
}
