package hub

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awseventstargets"
	"github.com/aws/jsii-runtime-go"
)

// sweepSchedule runs the sweeper every Props.SweepRate. A missed run is not
// retried: the next one does the same work.
func (h *Hub) sweepSchedule() {
	awsevents.NewRule(h.Construct, jsii.String("SweepSchedule"), &awsevents.RuleProps{
		Description: jsii.String("devicehub: run the C2D sweeper"),
		Schedule:    awsevents.Schedule_Rate(awscdk.Duration_Minutes(jsii.Number(h.Props.SweepRate.Minutes()))),
		Targets: &[]awsevents.IRuleTarget{awseventstargets.NewLambdaFunction(h.Functions[Sweeper], &awseventstargets.LambdaFunctionProps{
			RetryAttempts: jsii.Number(0),
		})},
	})
}

var fiveMinutes = awscdk.Duration_Minutes(jsii.Number(5))

// monitoring creates the alarms (function errors and throttles, Kinesis
// write throttling, API 5xx) and a dashboard of the same signals.
func (h *Hub) monitoring() {
	sum := &awscloudwatch.MetricOptions{Statistic: jsii.String("Sum"), Period: fiveMinutes}
	alarm := func(id, what string, m awscloudwatch.IMetric) {
		a := awscloudwatch.NewAlarm(h.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmDescription:   jsii.String("devicehub: " + what),
			Metric:             m,
			Threshold:          jsii.Number(1),
			EvaluationPeriods:  jsii.Number(1),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			// No traffic is not a failure.
			TreatMissingData: awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		if h.Props.AlarmTopic != nil {
			a.AddAlarmAction(awscloudwatchactions.NewSnsAction(h.Props.AlarmTopic))
		}
		h.Alarms = append(h.Alarms, a)
	}
	var invocations, errs, throttles, durations []awscloudwatch.IMetric
	for _, name := range Functions() {
		fn := h.Functions[name]
		alarm(title(name)+"Errors", name+" function errors", fn.MetricErrors(sum))
		alarm(title(name)+"Throttles", name+" function throttles", fn.MetricThrottles(sum))
		label := &awscloudwatch.MetricOptions{Label: jsii.String(name), Period: fiveMinutes}
		invocations = append(invocations, fn.MetricInvocations(label))
		errs = append(errs, fn.MetricErrors(label))
		throttles = append(throttles, fn.MetricThrottles(label))
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Label: jsii.String(name + " p99"), Statistic: jsii.String("p99"), Period: fiveMinutes}))
	}
	kinesisThrottled := h.Stream.MetricPutRecordsThrottledRecords(sum)
	alarm("StreamWriteThrottles", "telemetry stream write throttling (PutRecords throttled records)", kinesisThrottled)
	alarm("Api5xx", "API 5xx responses", h.api5xx.With(sum))

	graph := func(title string, ms ...awscloudwatch.IMetric) awscloudwatch.IWidget {
		return awscloudwatch.NewGraphWidget(&awscloudwatch.GraphWidgetProps{
			Title: jsii.String(title), Left: &ms, Width: jsii.Number(8),
		})
	}
	h.Dashboard = awscloudwatch.NewDashboard(h.Construct, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				graph("API requests", h.apiCount.With(sum)),
				graph("API 5xx", h.api5xx.With(sum)),
				graph("API latency p99", h.apiLatency.With(&awscloudwatch.MetricOptions{Statistic: jsii.String("p99"), Period: fiveMinutes})),
			},
			{
				graph("Function invocations", invocations...),
				graph("Function errors", errs...),
				graph("Function throttles", throttles...),
			},
			{
				graph("Function duration p99", durations...),
				graph("Telemetry records in", h.Stream.MetricPutRecordsSuccessfulRecords(sum)),
				graph("Telemetry throttled records", kinesisThrottled),
			},
		},
	})
}
