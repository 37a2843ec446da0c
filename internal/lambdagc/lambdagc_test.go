package lambdagc

import (
	"maps"
	"runtime/debug"
	"testing"
)

func TestEnv(t *testing.T) {
	for memoryMB, limit := range map[int]string{128: "102MiB", 256: "204MiB", 512: "409MiB", 1769: "1415MiB", 10240: "8192MiB"} {
		want := map[string]string{"GOGC": "off", "GOMEMLIMIT": limit}
		if got := Env(memoryMB); !maps.Equal(got, want) {
			t.Errorf("Env(%d) = %v, want %v", memoryMB, got, want)
		}
	}
}

func TestApplyRestores(t *testing.T) {
	oldPercent := debug.SetGCPercent(150)
	oldLimit := debug.SetMemoryLimit(1 << 40)
	defer func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	}()

	restore := Apply(256)
	if p := debug.SetGCPercent(-1); p != -1 {
		t.Errorf("GOGC %d under Apply, want off (-1)", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 204<<20 {
		t.Errorf("memory limit %d under Apply, want %d", l, 204<<20)
	}
	restore()
	if p := debug.SetGCPercent(-1); p != 150 {
		t.Errorf("GOGC %d after restore, want 150", p)
	}
	if l := debug.SetMemoryLimit(-1); l != 1<<40 {
		t.Errorf("memory limit %d after restore, want %d", l, int64(1<<40))
	}
}
