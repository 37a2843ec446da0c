// Package lambdagc is the Go garbage collector's configuration for the
// hub's functions on Lambda: the environment the stack gives every function
// (infra/hub), and the same settings applied in process, so that benchmarks
// measure what is deployed.
//
// A function serves one request at a time and its live heap is small: the
// device-key cache, about 1 KB a device (~10 MiB at the default 10,000,
// BenchmarkAuthCacheLiveHeap in internal/app), the SDK clients and a
// request's buffers; the largest, the router's, holds one batch of at most
// 6 MB of event, decoded. Go's default (GOGC=100, no limit) collects each time
// the heap doubles, every few MiB of allocation: on the ingress path, every
// few hundred to a thousand requests, whose latency pays the collector's
// background work, assists and write barriers on a function with a fraction
// of a core. Lambda bills the configured memory, not the memory used, so
// the pacer is switched off (GOGC=off) and the collector runs when the heap
// reaches a soft limit (GOMEMLIMIT): at the default 256 MB, after ~180 MiB
// of allocation, some ten thousand requests. The limit is 80% of the
// function's memory, leaving room for what the runtime does not count (the
// binary's mapped text, the kernel's share). A live heap near the limit
// would make the collector run often (Go caps it at about half the CPU):
// the device cache's size must stay far below it, as the default's does.
package lambdagc

import (
	"runtime/debug"
	"strconv"
)

// Environment variable names the Go runtime reads at start.
const (
	EnvGOGC       = "GOGC"
	EnvGOMEMLIMIT = "GOMEMLIMIT"
)

// GOGC is the functions' GOGC: off, the heap grows to the memory limit.
const GOGC = "off"

// limitPercent is the memory limit's share of the function's memory.
const limitPercent = 80

// MemoryLimit is the Go runtime's soft memory limit, in bytes, for a
// function of memoryMB megabytes (Lambda's MemorySize), counted as MiB: the
// headroom dwarfs the difference.
func MemoryLimit(memoryMB int) int64 {
	return int64(memoryMB) * limitPercent / 100 << 20
}

// Env is the environment of a function of memoryMB megabytes: GOGC and
// GOMEMLIMIT, in the Go runtime's syntax.
func Env(memoryMB int) map[string]string {
	return map[string]string{
		EnvGOGC:       GOGC,
		EnvGOMEMLIMIT: strconv.FormatInt(MemoryLimit(memoryMB)>>20, 10) + "MiB",
	}
}

// Apply sets this process's collector as Env(memoryMB) sets a function's
// at start, and returns a function restoring the settings it replaced.
// For benchmarks and tests: a function reads its environment instead.
func Apply(memoryMB int) (restore func()) {
	percent := -1 // GOGC=off
	if GOGC != "off" {
		p, err := strconv.Atoi(GOGC)
		if err != nil {
			panic("lambdagc: GOGC " + GOGC + " is neither off nor a number")
		}
		percent = p
	}
	oldPercent := debug.SetGCPercent(percent)
	oldLimit := debug.SetMemoryLimit(MemoryLimit(memoryMB))
	return func() {
		debug.SetGCPercent(oldPercent)
		debug.SetMemoryLimit(oldLimit)
	}
}
