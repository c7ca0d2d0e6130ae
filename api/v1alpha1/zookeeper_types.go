package v1alpha1

import metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

// ZooKeeperEnsembleSpec is how to reach a ZooKeeper ensemble.
type ZooKeeperEnsembleSpec struct {
	// servers are host:port addresses of the ensemble's members.
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:MaxItems=32
	// +kubebuilder:validation:items:Pattern=`^[^\s/:]+:[0-9]{1,5}$`
	Servers []string `json:"servers"`
	// chroot is a path every path of a backup or restore is relative to ("/kafka" for a
	// Kafka cluster started with zookeeper.connect=host:2181/kafka). Empty: the tree's root.
	// +kubebuilder:validation:MaxLength=1024
	// +kubebuilder:validation:Pattern=`^(/[^/\s]+)*$`
	// +optional
	Chroot string `json:"chroot,omitempty"`
	// sessionTimeout of the client's session (Go duration).
	// +kubebuilder:default="30s"
	// +optional
	SessionTimeout *metav1.Duration `json:"sessionTimeout,omitempty"`
	// digest authenticates the session with a username and password (ZooKeeper's digest
	// scheme, as zkCli's addauth digest user:password).
	// +optional
	Digest *BasicAuth `json:"digest,omitempty"`
	// tls connects to the ensemble's secure client port.
	// +optional
	TLS *TLSConfig `json:"tls,omitempty"`
	// maxBufferBytes is the servers' jute.maxbuffer: a restore refuses, before writing, a node
	// whose data would not fit in one request, and sizes its batches below it.
	// +kubebuilder:default=1048575
	// +kubebuilder:validation:Minimum=4096
	// +optional
	MaxBufferBytes int32 `json:"maxBufferBytes,omitempty"`
}

// ZooKeeperEnsemble is a reusable connection to a ZooKeeper ensemble.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=zke,categories=arkive
// +kubebuilder:printcolumn:name="Servers",type=string,JSONPath=`.spec.servers[0]`
// +kubebuilder:printcolumn:name="Ready",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].status`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ZooKeeperEnsemble struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ZooKeeperEnsembleSpec `json:"spec"`
	Status ConnectionStatus      `json:"status,omitempty"`
}

// ZooKeeperEnsembleList is a list of ZooKeeperEnsemble.
// +kubebuilder:object:root=true
type ZooKeeperEnsembleList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ZooKeeperEnsemble `json:"items"`
}

// ZNodePaths selects znodes by path globs. A glob matches a path segment by segment: `*`
// matches within one segment, `**` any number of segments. A node is selected with its whole
// subtree when its path matches an include glob, and left out with its subtree when it matches
// an exclude glob.
type ZNodePaths struct {
	// include globs; empty selects the whole tree.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^/`
	// +optional
	Include []string `json:"include,omitempty"`
	// exclude globs, applied after include.
	// +kubebuilder:validation:MaxItems=64
	// +kubebuilder:validation:items:Pattern=`^/`
	// +optional
	Exclude []string `json:"exclude,omitempty"`
}

// ZNodeType declares the type of nodes a client cannot see: ZooKeeper reports container and
// TTL nodes to clients as persistent ones (their type lives only in the server's own
// snapshot), so a backup records them as such only where the spec says so.
// +kubebuilder:validation:XValidation:rule="self.type != 'TTL' || has(self.ttl)",message="a TTL node type needs ttl",fieldPath=".ttl"
type ZNodeType struct {
	// paths are globs of the nodes of this type (the globs of ZNodePaths, without subtrees).
	// +kubebuilder:validation:MinItems=1
	// +kubebuilder:validation:items:Pattern=`^/`
	Paths []string `json:"paths"`
	// type is Container or TTL.
	// +kubebuilder:validation:Enum=Container;TTL
	Type string `json:"type"`
	// ttl of TTL nodes (Go duration).
	// +optional
	TTL *metav1.Duration `json:"ttl,omitempty"`
}

// ZooKeeperBackupSpec declares snapshots of a ZooKeeper tree.
type ZooKeeperBackupSpec struct {
	// ensemble is the name of the ZooKeeperEnsemble to back up.
	// +kubebuilder:validation:MinLength=1
	Ensemble string `json:"ensemble"`
	// storage is the name of the Storage to write snapshots to.
	// +kubebuilder:validation:MinLength=1
	Storage string `json:"storage"`
	// paths selects what to back up; /zookeeper (the server's own quota and config nodes) is
	// never taken.
	// +optional
	Paths ZNodePaths `json:"paths,omitempty"`
	// nodeTypes declares container and TTL nodes, which clients cannot tell from persistent
	// ones.
	// +kubebuilder:validation:MaxItems=32
	// +optional
	NodeTypes []ZNodeType `json:"nodeTypes,omitempty"`
	// includeEphemeral stores ephemeral nodes too (for inspection: a restore never creates
	// them, their sessions are gone).
	// +optional
	IncludeEphemeral bool `json:"includeEphemeral,omitempty"`
	// schedule is a cron expression (5 fields, or @daily / @every 6h...). Without one the
	// backup takes one snapshot when created, and another on each trigger signal.
	// +kubebuilder:validation:MaxLength=128
	// +kubebuilder:validation:XValidation:rule="self.matches('^((CRON_)?TZ=[^ ]+ +)?(@(yearly|annually|monthly|weekly|daily|midnight|hourly)|@every +([0-9]+(ns|us|ms|s|m|h))+|[0-9A-Za-z*/,?-]+( +[0-9A-Za-z*/,?-]+){4})$')",message="schedule must be a cron expression with 5 fields (minute hour day-of-month month day-of-week) or a descriptor such as @daily or @every 1h"
	// +optional
	Schedule string `json:"schedule,omitempty"`
	// enabled: false pauses the backup (no snapshot is taken).
	// +kubebuilder:default=true
	// +optional
	Enabled *bool `json:"enabled,omitempty"`
	// retention bounds how many snapshots are kept.
	// +optional
	Retention *Retention `json:"retention,omitempty"`
	// parallelism is how many reads one backup keeps in flight.
	// +kubebuilder:default=16
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=256
	// +optional
	Parallelism int32 `json:"parallelism,omitempty"`
}

