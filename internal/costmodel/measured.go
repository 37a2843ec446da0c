package costmodel

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// measuredJSON is the committed measurement `make cost` starts from. Its
// durations come from test/lambdarie's TestMeasureDurations (the real
// bootstraps under aws-lambda-rie against the emulators), its DynamoDB units
// from internal/c2d's capacity benchmark; each entry names its command.
//
//go:embed measured.json
var measuredJSON []byte

// MeasuredFile is measured.json.
type MeasuredFile struct {
	Durations struct {
		Date     string             `json:"date"`
		Command  string             `json:"command"`
		Where    string             `json:"where"`
		MedianMs map[string]float64 `json:"medianMs"`
	} `json:"durations"`
	Sweep struct {
		Ms   float64 `json:"ms"`
		Note string  `json:"note"`
	} `json:"sweep"`
	Lifecycle struct {
		Date    string  `json:"date"`
		Command string  `json:"command"`
		WCU     float64 `json:"wcu"`
		RCU     float64 `json:"rcu"`
	} `json:"lifecycle"`
}

// DefaultMeasured reads the committed measurements.
func DefaultMeasured() (Measured, MeasuredFile, error) {
	var f MeasuredFile
	if err := json.Unmarshal(measuredJSON, &f); err != nil {
		return Measured{}, f, fmt.Errorf("costmodel: measured.json: %w", err)
	}
	m := Measured{DurationMs: map[string]float64{"sweep": f.Sweep.Ms}, LifecycleWCU: f.Lifecycle.WCU, LifecycleRCU: f.Lifecycle.RCU}
	for k, v := range f.Durations.MedianMs {
		m.DurationMs[k] = v
	}
	for _, k := range []string{"telemetry", "telemetryBatch100", "c2dSend", "c2dReceive", "c2dComplete", "feedbackReceive", "feedbackComplete", "sweep"} {
		if m.DurationMs[k] <= 0 {
			return Measured{}, f, fmt.Errorf("costmodel: measured.json has no duration for %s", k)
		}
	}
	return m, f, nil
}
