package kinds

import (
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
)

// SetWorkflowReady sets a resource's WorkflowReady condition for the generation it describes.
func SetWorkflowReady(conds *[]metav1.Condition, generation int64, status metav1.ConditionStatus, reason, message string) {
	meta.SetStatusCondition(conds, metav1.Condition{Type: arkivev1.ConditionWorkflowReady, Status: status,
		Reason: reason, Message: message, ObservedGeneration: generation})
}

// SetReady sets a backup's Ready condition from its WorkflowReady condition: True while the
// workflow runs and is neither paused nor retrying (retrying: it retries a passing error);
// otherwise False or Unknown with WorkflowReady's reason and message.
func SetReady(conds *[]metav1.Condition, generation int64, retrying bool) {
	wr := meta.FindStatusCondition(*conds, arkivev1.ConditionWorkflowReady)
	if wr == nil {
		return
	}
	c := metav1.Condition{Type: arkivev1.ConditionReady, Status: wr.Status, Reason: wr.Reason, Message: wr.Message, ObservedGeneration: generation}
	if c.Status == metav1.ConditionTrue {
		switch {
		case wr.Reason == arkivev1.ReasonPausedBySignal || wr.Reason == arkivev1.ReasonPausedBySpec:
			c.Status = metav1.ConditionFalse
		case retrying:
			c.Status, c.Reason = metav1.ConditionFalse, arkivev1.ReasonRetrying
		}
	}
	meta.SetStatusCondition(conds, c)
}

// setTime copies a workflow's time into a status field; a zero time leaves the field as it is.
func setTime(dst **metav1.Time, t time.Time) {
	if !t.IsZero() {
		mt := metav1.NewTime(t)
		*dst = &mt
	}
}

// OrNone is s, or "(none)" when it is empty, for messages.
func OrNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
