package telemetry

import "os"

func readSample() ([]byte, error) {
	return os.ReadFile("../../events/telemetry-record.v1.example.json")
}
