package kafka

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"go.temporal.io/sdk/temporal"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
	"arkive.io/arkive/workflows/check"
)

// Activities are the Kafka activities; the worker registers one value.
type Activities struct {
	// Secrets returns the resolver for a resource's namespace.
	Secrets func(namespace string) secrets.Resolver
	// SpoolDir holds segments while they fill; empty means the system temp folder.
	SpoolDir string
}

// Check connects to the cluster and reads its metadata.
func (a *Activities) Check(ctx context.Context, in check.Input) (check.Result, error) {
	var spec arkivev1.KafkaClusterSpec
	if err := json.Unmarshal(in.Spec, &spec); err != nil {
		return check.Result{}, temporal.NewNonRetryableApplicationError("spec: "+err.Error(), check.ErrInvalidSpec, nil)
	}
	now := time.Now().UTC()
	cfg, err := Config(ctx, spec, a.Secrets(in.Namespace))
	if err != nil {
		return check.Result{}, temporal.NewNonRetryableApplicationError(err.Error(), check.ErrInvalidSpec, nil)
	}
	client, err := sarama.NewClient(spec.BootstrapServers, cfg)
	if err != nil {
		return check.Result{Message: fmt.Sprintf("connect to %v: %v", spec.BootstrapServers, err), CheckedAt: now}, nil
	}
	defer client.Close()
	controller, err := client.Controller()
	if err != nil {
		return check.Result{Message: fmt.Sprintf("find controller: %v", err), CheckedAt: now}, nil
	}
	return check.Result{OK: true, CheckedAt: now,
		Message: fmt.Sprintf("%d broker(s) reachable, controller %s", len(client.Brokers()), controller.Addr())}, nil
}
