package hub

import (
	"encoding/json"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskinesis"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssecretsmanager"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicehub/devicehub/internal/schema"
)

// OwnerKeyLength is the length of the generated owner policy key: 44
// alphanumeric characters are valid base64 (33 bytes), which is what the
// functions and IoT Hub's connection strings expect of a key.
const OwnerKeyLength = 44

// Owner secret JSON fields, as internal/config.OwnerSecret reads them.
const (
	ownerSecretKeyNameField = "keyName"
	ownerSecretKeyField     = "key"
)

// data creates the stream, its key, the tables and the owner secret.
func (h *Hub) data() {
	p := h.Props
	sp := &awskinesis.StreamProps{
		Encryption:      awskinesis.StreamEncryption_MANAGED,
		RetentionPeriod: awscdk.Duration_Hours(jsii.Number(p.StreamRetention.Hours())),
		RemovalPolicy:   p.RemovalPolicy,
		StreamMode:      awskinesis.StreamMode_ON_DEMAND,
	}
	if p.StreamKey == CustomerStreamKey {
		h.StreamKey = awskms.NewKey(h.Construct, jsii.String("TelemetryKey"), &awskms.KeyProps{
			Description:       jsii.String("devicehub telemetry stream encryption"),
			EnableKeyRotation: jsii.Bool(true),
			RemovalPolicy:     p.RemovalPolicy,
		})
		sp.Encryption, sp.EncryptionKey = awskinesis.StreamEncryption_KMS, h.StreamKey
	}
	if p.StreamShards > 0 {
		sp.StreamMode = awskinesis.StreamMode_PROVISIONED
		sp.ShardCount = jsii.Number(p.StreamShards)
	}
	h.Stream = awskinesis.NewStream(h.Construct, jsii.String(schema.Telemetry.ID), sp)
	if h.StreamKey != nil {
		suppressCustomerStreamKey(h.Stream)
	}

	h.Tables = map[string]awsdynamodb.Table{}
	for _, t := range schema.Tables() {
		tp := &awsdynamodb.TableProps{
			PartitionKey: attribute(t.PartitionKey),
			BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
			PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
				PointInTimeRecoveryEnabled: jsii.Bool(true),
			},
			Encryption:         awsdynamodb.TableEncryption_AWS_MANAGED,
			RemovalPolicy:      p.RemovalPolicy,
			DeletionProtection: jsii.Bool(!p.DisableDeletionProtection),
		}
		if t.SortKey != nil {
			tp.SortKey = attribute(*t.SortKey)
		}
		if t.TTLAttribute != "" {
			tp.TimeToLiveAttribute = jsii.String(t.TTLAttribute)
		}
		capacity := p.RegistryCapacity
		if t.ID != schema.Devices.ID {
			capacity = nil
		}
		if capacity != nil {
			tp.BillingMode = awsdynamodb.BillingMode_PROVISIONED
			tp.ReadCapacity = jsii.Number(capacity.MinReads)
			tp.WriteCapacity = jsii.Number(capacity.MinWrites)
		}
		table := awsdynamodb.NewTable(h.Construct, jsii.String(t.ID), tp)
		for _, ix := range t.Indexes {
			gp := &awsdynamodb.GlobalSecondaryIndexProps{
				IndexName:      jsii.String(ix.Name),
				PartitionKey:   attribute(ix.PartitionKey),
				ProjectionType: awsdynamodb.ProjectionType_ALL,
			}
			if ix.SortKey != nil {
				gp.SortKey = attribute(*ix.SortKey)
			}
			if capacity != nil {
				gp.ReadCapacity, gp.WriteCapacity = jsii.Number(capacity.MinWrites), jsii.Number(capacity.MinWrites)
			}
			table.AddGlobalSecondaryIndex(gp)
		}
		if capacity != nil {
			autoScale(table, t.Indexes, capacity)
		}
		h.Tables[t.ID] = table
	}

	tmpl, _ := json.Marshal(map[string]string{ownerSecretKeyNameField: schema.OwnerPolicyName})
	h.OwnerSecret = awssecretsmanager.NewSecret(h.Construct, jsii.String("OwnerKey"), &awssecretsmanager.SecretProps{
		Description: jsii.String("devicehub owner (" + schema.OwnerPolicyName + ") shared access policy key"),
		GenerateSecretString: &awssecretsmanager.SecretStringGenerator{
			SecretStringTemplate: jsii.String(string(tmpl)),
			GenerateStringKey:    jsii.String(ownerSecretKeyField),
			PasswordLength:       jsii.Number(OwnerKeyLength),
			ExcludePunctuation:   jsii.Bool(true),
			IncludeSpace:         jsii.Bool(false),
		},
		RemovalPolicy: p.RemovalPolicy,
	})
	cdknag.NagSuppressions_AddResourceSuppressions(h.OwnerSecret, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-SMG4"),
		Reason: jsii.String("The owner key signs every service connection string in use, as an IoT Hub policy key does; " +
			"automatic rotation would break them all. Rotate deliberately: put a new key, then hand out new connection strings."),
	}}, jsii.Bool(false))
}

// autoScale puts a provisioned table and its indexes under target-tracking
// auto scaling (RegistryCapacity says which ranges).
func autoScale(table awsdynamodb.Table, indexes []schema.Index, c *RegistryCapacity) {
	track := func(a awsdynamodb.IScalableTableAttribute) {
		a.ScaleOnUtilization(&awsdynamodb.UtilizationScalingProps{TargetUtilizationPercent: jsii.Number(c.TargetUtilization)})
	}
	reads := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(c.MinReads), MaxCapacity: jsii.Number(c.MaxReads)}
	writes := &awsdynamodb.EnableScalingProps{MinCapacity: jsii.Number(c.MinWrites), MaxCapacity: jsii.Number(c.MaxWrites)}
	track(table.AutoScaleReadCapacity(reads))
	track(table.AutoScaleWriteCapacity(writes))
	for _, ix := range indexes {
		track(table.AutoScaleGlobalSecondaryIndexReadCapacity(jsii.String(ix.Name), writes))
		track(table.AutoScaleGlobalSecondaryIndexWriteCapacity(jsii.String(ix.Name), writes))
	}
}

// suppressCustomerStreamKey: a stream under the stack's customer key is
// deliberate (cdk-nag's KDS3 asks for the aws/kinesis key).
func suppressCustomerStreamKey(s awskinesis.Stream) {
	cdknag.NagSuppressions_AddResourceSuppressions(s, &[]*cdknag.NagPackSuppression{{
		Id: jsii.String("AwsSolutions-KDS3"),
		Reason: jsii.String("A customer-managed key lets the owner grant kms:Decrypt to exactly the telemetry consumers it chooses " +
			"(the aws/kinesis key cannot be scoped per consumer); its cost is one key and its API calls."),
	}}, jsii.Bool(false))
}

func attribute(k schema.Key) *awsdynamodb.Attribute {
	types := map[schema.AttrType]awsdynamodb.AttributeType{
		schema.String: awsdynamodb.AttributeType_STRING,
		schema.Number: awsdynamodb.AttributeType_NUMBER,
		schema.Binary: awsdynamodb.AttributeType_BINARY,
	}
	return &awsdynamodb.Attribute{Name: jsii.String(k.Name), Type: types[k.Type]}
}
