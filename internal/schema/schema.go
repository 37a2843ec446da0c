// Package schema is the single source of truth for every name devicehub shares
// between the CDK stack, the Lambda functions and local mode: tables, keys,
// attributes, indexes, streams and environment variables.
package schema

// Environment variable names read by the functions, the CLI and local mode.
const (
	EnvHubHost        = "DEVICEHUB_HOST"              // host name devices put in their SAS resource (sr)
	EnvStreamName     = "DEVICEHUB_STREAM_NAME"       // Kinesis stream for device-to-cloud telemetry
	EnvDevicesTable   = "DEVICEHUB_DEVICES_TABLE"     // device registry table
	EnvC2DTable       = "DEVICEHUB_C2D_TABLE"         // cloud-to-device queue table
	EnvFeedbackTable  = "DEVICEHUB_FEEDBACK_TABLE"    // delivery feedback table
	EnvOwnerKeyName   = "DEVICEHUB_OWNER_KEY_NAME"    // shared access policy name (default iothubowner)
	EnvOwnerKey       = "DEVICEHUB_OWNER_KEY"         // policy key, base64 (local mode)
	EnvOwnerSecretARN = "DEVICEHUB_OWNER_SECRET_ARN"  // Secrets Manager secret holding the policy key (AWS)
	EnvC2DDefaultTTL  = "DEVICEHUB_C2D_DEFAULT_TTL"   // Go duration, 1m..48h, default 1h
	EnvC2DMaxDelivery = "DEVICEHUB_C2D_MAX_DELIVERY"  // 1..100, default 10
	EnvC2DMaxQueue    = "DEVICEHUB_C2D_MAX_QUEUE"     // queue depth per device, 1..5000, default 50
	EnvFeedbackTTL    = "DEVICEHUB_FEEDBACK_TTL"      // Go duration, how long feedback is retained
	EnvAuthCacheSize  = "DEVICEHUB_AUTH_CACHE_SIZE"   // devices whose keys a warm function caches
	EnvEventFormat    = "DEVICEHUB_EVENT_FORMAT"      // the API Gateway payload version the function receives: 1.0 or 2.0
	EnvRecordVersion  = "DEVICEHUB_RECORD_VERSION"    // the telemetry record envelope written: 1 or 2 (default, compact)
	EnvRequestTimeout = "DEVICEHUB_REQUEST_TIMEOUT"   // Go duration, a request's deadline when Lambda sets none (local)
	EnvAuthCacheTTL   = "DEVICEHUB_AUTH_CACHE_TTL"    // Go duration, how long a warm function trusts a cached device
	EnvLogLevel       = "DEVICEHUB_LOG_LEVEL"         // debug, info, warn, error
	EnvStateFile      = "DEVICEHUB_STATE_FILE"        // local mode: where `make run` writes URLs and secrets
	EnvHubURL         = "DEVICEHUB_URL"               // CLI: base URL of the hub's HTTP API
	EnvConnString     = "DEVICEHUB_CONNECTION_STRING" // CLI: owner (service) connection string
	EnvTLSCA          = "DEVICEHUB_TLS_CA"            // CLI: PEM file of the CA the hub's TLS certificate chains to
	// The device-facing function's front door: empty for API Gateway,
	// "alb-mtls" for the function behind the mutual-TLS load balancer, which
	// alone reads the client certificate header (named by
	// EnvClientCertHeader, default X-Amzn-Mtls-Clientcert).
	EnvFrontDoor        = "DEVICEHUB_FRONT_DOOR"
	EnvClientCertHeader = "DEVICEHUB_CLIENT_CERT_HEADER"
)

// FrontDoorALB is the EnvFrontDoor value of the function behind the
// mutual-TLS load balancer.
const FrontDoorALB = "alb-mtls"

// OwnerPolicyName is the default hub-level shared access policy, as in IoT Hub.
const OwnerPolicyName = "iothubowner"

// TTLAttribute is the DynamoDB time-to-live attribute (epoch seconds) on every
// item that expires. Correctness never depends on DynamoDB deleting it.
const TTLAttribute = "ttl"

// AttrType is a DynamoDB scalar key type.
type AttrType string

// Key attribute types.
const (
	String AttrType = "S"
	Number AttrType = "N"
	Binary AttrType = "B"
)

// Key is one key attribute.
type Key struct {
	Name string
	Type AttrType
}

// Index is a global secondary index; all indexes project ALL attributes.
type Index struct {
	Name         string
	PartitionKey Key
	SortKey      *Key
}

// Table describes one DynamoDB table for both the CDK stack and
// internal/provision (local mode and tests).
type Table struct {
	ID           string // construct id and logical name, e.g. "Devices"
	DefaultName  string // physical name in local mode
	EnvVar       string // variable that carries the physical name into functions
	PartitionKey Key
	SortKey      *Key
	Indexes      []Index
	TTLAttribute string // empty when items never expire
}

// Stream describes the telemetry stream.
type Stream struct {
	ID          string
	DefaultName string
	EnvVar      string
}

// Telemetry is the device-to-cloud Kinesis stream.
var Telemetry = Stream{ID: "Telemetry", DefaultName: "devicehub-telemetry", EnvVar: EnvStreamName}

// Device registry attributes.
const (
	DeviceID = "deviceId"
)

// Devices is the registry table: one item per device, keyed by device id, so
// no partition is shared by all devices.
var Devices = Table{
	ID:           "Devices",
	DefaultName:  "devicehub-devices",
	EnvVar:       EnvDevicesTable,
	PartitionKey: Key{Name: DeviceID, Type: String},
	Indexes: []Index{
		{Name: DevicePendingIndex, PartitionKey: Key{Name: DevicePendingShard, Type: String}, SortKey: &Key{Name: DevicePendingAt, Type: Number}},
	},
}

// Tables lists every table the hub uses, in creation order.
func Tables() []Table { return []Table{Devices, C2D, Feedback, Routing} }