// ZooKeeperSnapshot is one stored snapshot as the status lists it.
type ZooKeeperSnapshot struct {
	// id of the snapshot.
	ID string `json:"id"`
	// time the walk began.
	Time metav1.Time `json:"time"`
	// nodes stored.
	Nodes int32 `json:"nodes"`
	// bytes stored.
	Bytes int64 `json:"bytes"`
	// startZxid and endZxid are the ensemble's zxid before and after the walk (hex).
	// +optional
	StartZxid string `json:"startZxid,omitempty"`
	// +optional
	EndZxid string `json:"endZxid,omitempty"`
	// consistency is consistent (nothing changed during the walk) or fuzzy (something may
	// have: every node is as it was at some moment between startZxid and endZxid).
	Consistency string `json:"consistency"`
}

// ZooKeeperBackupStatus is what the workflow reports.
type ZooKeeperBackupStatus struct {
	WorkStatus `json:",inline"`
	// phase is Paused, Initializing, Running or Error.
	// +optional
	Phase ResourceBackupPhase `json:"phase,omitempty"`
	// lastBackupTime is when the newest snapshot was taken.
	// +optional
	LastBackupTime *metav1.Time `json:"lastBackupTime,omitempty"`
	// lastSnapshot is the id of the newest snapshot.
	// +optional
	LastSnapshot string `json:"lastSnapshot,omitempty"`
	// nodes is how many nodes the newest snapshot holds.
	// +optional
	Nodes int32 `json:"nodes,omitempty"`
	// consistency of the newest snapshot.
	// +optional
	Consistency string `json:"consistency,omitempty"`
	// snapshotCount is how many snapshots are kept.
	// +optional
	SnapshotCount int32 `json:"snapshotCount,omitempty"`
	// snapshots lists the newest kept snapshots (at most 10).
	// +optional
	Snapshots []ZooKeeperSnapshot `json:"snapshots,omitempty"`
	// nextBackupTime is when the schedule takes the next snapshot.
	// +optional
	NextBackupTime *metav1.Time `json:"nextBackupTime,omitempty"`
	// warning says what the newest snapshot left out or could not vouch for.
	// +optional
	Warning string `json:"warning,omitempty"`
}

// ZooKeeperBackup snapshots a ZooKeeper tree to a Storage, once or on a schedule.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=zkb,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.nodes`
// +kubebuilder:printcolumn:name="Consistency",type=string,JSONPath=`.status.consistency`
// +kubebuilder:printcolumn:name="Last Backup",type=date,JSONPath=`.status.lastBackupTime`
// +kubebuilder:printcolumn:name="Next Run",type=date,JSONPath=`.status.nextBackupTime`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ZooKeeperBackup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ZooKeeperBackupSpec   `json:"spec"`
	Status ZooKeeperBackupStatus `json:"status,omitempty"`
}

// ZooKeeperBackupList is a list of ZooKeeperBackup.
// +kubebuilder:object:root=true
type ZooKeeperBackupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ZooKeeperBackup `json:"items"`
}

// ZNodePolicy says what a restore does with a node that exists in the target.
// +kubebuilder:validation:Enum=Skip;Overwrite;Mirror;Fail
type ZNodePolicy string

const (
	// ZNodeSkip leaves existing nodes as they are.
	ZNodeSkip ZNodePolicy = "Skip"
	// ZNodeOverwrite sets the stored data and ACL on existing nodes that differ.
	ZNodeOverwrite ZNodePolicy = "Overwrite"
	// ZNodeMirror overwrites, and deletes the nodes under the selected paths that the snapshot
	// does not hold.
	ZNodeMirror ZNodePolicy = "Mirror"
	// ZNodeFail fails the restore before anything is written when a node exists with other
	// data or ACL.
	ZNodeFail ZNodePolicy = "Fail"
)

// PathMapping restores the nodes under one path under another.
type PathMapping struct {
	// from is a path prefix in the snapshot.
	// +kubebuilder:validation:Pattern=`^(/[^/\s]+)+$`
	From string `json:"from"`
	// to is the path it is restored under.
	// +kubebuilder:validation:Pattern=`^(/[^/\s]+)+$`
	To string `json:"to"`
}

