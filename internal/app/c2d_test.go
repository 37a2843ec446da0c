package app

import (
	"context"
	"testing"

	"github.com/devicehub/devicehub/internal/config"
)

// Each role gets only its half of the cloud-to-device queue, so the
// device-facing function cannot serve the service routes and vice versa.
func TestBuildC2DWiresHalvesByRole(t *testing.T) {
	for _, tc := range []struct {
		name                      string
		role                      Role
		device, service, feedback bool
	}{
		{"device", Device, true, false, false},
		{"service", Service, false, true, true},
		{"all", All, true, true, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := &Hub{}
			if err := buildC2D(context.Background(), h, config.Config{}, Clients{}, tc.role, nil, nil); err != nil {
				t.Fatal(err)
			}
			d := h.Deps
			if got := [3]bool{d.C2DDevice != nil, d.C2DService != nil, d.Feedback != nil}; got != [3]bool{tc.device, tc.service, tc.feedback} {
				t.Fatalf("device, service, feedback wired = %v", got)
			}
		})
	}
}
