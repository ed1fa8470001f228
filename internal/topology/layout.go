// Package topology describes and (in its tests) brings up activity-core's
// production topology on one machine: a Temporal cluster on PostgreSQL, a
// three-node NATS JetStream cluster, and two replicas of each activity-core
// role sharing one PostgreSQL store. The deploy files (deploy/compose.yaml)
// are checked against this layout, so the harness and what operators deploy
// cannot drift apart.
package topology

// Process is one long-running process of the topology.
type Process struct {
	// Name is the process's name in the harness and its service name in
	// deploy/compose.yaml.
	Name string
	// Kind is "postgres", "temporal", "nats" or "activity-core".
	Kind string
	// Role is the Temporal service (frontend, history, matching, worker)
	// or the activity-core role (api, worker, router, detector); empty
	// otherwise.
	Role string
}

// Layout is every long-running process of the production topology, in
// start order. One-shot setup jobs (schema tools) are not listed.
var Layout = []Process{
	{Name: "postgres", Kind: "postgres"},
	{Name: "temporal-frontend", Kind: "temporal", Role: "frontend"},
	{Name: "temporal-history", Kind: "temporal", Role: "history"},
	{Name: "temporal-matching", Kind: "temporal", Role: "matching"},
	{Name: "temporal-worker", Kind: "temporal", Role: "worker"},
	{Name: "nats-1", Kind: "nats"},
	{Name: "nats-2", Kind: "nats"},
	{Name: "nats-3", Kind: "nats"},
	{Name: "api-1", Kind: "activity-core", Role: "api"},
	{Name: "api-2", Kind: "activity-core", Role: "api"},
	{Name: "worker-1", Kind: "activity-core", Role: "worker"},
	{Name: "worker-2", Kind: "activity-core", Role: "worker"},
	{Name: "router-1", Kind: "activity-core", Role: "router"},
	{Name: "router-2", Kind: "activity-core", Role: "router"},
	{Name: "detector-1", Kind: "activity-core", Role: "detector"},
	{Name: "detector-2", Kind: "activity-core", Role: "detector"},
}

// StreamReplicas is the JetStream stream's replica count in the topology
// (ACTIVITY_NATS_STREAM_REPLICAS): one copy per NATS node.
const StreamReplicas = 3
