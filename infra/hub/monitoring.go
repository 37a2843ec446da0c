package hub

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssnssubscriptions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/devicehub/devicehub/internal/schema"
)

// sweepSchedule runs the sweeper every Props.SweepRate. A missed run is not
// retried: the next one does the same work (the sweeper's async invoke
// configuration, in functions, says the same to Lambda).
func (h *Hub) sweepSchedule() {
	awsevents.NewRule(h.Construct, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("devicehub: run the C2D sweeper"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(h.Props.SweepRate.Minutes()))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(h.Functions[Sweeper], &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
		})},
	})
}

var (
	oneMinute   = awscdk.Duration_Minutes(jsii.Number(1))
	fiveMinutes = awscdk.Duration_Minutes(jsii.Number(5))
)

// alarmSpec is one alarm: when metric crosses threshold (op) in datapoints
// of the last periods periods.
type alarmSpec struct {
	id, reason          string
	metric              awscloudwatch.IMetric
	op                  awscloudwatch.ComparisonOperator
	threshold           float64
	periods, datapoints int
	missing             awscloudwatch.TreatMissingData
}

// monitoring creates the alarm topic (unless one is given), the alarms,
// each notifying the topic when it fires and when it clears, and the
// dashboard. README "Alarms" gives each alarm's reason.
func (h *Hub) monitoring() {
	h.alarmTopic()
	p := h.Props
	sum := func(period awscdk.Duration) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: period}
	}
	// Quiet hours publish no data: not a failure, except for the heartbeat.
	atLeast := func(id, reason string, m awscloudwatch.IMetric, threshold float64, periods, datapoints int) alarmSpec {
		return alarmSpec{id: id, reason: reason, metric: m, op: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			threshold: threshold, periods: periods, datapoints: datapoints, missing: awscloudwatch.TreatMissingData_NOT_BREACHING}
	}
	pct := fmt.Sprintf("%g%%", p.Alarms.ErrorRate)
	api := h.apiMetrics
	specs := []alarmSpec{
		atLeast("Api5xxRate", "API 5xx responses ≥ "+pct+" of requests over 5 minutes",
			failureRate("5xx %", api.serverErrors.With(sum(fiveMinutes)), api.count.With(sum(fiveMinutes)), true), p.Alarms.ErrorRate, 1, 1),
	}
	for _, name := range h.functionNames() {
		fn := h.Functions[name]
		inv := fn.MetricInvocations(sum(fiveMinutes))
		specs = append(specs,
			atLeast(title(name)+"ErrorRate", name+" function errors ≥ "+pct+" of invocations over 5 minutes",
				failureRate(name+" errors %", fn.MetricErrors(sum(fiveMinutes)), inv, true), p.Alarms.ErrorRate, 1, 1),
			// Invocations leave out throttled requests.
			atLeast(title(name)+"ThrottleRate", name+" function throttles ≥ "+pct+" of invocation attempts over 5 minutes",
				failureRate(name+" throttles %", fn.MetricThrottles(sum(fiveMinutes)), inv, false), p.Alarms.ErrorRate, 1, 1),
		)
	}
	// Each route group is served by one function, so the function's
	// duration is the group's latency less API Gateway's own few
	// milliseconds; per-route API metrics would be billed custom metrics.
	for name, group := range map[string]struct {
		id  string
		p99 time.Duration
	}{Ingress: {"DeviceLatencyP99", p.Alarms.DeviceP99}, Service: {"ServiceLatencyP99", p.Alarms.ServiceP99}} {
		d := h.Functions[name].MetricDuration(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: fiveMinutes})
		specs = append(specs, atLeast(group.id, fmt.Sprintf("%s routes' p99 latency (%s function duration) ≥ %s for 15 minutes", routeGroup(name), name, group.p99),
			d, float64(group.p99.Milliseconds()), 3, 3))
	}
	if p.API == FunctionURL {
		// The device routes bypass the API: the function URL's own metrics.
		specs = append(specs, atLeast("DeviceUrl5xxRate", "device URL 5xx responses ≥ "+pct+" of requests over 5 minutes",
			failureRate("device URL 5xx %", h.urlMetric("Url5xxCount", sum(fiveMinutes)), h.urlMetric("UrlRequestCount", sum(fiveMinutes)), true),
			p.Alarms.ErrorRate, 1, 1))
	}
	if p.StreamShards > 0 {
		specs = append(specs, h.streamCapacity())
	}
	specs = append(specs, h.heartbeat(),
		atLeast("StreamWriteThrottleRate", "telemetry stream write throttling (WriteProvisionedThroughputExceeded) ≥ "+pct+" of records over 5 minutes",
			failureRate("throttled records %", h.Stream.MetricWriteProvisionedThroughputExceeded(sum(fiveMinutes)),
				h.Stream.MetricIncomingRecords(sum(fiveMinutes)), false), p.Alarms.ErrorRate, 1, 1))
	// DynamoDB gives no request count per table to divide by; throttling
	// that the SDK's retries did not absorb persists: at least one
	// throttled request a minute in 3 of 5 minutes.
	if rr := h.Routing; rr != nil {
		specs = append(specs, h.readerAlarms("Router", "router", rr.Function, rr.OnFailure)...)
	}
	for _, t := range h.watchedTables() {
		table := h.Tables[t.ID]
		dims := map[string]*string{"TableName": table.TableName()}
		specs = append(specs, atLeast(t.ID+"Throttles", t.ID+" table read or write throttling in 3 of 5 minutes",
			throttleEvents(t.ID+" throttled", "", dims), 1, 5, 3))
		for _, ix := range t.Indexes {
			dims := map[string]*string{"TableName": table.TableName(), "GlobalSecondaryIndexName": jsii.String(ix.Name)}
			specs = append(specs, atLeast(t.ID+title(ix.Name)+"Throttles", t.ID+" index "+ix.Name+" read or write throttling in 3 of 5 minutes",
				throttleEvents(t.ID+" "+ix.Name+" throttled", "", dims), 1, 5, 3))
		}
	}
	h.Alarms = append(h.Alarms, h.addAlarms(h.Construct, specs)...)
	if !p.DisableDashboard {
		h.dashboard()
	}
}

