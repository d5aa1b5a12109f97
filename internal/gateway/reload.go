package gateway

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// envoyReloadBase is Envoy's default reload_config.backoff.base_interval (PluginConfig's constructor in
// envoyproxy/envoy v1.33.0 source/extensions/common/wasm/wasm.cc: PROTOBUF_GET_MS_OR_DEFAULT(..., 1000)).
const envoyReloadBase = time.Second

// failurePolicy resolves the plugin's failure policy as Envoy does (PluginConfig's constructor in
// envoyproxy/envoy v1.33.0 source/extensions/common/wasm/wasm.cc, unchanged through v1.39.0): the deprecated
// fail_open together with failure_policy is refused, an unset policy is FAIL_CLOSED (the 1.33 changelog said
// FAIL_RELOAD would be the default; the code says FAIL_CLOSED). serve never fails open.
func failurePolicy(p *wasmv3.PluginConfig, cp string) (wasmv3.FailurePolicy, time.Duration, error) {
	//lint:ignore SA1019 fail_open is deprecated, but Envoy still honours it: serve must refuse it, not ignore it
	failOpen := p.GetFailOpen()
	switch {
	case failOpen && p.GetFailurePolicy() != wasmv3.FailurePolicy_UNSPECIFIED:
		return 0, 0, fmt.Errorf("%s.fail_open: only one of fail_open or failure_policy can be set (Envoy refuses both)", cp)
	case failOpen:
		return 0, 0, fmt.Errorf("%s.fail_open: serve never fails open (a failed VM answers 503); remove fail_open and set failure_policy FAIL_RELOAD or FAIL_CLOSED", cp)
	}
	switch pol := p.GetFailurePolicy(); pol {
	case wasmv3.FailurePolicy_UNSPECIFIED, wasmv3.FailurePolicy_FAIL_CLOSED:
		return wasmv3.FailurePolicy_FAIL_CLOSED, 0, nil
	case wasmv3.FailurePolicy_FAIL_RELOAD:
		base := envoyReloadBase
		if b := p.GetReloadConfig().GetBackoff().GetBaseInterval(); b != nil {
			base = b.AsDuration()
		}
		return pol, base, nil
	default:
		return 0, 0, fmt.Errorf("%s.failure_policy: %s is not supported by serve (FAIL_CLOSED or FAIL_RELOAD: an authorization filter must not be skipped)", cp, pol)
	}
}

// reloader restarts failed VMs under failure_policy FAIL_RELOAD as Envoy does
// (PluginConfig::maybeReloadHandleIfNeeded in envoyproxy/envoy v1.33.0 source/extensions/common/wasm/wasm.cc):
// only when a new request arrives, only for a VM failed at run time (a trap, Envoy's
// FailState::RuntimeError), and only once the time since that VM's last load reaches a fresh backoff
// interval, uniformly random in [base, 1.5*base) (JitteredLowerBoundBackOffStrategy). Inside the interval the
// request is answered by the failed VM: 503, fail closed. A reload that fails keeps the failed VM and still
// counts as a load for the next interval, as in Envoy.
type reloader struct {
	base   time.Duration
	mu     sync.Mutex
	loaded map[*envoyhost.VM]time.Time // when each VM was (re)loaded
	noted  map[*envoyhost.VM]bool      // failure already logged
}

func newReloader(base time.Duration) *reloader {
	return &reloader{base: base, loaded: map[*envoyhost.VM]time.Time{}, noted: map[*envoyhost.VM]bool{}}
}

func (rl *reloader) interval() time.Duration {
	half := int64(rl.base / 2)
	if half <= 0 {
		return rl.base
	}
	return rl.base + time.Duration(rand.Int64N(half))
}

// newVM starts one worker VM with the filter's configuration, in the Host all VMs share.
func (g *Gateway) newVM(ctx context.Context) (*envoyhost.VM, error) {
	f := g.cfg.Filter
	return g.host.NewVM(ctx, envoyhost.PluginConfig{
		VMID: f.VMID, RootID: f.RootID, PluginName: f.PluginName,
		Configuration: f.Configuration, VMConfiguration: f.VMConfig,
	})
}

// loadedVM records a VM among those Shutdown closes (and, with FAIL_RELOAD, when it was loaded).
func (g *Gateway) loadedVM(vm *envoyhost.VM) {
	g.vmsMu.Lock()
	g.vms = append(g.vms, vm)
	g.vmsMu.Unlock()
	if g.reload != nil {
		g.reload.mu.Lock()
		g.reload.loaded[vm] = time.Now()
		g.reload.mu.Unlock()
	}
}

// vmList is every VM serve has running, for Shutdown.
func (g *Gateway) vmList() []*envoyhost.VM {
	g.vmsMu.Lock()
	defer g.vmsMu.Unlock()
	return append([]*envoyhost.VM(nil), g.vms...)
}

// maybeReload runs when a request has taken vm from the pool: with FAIL_RELOAD, a failed VM past its backoff
// interval is replaced by a new one, which serves the request; otherwise the request gets vm as it is.
func (g *Gateway) maybeReload(vm *envoyhost.VM) *envoyhost.VM {
	rl := g.reload
	if rl == nil || !vm.Failed() {
		return vm
	}
	rl.mu.Lock()
	now := time.Now()
	if now.Sub(rl.loaded[vm]) < rl.interval() {
		rl.mu.Unlock()
		return vm // backoff: the failed VM answers 503
	}
	rl.loaded[vm] = now
	rl.mu.Unlock()

	nvm, err := g.newVM(context.Background())
	if err != nil {
		g.logf("error", "VM %d: reload failed (failure_policy FAIL_RELOAD), requests get 503 until a later reload succeeds: %v", vm.ID(), err)
		return vm
	}
	g.vmsMu.Lock()
	for i, old := range g.vms {
		if old == vm {
			g.vms[i] = nvm
		}
	}
	g.vmsMu.Unlock()
	rl.mu.Lock()
	delete(rl.loaded, vm)
	delete(rl.noted, vm)
	rl.loaded[nvm] = now
	rl.mu.Unlock()
	_ = vm.Close(context.Background())
	g.logf("warn", "VM %d failed earlier and was reloaded as VM %d (failure_policy FAIL_RELOAD)", vm.ID(), nvm.ID())
	return nvm
}

// noteFailure logs a failed VM once: with FAIL_CLOSED once for serve's life (every later request on it is a
// 503 until serve restarts, as in Envoy), with FAIL_RELOAD once per VM.
func (g *Gateway) noteFailure(vm *envoyhost.VM) {
	if rl := g.reload; rl != nil {
		rl.mu.Lock()
		first := !rl.noted[vm]
		rl.noted[vm] = true
		rl.mu.Unlock()
		if first {
			g.logf("critical", "VM %d failed (trapped): it answers 503 until a request arrives %v-%v after its load, which reloads it (failure_policy FAIL_RELOAD, as Envoy)", vm.ID(), rl.base, rl.base*3/2)
		}
		return
	}
	if g.failedReported.CompareAndSwap(false, true) {
		g.logf("critical", "a VM failed (trapped): with failure_policy FAIL_CLOSED it answers 503 to every request, as Envoy does; restart serve, or set FAIL_RELOAD")
	}
}
