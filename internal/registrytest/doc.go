// Package registrytest is a Confluent-compatible Schema Registry for tests. No such registry can
// be installed from the package registries this project reaches, so this server implements the
// documented REST API: subjects, versions, ids shared by identical schemas, references, soft and
// permanent deletes, ?deleted=true, global and subject config and mode (IMPORT, READONLY), contexts
// as qualified subject names, basic and bearer auth, and the documented status and error codes.
//
// Not covered: compatibility checking, schema parsing beyond JSON well-formedness, per-context id
// spaces, context-level config and mode, exporters.
package registrytest