// addAlarms creates the alarms of specs under scope, each notifying the
// alarm topic when it fires and when it clears.
func (h *Hub) addAlarms(scope constructs.Construct, specs []alarmSpec) []awscloudwatch.Alarm {
	action := awscloudwatchactions.NewSnsAction(h.AlarmTopic)
	var out []awscloudwatch.Alarm
	for _, s := range specs {
		a := awscloudwatch.NewAlarm(scope, jsii.String(s.id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("devicehub: " + s.reason),
			Metric:             s.metric,
			Threshold:          jsii.Number(s.threshold),
			ComparisonOperator: s.op,
			EvaluationPeriods:  jsii.Number(s.periods),
			DatapointsToAlarm:  jsii.Number(s.datapoints),
			TreatMissingData:   s.missing,
		})
		a.AddAlarmAction(action)
		a.AddOkAction(action)
		out = append(out, a)
	}
	return out
}

// functionNames are the hub's functions: Functions(), and the router with
// routes.
func (h *Hub) functionNames() []string {
	if h.Routing != nil {
		return append(Functions(), Router)
	}
	return Functions()
}

// watchedTables are the tables and indexes the alarms and the dashboard
// watch: those the hub's configuration writes. Only the router writes the
// Routing table, and only lifecycle routes the Devices table's
// byPendingEvent index; unwritten, they cannot throttle, and every watched
// metric is billed.
func (h *Hub) watchedTables() []schema.Table {
	routed := h.Routing != nil
	lifecycle := routed && h.Props.Routing.Definition.HasLifecycleRoutes()
	var out []schema.Table
	for _, t := range schema.Tables() {
		if t.ID == schema.Routing.ID && !routed {
			continue
		}
		t.Indexes = slices.DeleteFunc(slices.Clone(t.Indexes), func(ix schema.Index) bool {
			return t.ID == schema.Devices.ID && ix.Name == schema.DevicePendingIndex && !lifecycle
		})
		out = append(out, t)
	}
	return out
}

