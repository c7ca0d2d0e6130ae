package kafka

import (
	"context"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"

	arkivev1 "arkive.io/arkive/api/v1alpha1"
	"arkive.io/arkive/internal/secrets"
)

// ProtocolVersion is the Kafka protocol version Arkive speaks: 3.0 has record headers,
// idempotent producers and the fetch/list-offsets versions capture relies on, and every broker
// from 3.0 to 4.x accepts it.
var ProtocolVersion = sarama.V3_0_0_0

// clientOverrides lists the overrides a KafkaCluster may set, and how each applies.
var clientOverrides = map[string]func(c *sarama.Config, v string) error{
	"client.id": func(c *sarama.Config, v string) error { c.ClientID = v; return nil },
	"request.timeout.ms": func(c *sarama.Config, v string) error {
		return setMillis(v, &c.Net.ReadTimeout, &c.Net.WriteTimeout, &c.Admin.Timeout)
	},
	"metadata.max.age.ms": func(c *sarama.Config, v string) error { return setMillis(v, &c.Metadata.RefreshFrequency) },
	"socket.connection.setup.timeout.ms": func(c *sarama.Config, v string) error {
		return setMillis(v, &c.Net.DialTimeout)
	},
}

func setMillis(v string, into ...*time.Duration) error {
	ms, err := strconv.Atoi(v)
	if err != nil || ms <= 0 {
		return fmt.Errorf("want a positive number of milliseconds, got %q", v)
	}
	for _, d := range into {
		*d = time.Duration(ms) * time.Millisecond
	}
	return nil
}

// Config builds a sarama configuration for a cluster, reading TLS and SASL material through
// sr. Errors name the spec field at fault.
func Config(ctx context.Context, spec arkivev1.KafkaClusterSpec, sr secrets.Resolver) (*sarama.Config, error) {
	c := sarama.NewConfig()
	c.Version = ProtocolVersion
	c.ClientID = "arkive"
	c.Net.DialTimeout = 10 * time.Second
	c.Metadata.Retry.Max = 3
	// A backup reads: asking for a deleted topic's metadata must not create it again on a
	// broker with auto.create.topics.enable (Kafka's default), as sarama's default would.
	c.Metadata.AllowAutoTopicCreation = false

	protocol := spec.SecurityProtocol
	if protocol == "" {
		protocol = arkivev1.SecurityPlaintext
	}
	switch protocol {
	case arkivev1.SecurityPlaintext, arkivev1.SecuritySSL, arkivev1.SecuritySASLPlaintext, arkivev1.SecuritySASLSSL:
	default:
		return nil, fmt.Errorf("spec.securityProtocol: unknown protocol %q", protocol)
	}
	if strings.HasSuffix(string(protocol), "SSL") {
		tc, err := secrets.TLSConfig(ctx, spec.TLS, sr)
		if err != nil {
			return nil, err
		}
		c.Net.TLS.Enable, c.Net.TLS.Config = true, tc
	}
	if strings.HasPrefix(string(protocol), "SASL") {
		if err := saslConfig(ctx, c, spec.SASL, sr); err != nil {
			return nil, err
		}
	}
	keys := make([]string, 0, len(spec.ClientOverrides))
	for k := range spec.ClientOverrides {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		apply, ok := clientOverrides[k]
		if !ok {
			supported := make([]string, 0, len(clientOverrides))
			for s := range clientOverrides {
				supported = append(supported, s)
			}
			slices.Sort(supported)
			return nil, fmt.Errorf("spec.clientOverrides[%s]: unsupported setting (supported: %s)", k, strings.Join(supported, ", "))
		}
		if err := apply(c, spec.ClientOverrides[k]); err != nil {
			return nil, fmt.Errorf("spec.clientOverrides[%s]: %w", k, err)
		}
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("kafka client configuration: %w", err)
	}
	return c, nil
}

func saslConfig(ctx context.Context, c *sarama.Config, spec *arkivev1.KafkaSASL, sr secrets.Resolver) error {
	if spec == nil {
		return errors.New("spec.sasl: required when securityProtocol is SASL_PLAINTEXT or SASL_SSL")
	}
	user, err := secrets.String(ctx, sr, spec.SecretName, orDefault(spec.UsernameKey, "username"))
	if err != nil {
		return fmt.Errorf("spec.sasl: %w", err)
	}
	// The password is used as is: trimming could change a password that ends in white space.
	pass, err := sr.Resolve(ctx, arkivev1.SecretKeyRef{Name: spec.SecretName, Key: orDefault(spec.PasswordKey, "password")})
	if err != nil {
		return fmt.Errorf("spec.sasl: %w", err)
	}
	c.Net.SASL.Enable = true
	c.Net.SASL.Handshake = true
	c.Net.SASL.User, c.Net.SASL.Password = user, strings.TrimRight(string(pass), "\r\n")
	switch spec.Mechanism {
	case arkivev1.SASLPlain:
		c.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case arkivev1.SASLScramSHA256:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha256.New)} }
	case arkivev1.SASLScramSHA512:
		c.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		c.Net.SASL.SCRAMClientGeneratorFunc = func() sarama.SCRAMClient { return &scramClient{hash: scram.HashGeneratorFcn(sha512.New)} }
	default:
		return fmt.Errorf("spec.sasl.mechanism: unknown mechanism %q", spec.Mechanism)
	}
	return nil
}

// scramClient adapts xdg-go/scram, the SCRAM implementation sarama's own examples use, to
// sarama's SCRAMClient interface.
type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (s *scramClient) Begin(user, pass, authzID string) error {
	c, err := s.hash.NewClient(user, pass, authzID)
	if err != nil {
		return err
	}
	s.conv = c.NewConversation()
	return nil
}

func (s *scramClient) Step(challenge string) (string, error) { return s.conv.Step(challenge) }

func (s *scramClient) Done() bool { return s.conv.Done() }

func orDefault(v, def string) string {
	if v == "" {
		return def
	}
	return v
}
