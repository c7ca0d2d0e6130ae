package schemabackup

import "go.temporal.io/sdk/workflow"

var workflowOptions = workflow.RegisterOptions{Name: WorkflowName}
