// Package schemarestore decides how a SchemaRegistryRestore brings a snapshot back: plan and
// preflight first (nothing written on a conflict), then IMPORT mode, the import that keeps ids and
// versions, and the registry's previous mode put back at the end, also on failure. types.go
// holds the plain types shared with the activities (activities/schemaregistry).
package schemarestore
