// Package worker registers every workflow and activity under its stable name and runs them.
package worker