// readerAlarms watch a function reading a stream: its lag (IteratorAge,
// the age of the last record of each batch when it was read) and the
// batches it gave up on (messages in its on-failure queue). prefix starts
// the alarms' ids.
func (h *Hub) readerAlarms(prefix, what string, fn awslambda.IFunction, onFailure awssqs.IQueue) []alarmSpec {
	lag := h.Props.Alarms.RouterLag
	return []alarmSpec{
		{id: prefix + "IteratorAge", reason: fmt.Sprintf("%s lags: records read %s or more after they arrived, in 2 of 3 five-minute periods", what, lag),
			metric: iteratorAge(fn), op: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			threshold: float64(lag.Milliseconds()), periods: 3, datapoints: 2, missing: awscloudwatch.TreatMissingData_NOT_BREACHING},
		{id: prefix + "FailedBatches", reason: what + " gave up on a batch: its shard and sequence numbers are in the on-failure queue, to replay before the stream's retention ends",
			metric: onFailure.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes}),
			op:     awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, threshold: 1, periods: 1, datapoints: 1,
			missing: awscloudwatch.TreatMissingData_NOT_BREACHING},
	}
}

// iteratorAge is Lambda's IteratorAge of a stream-reading function, the
// maximum over five minutes.
func iteratorAge(fn awslambda.IFunction) awscloudwatch.IMetric {
	return fn.Metric(jsii.String("IteratorAge"), &awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes})
}

// readerWidgets graph a stream reader's lag and failed batches.
func (h *Hub) readerWidgets(title string, fn awslambda.IFunction, onFailure awssqs.IQueue) []awscloudwatch.IWidget {
	return []awscloudwatch.IWidget{
		graph(title+" iterator age (ms, max)", iteratorAge(fn)),
		graph(title+" batches given up on", onFailure.MetricApproximateNumberOfMessagesVisible(&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes})),
	}
}

// graph is a dashboard graph of a quarter row.
func graph(title string, ms ...awscloudwatch.IMetric) awscloudwatch.IWidget {
	return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
		Title: jsii.String(title), Left: &ms, Width: jsii.Number(6),
	})
}

// StreamCapacityPercent is the share of a provisioned stream's write
// capacity (1 MB/s and 1,000 records/s per shard, whichever is nearer)
// above which the StreamCapacity alarm fires.
const StreamCapacityPercent = 80

// Kinesis's write limits per shard.
const (
	shardBytesPerSecond   = 1 << 20
	shardRecordsPerSecond = 1000
)

// streamCapacity fires when a provisioned stream's writes reach
// StreamCapacityPercent of its shards' limits, averaged over each minute
// in 5 consecutive minutes: time to add shards before writes are throttled
// (a hot shard throttles earlier; StreamWriteThrottleRate catches that).
func (h *Hub) streamCapacity() alarmSpec {
	opts := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: oneMinute}
	shards := float64(h.Props.StreamShards)
	use := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		// Plain decimals: metric math reads the e of 6.3e+07 as an identifier.
		Expression: jsii.String(fmt.Sprintf("100 * MAX([FILL(bytes, 0) / %s, FILL(records, 0) / %s])",
			decimal(60*shards*shardBytesPerSecond), decimal(60*shards*shardRecordsPerSecond))),
		Label:  jsii.String("stream write capacity used %"),
		Period: oneMinute,
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"bytes": h.Stream.MetricIncomingBytes(opts), "records": h.Stream.MetricIncomingRecords(opts),
		},
	})
	return alarmSpec{id: "StreamCapacity",
		reason: fmt.Sprintf("telemetry writes ≥ %d%% of the %d provisioned shards' capacity (1 MB/s and 1,000 records/s each) for 5 minutes: add shards",
			StreamCapacityPercent, h.Props.StreamShards),
		metric: use, op: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD, threshold: StreamCapacityPercent,
		periods: 5, datapoints: 5, missing: awscloudwatch.TreatMissingData_NOT_BREACHING}
}

// decimal formats v without an exponent.
func decimal(v float64) string { return strconv.FormatFloat(v, 'f', -1, 64) }

// urlMetric is one of Lambda's function URL metrics of the ingress function.
func (h *Hub) urlMetric(name string, opts *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/Lambda"), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{"FunctionName": h.Functions[Ingress].FunctionName()},
		Statistic:     opts.Statistic, Period: opts.Period,
	})
}

