package workflows

import (
	"slices"
	"time"

	"go.temporal.io/sdk/workflow"
)

// Signals is the signal loop every kind shares: the pause, resume, trigger and update channels,
// and what each does to the workflow's state. A nil handler leaves its signal unread (a restore
// has nothing to trigger), so it stays in the channel rather than being dropped.
//
// Every wait below selects, in this order: the timer (if any), the signals, the workflow's
// cancellation. The order is part of replay: keep it.
type Signals struct {
	pause, resume, trigger, update workflow.ReceiveChannel
	// OnPause, OnResume and OnTrigger apply their signal to the workflow's state.
	OnPause, OnResume, OnTrigger func()
	// OnUpdate receives the new spec from c (c.Receive(ctx, &spec)) and applies it.
	OnUpdate func(ctx workflow.Context, c workflow.ReceiveChannel)
	// Triggers, when set, points at the kind's record (carried across continue-as-new) of the
	// ids of the last trigger signals it applied. A trigger whose id is recorded is received
	// and not applied again, so a sender that may send twice (the operator, retrying after a
	// crash between its signal and removing the annotation) starts one run per id. A trigger
	// without an id (the CLI's, the Temporal CLI's) is always applied.
	Triggers *[]string
}

// keptTriggers bounds the trigger ids a workflow remembers.
const keptTriggers = 16

// NewSignals opens the four signal channels; set the handlers before the first wait.
func NewSignals(ctx workflow.Context) *Signals {
	return &Signals{pause: workflow.GetSignalChannel(ctx, SignalPause), resume: workflow.GetSignalChannel(ctx, SignalResume),
		trigger: workflow.GetSignalChannel(ctx, SignalTrigger), update: workflow.GetSignalChannel(ctx, SignalUpdate)}
}

// Add puts a case per handled signal on sel; each receives its signal, applies it, then calls
// after (when not nil).
func (s *Signals) Add(ctx workflow.Context, sel workflow.Selector, after func()) {
	plain := func(c workflow.ReceiveChannel, apply func()) {
		if apply == nil {
			return
		}
		sel.AddReceive(c, func(c workflow.ReceiveChannel, _ bool) {
			c.Receive(ctx, nil)
			apply()
			if after != nil {
				after()
			}
		})
	}
	plain(s.pause, s.OnPause)
	plain(s.resume, s.OnResume)
	if s.OnTrigger != nil {
		sel.AddReceive(s.trigger, func(c workflow.ReceiveChannel, _ bool) {
			var payload any // any shape: a trigger's id is a string, anything else has none
			c.Receive(ctx, &payload)
			if s.firstTrigger(payload) {
				s.OnTrigger()
			}
			if after != nil {
				after()
			}
		})
	}
	if s.OnUpdate != nil {
		sel.AddReceive(s.update, func(c workflow.ReceiveChannel, _ bool) {
			s.OnUpdate(ctx, c)
			if after != nil {
				after()
			}
		})
	}
}

// firstTrigger records a trigger's id and says whether the trigger is to be applied: always
// without an id, once per id with one.
func (s *Signals) firstTrigger(payload any) bool {
	id, _ := payload.(string)
	if id == "" || s.Triggers == nil {
		return true
	}
	if slices.Contains(*s.Triggers, id) {
		return false
	}
	*s.Triggers = append(*s.Triggers, id)
	if n := len(*s.Triggers); n > keptTriggers {
		*s.Triggers = slices.Delete(*s.Triggers, 0, n-keptTriggers)
	}
	return true
}

// Drain applies every signal already received, without waiting.
func (s *Signals) Drain(ctx workflow.Context) {
	for {
		received := false
		sel := workflow.NewSelector(ctx)
		s.Add(ctx, sel, func() { received = true })
		sel.AddDefault(func() {})
		sel.Select(ctx)
		if !received {
			return
		}
	}
}

// Wait blocks until a signal arrives (and is applied) or the workflow is cancelled.
func (s *Signals) Wait(ctx workflow.Context) { s.wait(ctx, nil) }

// Sleep waits for d, or until a signal arrives (and is applied) or the workflow is cancelled,
// whichever comes first.
func (s *Signals) Sleep(ctx workflow.Context, d time.Duration) { s.wait(ctx, &d) }

// WaitUntil waits until wake (zero: only a signal or cancellation ends the wait); a wake time
// already past returns at once.
func (s *Signals) WaitUntil(ctx workflow.Context, wake time.Time) {
	if wake.IsZero() {
		s.Wait(ctx)
		return
	}
	if d := wake.Sub(workflow.Now(ctx)); d > 0 {
		s.Sleep(ctx, d)
	}
}

func (s *Signals) wait(ctx workflow.Context, d *time.Duration) {
	sel := workflow.NewSelector(ctx)
	if d != nil {
		tctx, cancel := workflow.WithCancel(ctx)
		defer cancel() // a timer the signal beat is cancelled, not left to fire
		sel.AddFuture(workflow.NewTimer(tctx, *d), func(workflow.Future) {})
	}
	s.Add(ctx, sel, nil)
	sel.AddReceive(ctx.Done(), func(workflow.ReceiveChannel, bool) {})
	sel.Select(ctx)
}
