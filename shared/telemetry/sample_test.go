package telemetry

import "os"

// samples are the example records in events/, one per version.
var samples = []string{"../../events/telemetry-record.v1.example.json", "../../events/telemetry-record.v2.example.json"}

func readSample(path string) ([]byte, error) { return os.ReadFile(path) }