// heartbeat fires when no sweep succeeded in a window of at least five
// minutes and two sweep periods. No data at all (the schedule or the
// function is gone) is the failure it exists for.
func (h *Hub) heartbeat() alarmSpec {
	d := max(5*time.Minute, 2*h.Props.SweepRate)
	window := awscdk.Duration_Minutes(jsii.Number(d.Minutes()))
	fn := h.Functions[Sweeper]
	opts := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: window}
	ok := awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression: jsii.String("inv - FILL(err, 0)"),
		Label:      jsii.String("successful sweeps"),
		Period:     window,
		UsingMetrics: &map[string]awscloudwatch.IMetric{
			"inv": fn.MetricInvocations(opts),
			"err": fn.MetricErrors(opts),
		},
	})
	return alarmSpec{id: "SweeperHeartbeat", reason: fmt.Sprintf("no successful sweep in %g minutes: C2D messages are not expiring", d.Minutes()),
		metric: ok, op: awscloudwatch.ComparisonOperator_LESS_THAN_THRESHOLD, threshold: 1, periods: 1, datapoints: 1,
		missing: awscloudwatch.TreatMissingData_BREACHING}
}

// failureRate is failed as a percentage of total (or of failed + total when
// total leaves the failures out), per period; 0 without traffic.
func failureRate(label string, failed, total awscloudwatch.IMetric, totalIncludesFailed bool) awscloudwatch.IMetric {
	whole := "FILL(total, 0)"
	if !totalIncludesFailed {
		whole = "(FILL(failed, 0) + FILL(total, 0))"
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf("IF(%[1]s > 0, 100 * FILL(failed, 0) / %[1]s, 0)", whole)),
		Label:        jsii.String(label),
		Period:       fiveMinutes,
		UsingMetrics: &map[string]awscloudwatch.IMetric{"failed": failed, "total": total},
	})
}

// throttleEvents is a table's or index's read plus write throttle events a
// minute. DynamoDB publishes them only while throttling. The metrics' ids
// end in suffix: a graph of several must not repeat one.
func throttleEvents(label, suffix string, dims map[string]*string) awscloudwatch.IMetric {
	metric := func(name string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/DynamoDB"), MetricName: jsii.String(name), DimensionsMap: &dims,
			Statistic: jsii.String("Sum"), Period: oneMinute,
		})
	}
	return awscloudwatch.NewMathExpression(&awscloudwatch.MathExpressionProps{
		Expression:   jsii.String(fmt.Sprintf("FILL(r%[1]s, 0) + FILL(w%[1]s, 0)", suffix)),
		Label:        jsii.String(label),
		Period:       oneMinute,
		UsingMetrics: &map[string]awscloudwatch.IMetric{"r" + suffix: metric("ReadThrottleEvents"), "w" + suffix: metric("WriteThrottleEvents")},
	})
}

func routeGroup(function string) string {
	if function == Ingress {
		return "device"
	}
	return "service"
}

// alarmTopic sets h.AlarmTopic: the given topic, or a new one, and
// subscribes Props.AlarmEmails to it.
func (h *Hub) alarmTopic() {
	p := h.Props
	switch {
	case p.AlarmTopic != nil:
		h.AlarmTopic = p.AlarmTopic
	case p.AlarmTopicARN != "":
		h.AlarmTopic = awssns.Topic_FromTopicArn(h.Construct, jsii.String("AlarmTopic"), jsii.String(p.AlarmTopicARN))
	default:
		t := awssns.NewTopic(h.Construct, jsii.String("AlarmTopic"), &awssns.TopicProps{
			DisplayName: jsii.String("devicehub alarms"),
			EnforceSSL:  jsii.Bool(true),
		})
		cdknag.NagSuppressions_AddResourceSuppressions(t, &[]*cdknag.NagPackSuppression{{
			Id: jsii.String("AwsSolutions-SNS2"),
			Reason: jsii.String("Alarm notifications carry alarm names and metric values, no device data. Server-side encryption would need a " +
				"customer-managed key whose policy admits CloudWatch (alarms cannot publish with the aws/sns key); a deployment that wants it " +
				"passes its own encrypted topic as AlarmTopic."),
		}}, jsii.Bool(false))
		h.AlarmTopic = t
	}
	for _, email := range p.AlarmEmails {
		h.AlarmTopic.AddSubscription(awssnssubscriptions.NewEmailSubscription(jsii.String(email), nil))
	}
}

