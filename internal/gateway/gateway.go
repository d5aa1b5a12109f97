package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	hcmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/filters/network/http_connection_manager/v3"
	wasmv3 "github.com/envoyproxy/go-control-plane/envoy/extensions/wasm/v3"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
)

// Options tune a Gateway; the zero value serves like the bootstrap says, with Envoy 1.39's host profile.
type Options struct {
	// Workers is the number of VMs, each serving one request at a time (default runtime.NumCPU()).
	Workers int
	// Profile is the Envoy release envoyhost emulates (default envoyhost.Envoy139).
	Profile envoyhost.Profile
	// CompilationCacheDir keeps wazero's compiled module between runs ("" compiles every start).
	CompilationCacheDir string
	// Now is the wall clock the filter sees (tests pin it); nil is time.Now.
	Now func() time.Time
	// AccessLog receives one line per request (nil: os.Stdout); Log receives the plugin's log lines at or
	// above LogLevel and the gateway's own messages (nil: os.Stderr).
	AccessLog io.Writer
	Log       io.Writer
	LogLevel  envoyhost.LogLevel
}

// Gateway is a running serve: the listener, the admin listener, one envoyhost.Host and its VM pool.
type Gateway struct {
	cfg  *Config
	opts Options
	host *envoyhost.Host
	pool chan *envoyhost.VM
	// vms is every running VM (Shutdown closes them); a FAIL_RELOAD reload replaces one (reload.go).
	vmsMu  sync.Mutex
	vms    []*envoyhost.VM
	reload *reloader // nil unless failure_policy is FAIL_RELOAD
	// reselect: the router matches the route again after the filter changed request headers (reselect.go).
	reselect bool

	ln, adminLn    net.Listener
	srv, adminSrv  *http.Server
	upstreams      map[string]*upstream
	ready          atomic.Bool
	failedReported atomic.Bool
	shutdownOnce   sync.Once
	shutdownErr    error
	errc           chan error

	accessMu        sync.Mutex
	logMu           sync.Mutex
	lastPluginError atomic.Pointer[string]
}

// Start loads the module, listens on the listener and admin addresses, starts the VMs and serves. Every
// error is one line saying what failed and where (the bootstrap's JSON path, or the address).
func Start(ctx context.Context, cfg *Config, opts Options) (*Gateway, error) {
	if opts.Workers <= 0 {
		opts.Workers = runtime.NumCPU()
	}
	if opts.Profile == "" {
		opts.Profile = envoyhost.Envoy139
	}
	if opts.AccessLog == nil {
		opts.AccessLog = os.Stdout
	}
	if opts.Log == nil {
		opts.Log = os.Stderr
	}
	if opts.LogLevel == 0 {
		opts.LogLevel = envoyhost.LogInfo
	}
	wasm, err := readModule(cfg.Filter)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, opts: opts, upstreams: map[string]*upstream{}, errc: make(chan error, 2)}
	for name, c := range cfg.Clusters {
		g.upstreams[name] = newUpstream(c)
	}

	// Listen before the (slower) VM start, so that a taken port is reported at once.
	if g.ln, err = net.Listen("tcp", cfg.ListenAddress); err != nil {
		return nil, fmt.Errorf("listener %q (%s): cannot listen on %s: %s", cfg.ListenerName, cfg.ListenerWhere, cfg.ListenAddress, sysErr(err))
	}
	if g.adminLn, err = net.Listen("tcp", cfg.AdminAddress); err != nil {
		g.ln.Close()
		return nil, fmt.Errorf("admin ($.admin.address): cannot listen on %s: %s", cfg.AdminAddress, sysErr(err))
	}
	g.adminSrv = &http.Server{Handler: http.HandlerFunc(g.serveAdmin), ReadHeaderTimeout: 10 * time.Second}
	go g.serve(g.adminSrv, g.adminLn)

	if err := g.startVMs(ctx, wasm); err != nil {
		g.ln.Close()
		_ = g.adminSrv.Close()
		if g.host != nil {
			_ = g.host.Close(context.Background())
		}
		return nil, err
	}

	g.srv = &http.Server{
		Handler: g,
		// Envoy has no header timeout by default; a generous one still keeps idle half-open clients from
		// holding connections forever.
		ReadHeaderTimeout: 60 * time.Second,
		IdleTimeout:       time.Hour, // Envoy's default idle_timeout
		Protocols:         protocols(cfg.Codec),
	}
	g.ready.Store(true)
	go g.serve(g.srv, g.ln)
	return g, nil
}

