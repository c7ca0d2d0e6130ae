// Package storage holds the activities that touch object storage directly.
package storage