// dashboard shows the alarms' state and the signals behind them.
func (h *Hub) dashboard() {
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}
	p99 := func(label string) *awscloudwatch.MetricOptions {
		return &awscloudwatch.MetricOptions{Label: jsii.String(label), Statistic: jsii.String("p99"), Period: fiveMinutes}
	}
	var invocations, errs, throttles, durations []awscloudwatch.IMetric
	for _, name := range h.functionNames() {
		fn := h.Functions[name]
		label := &awscloudwatch.MetricOptions{Label: jsii.String(name), Statistic: jsii.String("Sum"), Period: fiveMinutes}
		invocations = append(invocations, fn.MetricInvocations(label))
		errs = append(errs, fn.MetricErrors(label))
		throttles = append(throttles, fn.MetricThrottles(label))
		durations = append(durations, fn.MetricDuration(p99(name)))
	}
	var dynamo []awscloudwatch.IMetric
	for _, t := range h.watchedTables() {
		table := h.Tables[t.ID].TableName()
		dynamo = append(dynamo, throttleEvents(t.ID, strconv.Itoa(len(dynamo)), map[string]*string{"TableName": table}))
		for _, ix := range t.Indexes {
			dims := map[string]*string{"TableName": table, "GlobalSecondaryIndexName": jsii.String(ix.Name)}
			dynamo = append(dynamo, throttleEvents(t.ID+" "+ix.Name, strconv.Itoa(len(dynamo)), dims))
		}
	}
	api := h.apiMetrics
	alarms := make([]interfacesawscloudwatch.IAlarmRef, len(h.Alarms))
	for i, a := range h.Alarms {
		alarms[i] = a
	}
	rows := []*[]awscloudwatch.IWidget{
		{awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{Title: jsii.String("Alarms"), Alarms: &alarms, Width: jsii.Number(24)})},
		{
			graph("API requests", api.count.With(sum)),
			graph("API 4xx", api.clientErrors.With(sum)),
			graph("API 5xx", api.serverErrors.With(sum)),
			graph("API latency p99", api.latency.With(p99("p99"))),
		},
	}
	if h.Props.API == FunctionURL {
		rows = append(rows, &[]awscloudwatch.IWidget{
			graph("Device URL requests", h.urlMetric("UrlRequestCount", sum)),
			graph("Device URL 4xx", h.urlMetric("Url4xxCount", sum)),
			graph("Device URL 5xx", h.urlMetric("Url5xxCount", sum)),
			graph("Device URL latency p99", h.urlMetric("UrlRequestLatency", p99("p99"))),
		})
	}
	telemetry := []awscloudwatch.IWidget{
		graph("Telemetry records in", h.Stream.MetricIncomingRecords(sum)),
		graph("Telemetry throttled records", h.Stream.MetricWriteProvisionedThroughputExceeded(sum)),
		graph("DynamoDB throttled requests a minute", dynamo...),
	}
	if h.Props.StreamShards > 0 {
		telemetry = append(telemetry, graph("Telemetry bytes in", h.Stream.MetricIncomingBytes(sum)))
	}
	rows = append(rows,
		&[]awscloudwatch.IWidget{
			graph("Function invocations", invocations...),
			graph("Function errors", errs...),
			graph("Function throttles", throttles...),
			graph("Function duration p99", durations...),
		},
		&telemetry,
	)
	if rr := h.Routing; rr != nil {
		routing := append(h.readerWidgets("Router", rr.Function, rr.OnFailure),
			graph("Telemetry read iterator age (ms, max; polling readers)", h.Stream.MetricGetRecordsIteratorAgeMilliseconds(
				&awscloudwatch.MetricOptions{Statistic: jsii.String("Maximum"), Period: fiveMinutes})))
		rows = append(rows, &routing)
	}
	h.Dashboard = awscloudwatch.NewDashboard(h.Construct, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{Widgets: &rows})
}
