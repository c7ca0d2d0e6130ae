// Package zookeeperrestore decides how a ZooKeeperRestore brings a snapshot's nodes back: a
// plan with its preflight (nothing is written when it fails or for a dry run), then one
// resumable apply. types.go holds the plain types shared with activities/zookeeper.
package zookeeperrestore