// ACLMapping rewrites one ACL identity on restore.
type ACLMapping struct {
	// scheme of the stored ACL entry (digest, ip, sasl, world...).
	// +kubebuilder:validation:MinLength=1
	Scheme string `json:"scheme"`
	// id of the stored entry (for digest: user:base64-hash).
	// +kubebuilder:validation:MinLength=1
	ID string `json:"id"`
	// toScheme is the scheme to write; empty keeps scheme.
	// +optional
	ToScheme string `json:"toScheme,omitempty"`
	// toID is the id to write.
	// +kubebuilder:validation:MinLength=1
	ToID string `json:"toID"`
}

// ZooKeeperRestoreSpec declares which nodes of a snapshot to restore, where, and how.
type ZooKeeperRestoreSpec struct {
	// source is the snapshot to restore.
	Source SchemaSnapshotSource `json:"source"`
	// ensemble is the name of the ZooKeeperEnsemble to restore into.
	// +kubebuilder:validation:MinLength=1
	Ensemble string `json:"ensemble"`
	// paths filters the snapshot's nodes (paths as stored, before mapping).
	// +optional
	Paths ZNodePaths `json:"paths,omitempty"`
	// pathMapping restores the nodes under a prefix under another (the longest matching
	// prefix wins).
	// +kubebuilder:validation:MaxItems=32
	// +optional
	PathMapping []PathMapping `json:"pathMapping,omitempty"`
	// policy for nodes that exist in the target: Skip (default), Overwrite, Mirror or Fail. A
	// node that exists with the stored data and ACL is left alone whatever the policy.
	// +kubebuilder:default=Skip
	// +optional
	Policy ZNodePolicy `json:"policy,omitempty"`
	// restoreACLs writes the stored ACLs (default); false creates nodes open to everyone
	// (world:anyone), as zkCli does without an ACL.
	// +kubebuilder:default=true
	// +optional
	RestoreACLs *bool `json:"restoreACLs,omitempty"`
	// aclMapping rewrites stored ACL identities (another digest user, another ip range).
	// +kubebuilder:validation:MaxItems=32
	// +optional
	ACLMapping []ACLMapping `json:"aclMapping,omitempty"`
	// dryRun plans and shows what would change in the status, and writes nothing.
	// +optional
	DryRun bool `json:"dryRun,omitempty"`
}

// ZooKeeperRestoreStatus is what the workflow reports.
type ZooKeeperRestoreStatus struct {
	WorkStatus `json:",inline"`
	// phase is Draft, Ready, Restoring, Done or Failed.
	// +optional
	Phase RestorePhase `json:"phase,omitempty"`
	// snapshot is the id of the snapshot restored.
	// +optional
	Snapshot string `json:"snapshot,omitempty"`
	// counts of nodes by result (updated counts overwritten nodes; deleted, nodes Mirror
	// removed; skipped includes ephemeral nodes).
	// +optional
	Counts ZNodeCounts `json:"counts,omitempty"`
	// diff is what a dry run would change, a node a line (paths only, never data).
	// +optional
	Diff []string `json:"diff,omitempty"`
	// warning says what the restore left out (ephemeral nodes) or could not vouch for (a
	// fuzzy snapshot).
	// +optional
	Warning string `json:"warning,omitempty"`
	// startTime of the restore.
	// +optional
	StartTime *metav1.Time `json:"startTime,omitempty"`
	// completionTime of the restore.
	// +optional
	CompletionTime *metav1.Time `json:"completionTime,omitempty"`
}

// ZNodeCounts counts nodes by what a restore did with them.
type ZNodeCounts struct {
	Total     int32 `json:"total"`
	Created   int32 `json:"created,omitempty"`
	Updated   int32 `json:"updated,omitempty"`
	Unchanged int32 `json:"unchanged,omitempty"`
	Skipped   int32 `json:"skipped,omitempty"`
	Deleted   int32 `json:"deleted,omitempty"`
}

// ZooKeeperRestore restores a ZooKeeper tree from a ZooKeeperBackup snapshot.
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:resource:shortName=zkr,categories=arkive
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.phase`
// +kubebuilder:printcolumn:name="Nodes",type=integer,JSONPath=`.status.counts.total`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type ZooKeeperRestore struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	Spec   ZooKeeperRestoreSpec   `json:"spec"`
	Status ZooKeeperRestoreStatus `json:"status,omitempty"`
}

// ZooKeeperRestoreList is a list of ZooKeeperRestore.
// +kubebuilder:object:root=true
type ZooKeeperRestoreList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []ZooKeeperRestore `json:"items"`
}

// Consistency of a ZooKeeper snapshot.
const (
	ConsistencyConsistent = "consistent"
	ConsistencyFuzzy      = "fuzzy"
)

func init() {
	register(&ZooKeeperEnsemble{}, &ZooKeeperEnsembleList{})
	register(&ZooKeeperBackup{}, &ZooKeeperBackupList{})
	register(&ZooKeeperRestore{}, &ZooKeeperRestoreList{})
}
