// Command demo-upstream is the upstream of `make run`: an HTTP server that answers every request with its
// method, path and received headers as JSON, so that the x-scope-gate-* identity headers the filter adds
// are visible. `scope-gate serve -demo` starts the same handler in-process; this binary is for running it
// on its own (for example in front of a real Envoy on envoy/envoy.yaml).
//
//	go run ./cmd/demo-upstream [-addr 127.0.0.1:8081]
package main

import (
	"flag"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/scope-gate/scope-gate/internal/gateway"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8081", "listen address (envoy/envoy.yaml's backend cluster)")
	flag.Parse()
	srv := &http.Server{Addr: *addr, Handler: gateway.EchoHandler(), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(os.Stderr, "demo-upstream: echoing on http://%s\n", *addr)
	if err := srv.ListenAndServe(); err != nil {
		fmt.Fprintf(os.Stderr, "demo-upstream: %v\n", err)
		os.Exit(1)
	}
}
