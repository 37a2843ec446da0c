package schema

// Message routing (shared/routing defines routes; internal/router runs them).
//
// Routing table, partition key "pk", sort key "sk":
//
//	pk "count"          sk "<route>#<endpoint>"  delivered / dead-lettered
//	                    counters of one route and endpoint (atomic ADD); one
//	                    partition, so one Query reads them all without the
//	                    definition (the service function has none)
//	pk "dead#<route>"   sk "<time>#<seq>#<endpoint>"  one dead letter: the
//	                    routed message, the endpoint and the reason; <time>
//	                    is the record's arrival, so a retried batch writes
//	                    the same item; expires after RoutingDeadLetterDays
//
// Devices table, lifecycle events (IoT Hub's deviceLifecycleNotification):
// a registry write that owes an event carries it on the device item (or on a
// tombstone item for a delete) with DevicePendingShard/DevicePendingAt set,
// which puts the item in the sparse byPendingEvent index until the event is
// on the telemetry stream; the sweeper finishes what a crash left there.
const (
	RoutingPartition = "pk"
	RoutingSortKey   = "sk"

	DevicePendingShard = "pendingShard" // S: present only while an event is owed
	DevicePendingAt    = "pendingAt"    // N: epoch ms of the oldest owed event
	DevicePendingIndex = "byPendingEvent"

	// RoutingDeadLetterDays is how long dead letters are kept.
	RoutingDeadLetterDays = 14
)

// Environment variables of routing.
const (
	// EnvRoutes is the routing definition (shared/routing JSON) with every
	// endpoint resolved to its resource; empty when the hub has no routes.
	EnvRoutes = "DEVICEHUB_ROUTES"
	// EnvRoutingTable names the Routing table.
	EnvRoutingTable = "DEVICEHUB_ROUTING_TABLE"
	// EnvHubName is the hub's name: $iothubname in enrichments and hubName
	// in lifecycle events. Default: the first label of the hub host.
	EnvHubName = "DEVICEHUB_HUB_NAME"
	// EnvLifecycleEvents is "1" when a route has the DeviceLifecycleEvents
	// source: only then does the registry write lifecycle events.
	EnvLifecycleEvents = "DEVICEHUB_LIFECYCLE_EVENTS"
)

// Routing holds per-route counters and dead letters.
var Routing = Table{
	ID:           "Routing",
	DefaultName:  "devicehub-routing",
	EnvVar:       EnvRoutingTable,
	PartitionKey: Key{Name: RoutingPartition, Type: String},
	SortKey:      &Key{Name: RoutingSortKey, Type: String},
	TTLAttribute: TTLAttribute,
}
