package status

// Phases of the backup kinds. KafkaBackup uses Draft, Ready, Streaming, Paused, Failed and
// Completed; SchemaRegistryBackup uses Paused, Initializing, Running and Error.
const (
	Draft        = "Draft"
	Ready        = "Ready"
	Streaming    = "Streaming"
	Paused       = "Paused"
	Failed       = "Failed"
	Completed    = "Completed"
	Initializing = "Initializing"
	Running      = "Running"
	Error        = "Error"
)

// Phases of every restore kind (Draft, Ready, Failed above, and these).
const (
	Restoring = "Restoring"
	Done      = "Done"
)

// Reasons a workflow gives with its phase (the status query's reason).
const (
	PausedBySignal     = "PausedBySignal"     // a pause signal; resume continues
	PausedBySpec       = "PausedBySpec"       // spec.enabled is false
	Retrying           = "Retrying"           // a passing cause; the workflow tries again
	NoStreams          = "NoStreams"          // a KafkaBackup without streams (Draft)
	AllStreamsDisabled = "AllStreamsDisabled" // every stream has enabled: false
	NoMatchingTopics   = "NoMatchingTopics"   // the streams match no topic yet
	WaitingForSchedule = "WaitingForSchedule" // a scheduled backup between runs
	WaitingForTrigger  = "WaitingForTrigger"  // a backup without a schedule (or mode Once), after its snapshot
	PartiallyFailed    = "PartiallyFailed"    // a restore wrote what it could; some objects failed
	ScheduledRun       = "ScheduledRun"       // a run (on schedule, on trigger, or a Once backup's) is capturing
	DryRun             = "DryRun"             // a restore that only planned
	Unchanged          = "Unchanged"          // the target already held the snapshot
	Released           = "Released"           // a run that only released what a terminated restore kept in the storage
)

// Outcomes of a scheduled backup run (status.runs[].outcome).
const (
	RunRunning   = "Running"
	RunSucceeded = "Succeeded"
	RunFailed    = "Failed"
	RunPaused    = "Paused" // a pause signal stopped the run before it reached its end
)
