package costmodel

// Tier is one step of a volume-tiered price: Price per unit for the units
// up to UpTo (cumulative over the month; 0 means no end).
type Tier struct {
	UpTo  float64
	Price float64
}

// tiered prices units along tiers.
func tiered(units float64, tiers []Tier) float64 {
	cost, done := 0.0, 0.0
	for _, t := range tiers {
		n := units - done
		if t.UpTo > 0 {
			n = min(n, t.UpTo-done)
		}
		if n <= 0 {
			break
		}
		cost += n * t.Price
		done += n
	}
	return cost
}

// IoTHubTier is one Azure IoT Hub edition: a unit's monthly price and its
// daily message quota, messages metered in MeterBytes chunks.
type IoTHubTier struct {
	Name           string
	UnitMonth      float64
	MessagesPerDay float64
	MeterBytes     int
	MaxUnits       int
}

// Prices are list prices of one region. Units are named in the field;
// a million is 1e6, a GB is 2^30 bytes, a month 730 hours.
type Prices struct {
	Region  string
	Date    string            // when the prices were read
	Sources map[string]string // where, by service

	HTTPAPIPerMillion []Tier // requests, each metered in 512 KB increments
	RESTAPIPerMillion []Tier

	LambdaRequestPerMillion float64
	LambdaGBSecondARM       []Tier // GB-seconds a month
	LambdaGBSecondX86       []Tier

	LogsIngestGB       float64 // CloudWatch Logs standard ingestion (API access logs)
	LambdaLogsGB       []Tier  // Lambda's logs: vended-log tiers by GB a month
	LogsStorageGBMonth float64 // archived, compressed

	KinesisOnDemandStreamHour float64
	KinesisOnDemandInGB       float64 // records rounded up to 1 KB each
	KinesisOnDemandOutGB      float64 // reads by a consumer
	KinesisShardHour          float64 // provisioned
	KinesisPUTUnitPerMillion  float64 // provisioned: 25 KB payload units
	KinesisExtendedShardHour  float64 // provisioned retention beyond 24 h, up to 7 days
	KinesisExtendedGBMonth    float64 // on-demand retention beyond 24 h, up to 7 days

	DynamoWRUPerMillion  float64 // on-demand write request units
	DynamoRRUPerMillion  float64 // on-demand read request units
	DynamoRCUHour        float64 // provisioned read capacity unit-hour
	DynamoWCUHour        float64 // provisioned write capacity unit-hour
	DynamoStorageGBMonth float64
	DynamoPITRGBMonth    float64

	KMSKeyMonth        float64 // a customer managed key (first year; each of the first two rotations adds as much)
	KMSRequestsPer10k  float64
	SecretMonth        float64
	AlarmMetricMonth   float64 // standard resolution, per metric an alarm evaluates
	DashboardMonth     float64
	ScheduledRuleEvent float64 // EventBridge scheduled rule invocations

	DataOutGB []Tier // to the internet

	IoTCoreMessagingPerMillion []Tier  // 5 KB increments
	IoTCoreMessageBytes        int     // the messaging meter
	IoTCoreConnectionMinuteM   float64 // per million connection-minutes
	IoTCoreRulePerMillion      float64 // rules triggered (5 KB increments)
	IoTCoreActionPerMillion    float64 // actions executed
	IoTHub                     []IoTHubTier
}