// protocols maps the connection manager's codec_type to what the Go server speaks (no TLS, so HTTP/2 is
// h2c with prior knowledge, as Envoy's AUTO offers on a plaintext listener).
func protocols(c hcmv3.HttpConnectionManager_CodecType) *http.Protocols {
	p := &http.Protocols{}
	switch c {
	case hcmv3.HttpConnectionManager_HTTP1:
		p.SetHTTP1(true)
	case hcmv3.HttpConnectionManager_HTTP2:
		p.SetUnencryptedHTTP2(true)
	default:
		p.SetHTTP1(true)
		p.SetUnencryptedHTTP2(true)
	}
	return p
}

func (g *Gateway) serve(srv *http.Server, ln net.Listener) {
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		g.errc <- err
	}
}

func readModule(f FilterConfig) ([]byte, error) {
	if f.ModuleFilename == "" && f.ModuleInline == nil && f.ModuleRemoteURI != "" {
		return nil, fmt.Errorf("%s: the module is fetched from %s: serve fetches nothing, give it with -module FILE", f.ModuleWhere, f.ModuleRemoteURI)
	}
	if f.ModuleFilename == "" {
		return f.ModuleInline, nil
	}
	wasm, err := os.ReadFile(f.ModuleFilename)
	if err == nil {
		return wasm, nil
	}
	wd, _ := os.Getwd()
	if errors.Is(err, fs.ErrNotExist) {
		hint := "run `make build`"
		if !filepath.IsAbs(f.ModuleFilename) {
			hint += "; as in Envoy, the path is relative to the working directory " + wd
		}
		return nil, fmt.Errorf("%s: module %s not found (%s)", f.ModuleWhere, f.ModuleFilename, hint)
	}
	return nil, fmt.Errorf("%s: cannot read module %s: %s", f.ModuleWhere, f.ModuleFilename, sysErr(err))
}

