// Package status holds the words a resource's status is written in: phases, the reasons shown
// with them, and run outcomes. Workflows write them (into their status query) and the operator
// and the API's typed constants read them, so both sides compare against one definition and
// never against a string literal. It imports nothing: api/v1alpha1 and workflows/ both use it.
package status
