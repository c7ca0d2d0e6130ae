// Package beat keeps a long activity's heartbeat going while it works in steps that report no
// progress of their own (reading a registry, planning a restore), so a worker that dies is noticed
// within the activity's heartbeat timeout and one that lives is not mistaken for dead.
package beat