// sysErr keeps the operating system's words ("bind: address already in use") without Go's repetition of
// the address the caller already names.
func sysErr(err error) string {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err.Error()
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

func (g *Gateway) startVMs(ctx context.Context, wasm []byte) error {
	clusters := map[string]string{}
	for name, c := range g.cfg.Clusters {
		if len(c.Endpoints) > 0 {
			clusters[name] = c.Endpoints[0] // proxy_http_call targets: envoyhost takes one address per cluster
		}
	}
	h, err := envoyhost.NewHost(ctx, wasm, envoyhost.Options{
		Profile:             g.opts.Profile,
		Clusters:            clusters,
		Now:                 g.opts.Now,
		CompilationCacheDir: g.opts.CompilationCacheDir,
		LogSink:             g.pluginLog,
	})
	if err != nil {
		return fmt.Errorf("%s: cannot load the module: %v", g.cfg.Filter.ModuleWhere, err)
	}
	g.host = h
	g.reselect = reselectsRoute(h.Exports())
	g.warnReselection()
	f := g.cfg.Filter
	if f.FailurePolicy == wasmv3.FailurePolicy_FAIL_RELOAD {
		g.reload = newReloader(f.ReloadBaseInterval)
	}
	g.pool = make(chan *envoyhost.VM, g.opts.Workers)
	for i := 0; i < g.opts.Workers; i++ {
		vm, err := g.newVM(ctx)
		if err != nil {
			if errors.Is(err, envoyhost.ErrConfigureRejected) {
				return fmt.Errorf("%s.typed_config.config.configuration: the plugin rejected its configuration: %s", f.Where, g.pluginError())
			}
			return fmt.Errorf("%s: the VM failed to start: %v", f.Where, err)
		}
		g.loadedVM(vm)
		g.pool <- vm
	}
	return nil
}

// pluginError is the plugin's last error line: scope-gate logs the configuration's JSON path and problem.
func (g *Gateway) pluginError() string {
	if msg := g.lastPluginError.Load(); msg != nil {
		return *msg
	}
	return "proxy_on_configure returned false"
}

// Addr is the listener's bound address; AdminAddr the admin listener's.
func (g *Gateway) Addr() net.Addr      { return g.ln.Addr() }
func (g *Gateway) AdminAddr() net.Addr { return g.adminLn.Addr() }

// Host is the envoyhost.Host the VMs run in (its metrics are the filter's counters).
func (g *Gateway) Host() *envoyhost.Host { return g.host }

// Err delivers a listener that stopped serving for another reason than Shutdown.
func (g *Gateway) Err() <-chan error { return g.errc }

// Shutdown stops accepting, lets in-flight requests finish until ctx ends (then closes their connections),
// closes the VMs and the admin listener. Later calls return the first call's result.
func (g *Gateway) Shutdown(ctx context.Context) error {
	g.shutdownOnce.Do(func() { g.shutdownErr = g.shutdown(ctx) })
	return g.shutdownErr
}

func (g *Gateway) shutdown(ctx context.Context) error {
	g.ready.Store(false)
	err := g.srv.Shutdown(ctx)
	if err != nil {
		_ = g.srv.Close()
	}
	for _, vm := range g.vmList() {
		_ = vm.Close(context.Background())
	}
	_ = g.host.Close(context.Background())
	for _, u := range g.upstreams {
		u.transport.CloseIdleConnections()
	}
	if aerr := g.adminSrv.Shutdown(ctx); aerr != nil {
		_ = g.adminSrv.Close()
	}
	return err
}

// acquire takes a free VM: each VM serves one request at a time, so a request waits for one. A failed VM is
// reloaded here under FAIL_RELOAD, as Envoy does when a new stream creates its context.
func (g *Gateway) acquire(ctx context.Context) (*envoyhost.VM, error) {
	select {
	case vm := <-g.pool:
		return g.maybeReload(vm), nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

func (g *Gateway) release(vm *envoyhost.VM) {
	if vm.Failed() {
		g.noteFailure(vm)
	}
	g.pool <- vm
}

// pluginLog prints one plugin log line as it is made (envoyhost's LogSink), and remembers the last error
// line for start-up errors.
func (g *Gateway) pluginLog(l envoyhost.LogEntry) {
	if l.Level >= envoyhost.LogError {
		g.lastPluginError.Store(&l.Message)
	}
	if l.Level < g.opts.LogLevel {
		return
	}
	line := time.Now().UTC().Format(time.RFC3339Nano) + " [wasm:" + l.Level.String() + "] vm " + strconv.Itoa(l.VM) + ": " + strings.TrimRight(l.Message, "\n") + "\n"
	g.logMu.Lock()
	_, _ = io.WriteString(g.opts.Log, line)
	g.logMu.Unlock()
}

func (g *Gateway) logf(level, format string, args ...any) {
	fmt.Fprintf(g.opts.Log, "%s [serve:%s] %s\n", time.Now().UTC().Format(time.RFC3339Nano), level, fmt.Sprintf(format, args...))
}

// serveAdmin is the admin listener: /ready as Envoy's (200 LIVE once serving), and the filter's counters as
// Envoy's admin shows them: /stats in its text format, /stats/prometheus in Prometheus's (stats.go).
func (g *Gateway) serveAdmin(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/ready":
		if g.ready.Load() {
			_, _ = io.WriteString(w, "LIVE\n")
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = io.WriteString(w, "PRE_INITIALIZING\n")
	case "/stats", "/stats/prometheus":
		var re interface{ MatchString(string) bool }
		if f := r.URL.Query().Get("filter"); f != "" {
			c, err := compileFilterRegex(f)
			if err != nil {
				http.Error(w, "invalid filter regex: "+err.Error(), http.StatusBadRequest)
				return
			}
			re = c
		}
		w.Header().Set("Content-Type", "text/plain; charset=UTF-8")
		if r.URL.Path == "/stats/prometheus" {
			_, _ = io.WriteString(w, g.statsPrometheus(re))
			return
		}
		_, _ = io.WriteString(w, g.statsText(re))
	case "/":
		_, _ = io.WriteString(w, "scope-gate serve admin: /ready /stats /stats/prometheus\n")
	default:
		http.NotFound(w, r)
	}
}
