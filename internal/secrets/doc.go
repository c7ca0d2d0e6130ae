// Package secrets resolves Secret references at the moment a connection is opened. Workflows
// carry only references (namespace, name, key); the values stay inside the activity that
// asked for them and are never logged, returned or heartbeated.
package secrets
