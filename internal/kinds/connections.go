package kinds

import arkivev1 "arkive.io/arkive/api/v1alpha1"

var kafkaCluster = connection[*arkivev1.KafkaCluster]{kind: "KafkaCluster",
	new:    func() *arkivev1.KafkaCluster { return &arkivev1.KafkaCluster{} },
	status: func(o *arkivev1.KafkaCluster) *arkivev1.ConnectionStatus { return &o.Status },
	spec:   func(o *arkivev1.KafkaCluster) any { return o.Spec },
	secrets: func(o *arkivev1.KafkaCluster, add func(name, field string)) {
		if o.Spec.TLS != nil {
			add(o.Spec.TLS.SecretName, "tls.secretName")
		}
		if o.Spec.SASL != nil {
			add(o.Spec.SASL.SecretName, "sasl.secretName")
		}
	},
}.entry()

var schemaRegistry = connection[*arkivev1.SchemaRegistry]{kind: "SchemaRegistry",
	new:    func() *arkivev1.SchemaRegistry { return &arkivev1.SchemaRegistry{} },
	status: func(o *arkivev1.SchemaRegistry) *arkivev1.ConnectionStatus { return &o.Status },
	spec:   func(o *arkivev1.SchemaRegistry) any { return o.Spec },
	secrets: func(o *arkivev1.SchemaRegistry, add func(name, field string)) {
		if o.Spec.BasicAuth != nil {
			add(o.Spec.BasicAuth.SecretName, "basicAuth.secretName")
		}
		if o.Spec.BearerToken != nil {
			add(o.Spec.BearerToken.Name, "bearerToken.name")
		}
		if o.Spec.TLS != nil {
			add(o.Spec.TLS.SecretName, "tls.secretName")
		}
	},
}.entry()

var storage = connection[*arkivev1.Storage]{kind: "Storage",
	new:    func() *arkivev1.Storage { return &arkivev1.Storage{} },
	status: func(o *arkivev1.Storage) *arkivev1.ConnectionStatus { return &o.Status },
	spec:   func(o *arkivev1.Storage) any { return o.Spec },
	secrets: func(o *arkivev1.Storage, add func(name, field string)) {
		s := o.Spec
		if s.S3 != nil && s.S3.CredentialsSecret != nil {
			add(s.S3.CredentialsSecret.Name, "s3.credentialsSecret.name")
		}
		if s.GCS != nil && s.GCS.CredentialsSecret != nil {
			add(s.GCS.CredentialsSecret.Name, "gcs.credentialsSecret.name")
		}
		if s.Azure != nil && s.Azure.AccountKeySecret != nil {
			add(s.Azure.AccountKeySecret.Name, "azure.accountKeySecret.name")
		}
		if s.Azure != nil && s.Azure.SASTokenSecret != nil {
			add(s.Azure.SASTokenSecret.Name, "azure.sasTokenSecret.name")
		}
		if s.Encryption != nil {
			add(s.Encryption.KeySecret.Name, "encryption.keySecret.name")
		}
	},
}.entry()

var zookeeperEnsemble = connection[*arkivev1.ZooKeeperEnsemble]{kind: "ZooKeeperEnsemble",
	new:    func() *arkivev1.ZooKeeperEnsemble { return &arkivev1.ZooKeeperEnsemble{} },
	status: func(o *arkivev1.ZooKeeperEnsemble) *arkivev1.ConnectionStatus { return &o.Status },
	spec:   func(o *arkivev1.ZooKeeperEnsemble) any { return o.Spec },
	secrets: func(o *arkivev1.ZooKeeperEnsemble, add func(name, field string)) {
		if o.Spec.Digest != nil {
			add(o.Spec.Digest.SecretName, "digest.secretName")
		}
		if o.Spec.TLS != nil {
			add(o.Spec.TLS.SecretName, "tls.secretName")
		}
	},
}.entry()