// USEast1 are the us-east-1 list prices used by `make cost`, read from the
// vendors' pricing pages on Date (see Sources). Free tiers are not applied.
func USEast1() Prices {
	return Prices{
		Region: "us-east-1",
		Date:   "2026-11-27",
		Sources: map[string]string{
			"API Gateway":     "https://aws.amazon.com/api-gateway/pricing/ (HTTP APIs $1.00/M first 300M, $0.90/M next 700M, $0.80/M over 1B; REST $3.50/M first 333M, $2.80 next 667M, $2.38 next 19B, $1.51 over 20B)",
			"Lambda":          "https://aws.amazon.com/lambda/pricing/ (requests $0.20/M; Arm $0.0000133334/GB-s first 7.5B GB-s, $0.0000120001 next 11.25B, $0.0000106667 over; x86 $0.0000166667 first 6B, $0.000015 next 9B, $0.0000133334 over)",
			"CloudWatch":      "https://aws.amazon.com/cloudwatch/pricing/ (logs $0.50/GB ingested, $0.03/GB-month archived; Lambda logs as vended logs $0.50/GB first 10 TB, $0.25 next 20 TB, $0.10 next 20 TB, $0.05 over 50 TB since 2025-05-01; alarms $0.10 per standard metric; dashboards $3.00 each)",
			"Kinesis":         "https://aws.amazon.com/kinesis/data-streams/pricing/ (on-demand $0.04/stream-hour, $0.08/GB in with records rounded up to 1 KB, $0.04/GB out; provisioned $0.015/shard-hour, $0.014 per million 25 KB PUT payload units; extended retention $0.02/shard-hour, on-demand $0.10/GB-month)",
			"DynamoDB":        "https://aws.amazon.com/dynamodb/pricing/on-demand/ ($0.625 per million write request units, $0.125 per million read request units since 2024-11-01; storage $0.25/GB-month; continuous backups $0.20/GB-month); https://aws.amazon.com/dynamodb/pricing/provisioned/ ($0.00013 per read capacity unit-hour, $0.00065 per write capacity unit-hour)",
			"KMS":             "https://aws.amazon.com/kms/pricing/ ($1/month per customer managed key, +$1 for each of the first two rotations; $0.03 per 10,000 requests)",
			"Secrets Manager": "https://aws.amazon.com/secrets-manager/pricing/ ($0.40 per secret-month)",
			"EventBridge":     "https://aws.amazon.com/eventbridge/pricing/ (events a scheduled rule generates are AWS events: no charge)",
			"Data transfer":   "https://aws.amazon.com/ec2/pricing/on-demand/#Data_Transfer ($0.09/GB out to the internet first 10 TB, $0.085 next 40 TB, $0.07 next 100 TB, $0.05 over 150 TB)",
			"AWS IoT Core":    "https://aws.amazon.com/iot-core/pricing/ (messaging $1.00/M first 1B, $0.80/M next 4B, $0.70/M over 5B, in 5 KB increments; connectivity $0.08 per million minutes; rules $0.15/M triggered, actions $0.15/M executed; Basic Ingest: no messaging charge)",
			"Azure IoT Hub":   "https://azure.microsoft.com/pricing/details/iot-hub/ (S1 $25, 400,000 messages/day; S2 $250, 6,000,000/day; S3 $2,500, 300,000,000/day, per unit-month; 4 KB metering; D2C and C2D sends count)",
		},
		HTTPAPIPerMillion:       []Tier{{300, 1.00}, {1000, 0.90}, {0, 0.80}},
		RESTAPIPerMillion:       []Tier{{333, 3.50}, {1000, 2.80}, {20000, 2.38}, {0, 1.51}},
		LambdaRequestPerMillion: 0.20,
		LambdaGBSecondARM:       []Tier{{7.5e9, 0.0000133334}, {18.75e9, 0.0000120001}, {0, 0.0000106667}},
		LambdaGBSecondX86:       []Tier{{6e9, 0.0000166667}, {15e9, 0.000015}, {0, 0.0000133334}},
		LogsIngestGB:            0.50,
		LambdaLogsGB:            []Tier{{10 << 10, 0.50}, {30 << 10, 0.25}, {50 << 10, 0.10}, {0, 0.05}},
		LogsStorageGBMonth:      0.03,

		KinesisOnDemandStreamHour: 0.04,
		KinesisOnDemandInGB:       0.08,
		KinesisOnDemandOutGB:      0.04,
		KinesisShardHour:          0.015,
		KinesisPUTUnitPerMillion:  0.014,
		KinesisExtendedShardHour:  0.02,
		KinesisExtendedGBMonth:    0.10,

		DynamoWRUPerMillion:  0.625,
		DynamoRRUPerMillion:  0.125,
		DynamoRCUHour:        0.00013,
		DynamoWCUHour:        0.00065,
		DynamoStorageGBMonth: 0.25,
		DynamoPITRGBMonth:    0.20,

		KMSKeyMonth:        1.00,
		KMSRequestsPer10k:  0.03,
		SecretMonth:        0.40,
		AlarmMetricMonth:   0.10,
		DashboardMonth:     3.00,
		ScheduledRuleEvent: 0,

		DataOutGB: []Tier{{10 << 10, 0.09}, {50 << 10, 0.085}, {150 << 10, 0.07}, {0, 0.05}},

		IoTCoreMessagingPerMillion: []Tier{{1000, 1.00}, {5000, 0.80}, {0, 0.70}},
		IoTCoreMessageBytes:        5 << 10,
		IoTCoreConnectionMinuteM:   0.08,
		IoTCoreRulePerMillion:      0.15,
		IoTCoreActionPerMillion:    0.15,
		IoTHub: []IoTHubTier{
			{Name: "S1", UnitMonth: 25, MessagesPerDay: 400_000, MeterBytes: 4 << 10, MaxUnits: 200},
			{Name: "S2", UnitMonth: 250, MessagesPerDay: 6_000_000, MeterBytes: 4 << 10, MaxUnits: 200},
			{Name: "S3", UnitMonth: 2500, MessagesPerDay: 300_000_000, MeterBytes: 4 << 10, MaxUnits: 10},
		},
	}
}
