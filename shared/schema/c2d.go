package schema

// Cloud-to-device queue attributes and indexes.
const (
	C2DSortKey      = "sk"         // message key within a device's partition
	C2DSweepShard   = "sweepShard" // spreads the sweeper index over many partitions
	C2DSweepAt      = "sweepAt"    // when the sweeper must next look at the item
	C2DSweepIndex   = "bySweep"
	C2DMessageID    = "messageId"
	C2DMessageIndex = "byMessageId"
	FeedbackShard   = "shard"
	FeedbackSortKey = "sk"
)

// C2D holds every device's queue: one partition per device.
var C2D = Table{
	ID:           "C2D",
	DefaultName:  "devicehub-c2d",
	EnvVar:       EnvC2DTable,
	PartitionKey: Key{Name: DeviceID, Type: String},
	SortKey:      &Key{Name: C2DSortKey, Type: String},
	Indexes: []Index{
		{Name: C2DSweepIndex, PartitionKey: Key{Name: C2DSweepShard, Type: String}, SortKey: &Key{Name: C2DSweepAt, Type: String}},
		{Name: C2DMessageIndex, PartitionKey: Key{Name: C2DMessageID, Type: String}},
	},
	TTLAttribute: TTLAttribute,
}

// Feedback holds delivery feedback records, spread over shards.
var Feedback = Table{
	ID:           "Feedback",
	DefaultName:  "devicehub-feedback",
	EnvVar:       EnvFeedbackTable,
	PartitionKey: Key{Name: FeedbackShard, Type: String},
	SortKey:      &Key{Name: FeedbackSortKey, Type: String},
	TTLAttribute: TTLAttribute,
}
