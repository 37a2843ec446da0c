package schema

// Cloud-to-device queue design (internal/c2d holds the state machine).
//
// C2D table, one partition per device (partition key deviceId):
//
//	sk "q"          queue head: last sequence number, admission limit, the
//	                lowest sequence number that may be pending. Every send
//	                writes it, so it is in no index.
//	sk "w"          sweep marker, present while the device may hold pending
//	                messages: sweepShard/sweepAt put it in the bySweep index.
//	                Written only when the next sweep must come earlier.
//	sk "m#<seq>"    one message's state (small, < 1 KB): lock, delivery
//	                count, expiry, outcome. Settled messages stay in place
//	                until their TTL as the record that status look-ups and
//	                dead-letter lists read. While a settled message has
//	                feedback nobody has consumed yet, it carries
//	                fbShard/fbKey, which put it in the byFeedback index: the
//	                settle and its feedback are one write.
//	sk "r#<seq>"    the message body, written once, never updated.
//
// Both indexes are sparse and sharded by a hash of the device id
// (C2DShards partitions each), so no partition key is written by every
// device.
const (
	C2DSortKey       = "sk"
	C2DSweepShard    = "sweepShard" // S: shard of the bySweep index
	C2DSweepAt       = "sweepAt"    // N: epoch ms when the sweeper must look at the device
	C2DSweepIndex    = "bySweep"
	C2DFeedbackShard = "fbShard" // S: shard of the byFeedback index
	C2DFeedbackKey   = "fbKey"   // S: settle time, device and sequence number; orders a shard
	C2DFeedbackIndex = "byFeedback"

	// C2DShards is the number of partitions of each index. Readers (the
	// sweeper, the feedback reader) query every shard, so changing it needs a
	// migration: it is a constant, not a setting.
	C2DShards = 8

	// Feedback table: the feedback queue's leases, one item per shard of
	// byFeedback under one partition. Only feedback readers write it (a
	// claim and a release per batch), never devices.
	FeedbackPartition = "pk"
	FeedbackSortKey   = "sk"
)

// C2D holds every device's queue: one partition per device.
var C2D = Table{
	ID:           "C2D",
	DefaultName:  "devicehub-c2d",
	EnvVar:       EnvC2DTable,
	PartitionKey: Key{Name: DeviceID, Type: String},
	SortKey:      &Key{Name: C2DSortKey, Type: String},
	Indexes: []Index{
		{Name: C2DSweepIndex, PartitionKey: Key{Name: C2DSweepShard, Type: String}, SortKey: &Key{Name: C2DSweepAt, Type: Number}},
		{Name: C2DFeedbackIndex, PartitionKey: Key{Name: C2DFeedbackShard, Type: String}, SortKey: &Key{Name: C2DFeedbackKey, Type: String}},
	},
	TTLAttribute: TTLAttribute,
}

// Feedback holds the feedback queue's shard leases.
var Feedback = Table{
	ID:           "Feedback",
	DefaultName:  "devicehub-feedback",
	EnvVar:       EnvFeedbackTable,
	PartitionKey: Key{Name: FeedbackPartition, Type: String},
	SortKey:      &Key{Name: FeedbackSortKey, Type: String},
	TTLAttribute: TTLAttribute,
}
