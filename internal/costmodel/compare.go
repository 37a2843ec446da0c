package costmodel

import "math"

// IoTCoreBill prices profile f on AWS IoT Core, every message forwarded to
// Kinesis by a rule action (the data part of an on-demand stream, written
// and read once). basicIngest publishes to the rules engine directly (no
// messaging charge); mqtt keeps every device connected all month (HTTPS
// publishing has no connection charge). C2D is not priced here.
func IoTCoreBill(p Prices, f Profile, basicIngest, mqtt bool) Bill {
	b := Bill{Stack: "AWS IoT Core", Profile: f, Messages: f.Messages()}
	add := func(what string, month float64) {
		b.Lines = append(b.Lines, Line{Service: "AWS IoT Core", What: what, Month: month})
	}
	// A message and its topic, metered in 5 KB increments.
	metered := b.Messages * math.Ceil(float64(f.BodyBytes+64)/float64(p.IoTCoreMessageBytes))
	if !basicIngest {
		add("messaging", tiered(metered/million, p.IoTCoreMessagingPerMillion))
	}
	add("rules triggered", metered/million*p.IoTCoreRulePerMillion)
	add("actions executed (Kinesis)", metered/million*p.IoTCoreActionPerMillion)
	if mqtt {
		add("connectivity (MQTT, always connected)", f.Devices*hoursPerMonth*60/million*p.IoTCoreConnectionMinuteM)
	}
	rec := float64(f.BodyBytes)
	b.Lines = append(b.Lines,
		Line{"Kinesis", "on-demand data in", b.Messages * math.Ceil(rec/onDemandRecordUnit) * onDemandRecordUnit / gib * p.KinesisOnDemandInGB},
		Line{"Kinesis", "on-demand data out (one consumer)", b.Messages * rec / gib * p.KinesisOnDemandOutGB},
	)
	return b
}

// IoTHubBill is the cheapest Azure IoT Hub standard edition for profile f:
// its name, the units, and the month. Each device-to-cloud message and each
// C2D send counts against the daily quota per 4 KB. ok is false when no
// edition can carry the traffic.
func IoTHubBill(p Prices, f Profile) (tier IoTHubTier, units int, month float64, ok bool) {
	month = math.Inf(1)
	for _, t := range p.IoTHub {
		chunks := math.Ceil(float64(f.BodyBytes) / float64(t.MeterBytes))
		perDay := f.Devices * (f.PerDay + f.C2DPerDay) * chunks
		n := max(1, int(math.Ceil(perDay/t.MessagesPerDay)))
		if n > t.MaxUnits {
			continue
		}
		if c := float64(n) * t.UnitMonth; c < month {
			tier, units, month, ok = t, n, c, true
		}
	}
	return tier, units, month, ok
}

// IoTHubFullQuota is an IoT Hub edition's price per million messages when
// every message of its daily quota is used.
func IoTHubFullQuota(t IoTHubTier) float64 {
	return t.UnitMonth / (t.MessagesPerDay * daysPerMonth) * million
}
