package realenvoy

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"time"
)

// echoUpstream answers every request with 200, the marker header, and the request headers as JSON
// (lower-case name → values).
type echoUpstream struct {
	srv  *http.Server
	port uint32
}

func startEchoUpstream() (*echoUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		headers := map[string][]string{}
		for k, v := range r.Header {
			headers[strings.ToLower(k)] = v
		}
		w.Header().Set(upstreamMarker, "1")
		w.Header().Set("content-type", "application/json")
		_ = json.NewEncoder(w).Encode(headers)
	})
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return &echoUpstream{srv: srv, port: uint32(ln.Addr().(*net.TCPAddr).Port)}, nil
}

func (u *echoUpstream) Close() { _ = u.srv.Close() }

// freePorts asks the kernel for n unused loopback ports (released at once; Envoy binds them moments later).
func freePorts(n int) ([]uint32, error) {
	var out []uint32
	var lns []net.Listener
	defer func() {
		for _, l := range lns {
			l.Close()
		}
	}()
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		lns = append(lns, ln)
		out = append(out, uint32(ln.Addr().(*net.TCPAddr).Port))
	}
	return out, nil
}
