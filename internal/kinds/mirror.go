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
