// Command crddocs writes docs/resources/<kind>.md for every CRD in deploy/crd: what the kind is,
// its printer columns, a complete example (deploy/samples/<kind>.yaml), and every field with its
// type, default and rules, from the generated schema. `make docs` runs it; CI fails when the
// pages are stale, so they cannot drift from the API.
package main
