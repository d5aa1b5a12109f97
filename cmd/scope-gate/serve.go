package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"syscall"
	"time"

	"github.com/scope-gate/scope-gate/internal/envoyhost"
	"github.com/scope-gate/scope-gate/internal/gateway"
)

// runServe is `scope-gate serve`: the filter serving real HTTP from an Envoy bootstrap, on envoyhost.
func runServe(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	config := fs.String("c", "envoy/envoy.yaml", "Envoy v3 static bootstrap to serve")
	workers := fs.Int("workers", runtime.NumCPU(), "worker VMs (each serves one request at a time)")
	profile := fs.String("profile", string(envoyhost.Envoy139), "emulated Envoy: envoy-1.39 or envoy-1.33")
	logLevel := fs.String("log-level", "info", "plugin log lines at or above: debug, info, warn, error")
	drain := fs.Duration("drain-timeout", 10*time.Second, "on SIGINT/SIGTERM, how long in-flight requests may take")
	cacheDir := fs.String("cache-dir", defaultCacheDir(), "wazero compilation cache (\"\" compiles at every start)")
	demo := fs.Bool("demo", false, "also start the demo echo upstream on the address of -demo-cluster, and print demo tokens and curl lines")
	demoCluster := fs.String("demo-cluster", "backend", "the cluster whose (first) endpoint the demo upstream listens on")
	listen := fs.String("listen", "", "listen here (host:port) instead of the listener's address")
	adminListen := fs.String("admin-listen", "", "serve the admin interface here (host:port) instead of the bootstrap's admin address")
	module := fs.String("module", "", "the Wasm module, for a configuration that names it by URL (vm_config.code.remote: Istio, Envoy Gateway); its SHA-256 must match")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "scope-gate serve: unexpected argument %q (the bootstrap is given with -c)\n", fs.Arg(0))
		return 2
	}
	level, ok := map[string]envoyhost.LogLevel{"debug": envoyhost.LogDebug, "info": envoyhost.LogInfo,
		"warn": envoyhost.LogWarn, "error": envoyhost.LogError}[*logLevel]
	if !ok {
		fmt.Fprintf(stderr, "scope-gate serve: -log-level %q: want debug, info, warn or error\n", *logLevel)
		return 2
	}
	fail := func(err error) int {
		fmt.Fprintf(stderr, "scope-gate serve: %v\n", err)
		return 1
	}
	cfg, err := gateway.Load(*config)
	if err != nil {
		return fail(err)
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "scope-gate serve: %s: warning: %s\n", *config, w)
	}
	if *module != "" {
		if err := cfg.UseModule(*module); err != nil {
			return fail(fmt.Errorf("%s: %w", *config, err))
		}
	}
	if *listen != "" {
		cfg.ListenAddress = *listen
	}
	if *adminListen != "" {
		cfg.AdminAddress = *adminListen
	}

	var demoSrv *http.Server
	var demoAddr string
	if *demo {
		c := cfg.Clusters[*demoCluster]
		if c == nil || len(c.Endpoints) == 0 {
			return fail(fmt.Errorf("%s: -demo: no cluster %q with an endpoint for the demo upstream", *config, *demoCluster))
		}
		demoAddr = c.Endpoints[0]
		ln, err := net.Listen("tcp", demoAddr)
		if err != nil {
			return fail(fmt.Errorf("demo upstream (cluster %q): cannot listen on %s: %v (is another upstream already running there?)", *demoCluster, demoAddr, unwrapOp(err)))
		}
		demoSrv = &http.Server{Handler: gateway.EchoHandler(), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = demoSrv.Serve(ln) }()
		defer demoSrv.Close()
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g, err := gateway.Start(ctx, cfg, gateway.Options{
		Workers: *workers, Profile: envoyhost.Profile(*profile), CompilationCacheDir: *cacheDir,
		AccessLog: stdout, Log: stderr, LogLevel: level,
	})
	if err != nil {
		return fail(err)
	}
	if *demo {
		gateway.WriteDemoBanner(stdout, g, *config, demoAddr)
	} else {
		fmt.Fprintf(stderr, "scope-gate serve: %s: listening on %s (admin %s), %d worker VMs\n", *config, g.Addr(), g.AdminAddr(), *workers)
	}

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-g.Err():
	}
	stop() // a second signal now kills the process, as usual
	fmt.Fprintf(stderr, "scope-gate serve: shutting down (in-flight requests get up to %s)\n", *drain)
	sctx, cancel := context.WithTimeout(context.Background(), *drain)
	defer cancel()
	if err := g.Shutdown(sctx); err != nil {
		fmt.Fprintf(stderr, "scope-gate serve: shutdown: %v (remaining connections closed)\n", err)
	}
	if serveErr != nil {
		return fail(serveErr)
	}
	return 0
}

func unwrapOp(err error) error {
	var op *net.OpError
	if errors.As(err, &op) && op.Err != nil {
		return op.Err
	}
	return err
}

// defaultCacheDir keeps compiled code between runs: compiling the module takes about a second, loading it
// from the cache a few milliseconds.
func defaultCacheDir() string {
	dir, err := os.UserCacheDir()
	if err != nil {
		return ""
	}
	return filepath.Join(dir, "scope-gate", "wazero")
}
