// Package kinds is the one table of Arkive's resource kinds. Each work kind (a backup or a
// restore) has one entry: its resource type, the connection resources it names, how its
// workflow input is built, its workflow, whether it runs once or forever, how the operator
// mirrors its status, and its names on the command line. Each connection kind (KafkaCluster,
// SchemaRegistry, Storage) has one entry too. The operator's setup, `arkive run -f` and the
// CLI's KIND/NAME read these tables instead of switches of their own, so adding a kind is an
// entry here plus its own packages (docs/adding-a-kind.md); the kind contract test walks the
// table and fails for a kind that lacks a piece.
package kinds
