// Command arkive is Arkive's one binary: worker, standalone run, status and signals, the
// storage tools (inspect, verify, export), the operator and the demo.
package main
