// Package zookeeperbackup decides when a ZooKeeperBackup snapshots the ZooKeeper tree it
// selects (once, on a cron schedule, on trigger) and which snapshots it keeps. types.go holds
// the plain types shared with the activities that walk the tree and write storage
// (activities/zookeeper).
package zookeeperbackup
