package stdgobridge

import (
	"unsafe"

	"github.com/tetratelabs/proxy-wasm-go-sdk/proxywasm/internal"
)

// Counter is a proxy-wasm counter metric.
//
// The SDK's DefineCounterMetric and MetricCounter.Increment panic on any host error and format that error
// with fmt.Sprintf. They are the only reason a plugin links fmt (and with it reflect and os): about 300 KB
// of a 3 MB module. These two functions do the same host calls, return errors instead, and link nothing.
// They go through the SDK's registered host, so they also work natively under the SDK's proxytest.
type Counter uint32

// DefineCounter defines (or finds, Envoy keeps one stat per name) the counter called name.
func DefineCounter(name string) (Counter, error) {
	var id uint32
	st := internal.ProxyDefineMetric(internal.MetricTypeCounter, unsafe.StringData(name), len(name), &id)
	return Counter(id), internal.StatusToError(st)
}

// Increment adds delta to the counter.
func (c Counter) Increment(delta uint64) error {
	return status(rawIncrement(uint32(c), int64(delta)))
}
