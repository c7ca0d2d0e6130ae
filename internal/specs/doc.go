// Package specs turns resources (as applied with kubectl, or read from a file by `arkive run`)
// into workflow inputs. It applies the CRD defaults itself, because outside the API server
// nobody else does, and validates what admission cannot (a cron's fields, say), naming the field.
package specs
