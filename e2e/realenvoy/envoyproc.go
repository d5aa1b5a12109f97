package realenvoy

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/scope-gate/scope-gate/e2e/scenarios"
)

// envoyProc is a running Envoy whose log is captured.
type envoyProc struct {
	cmd   *exec.Cmd
	admin string
	done  chan struct{}
	mu    sync.Mutex
	log   bytes.Buffer
}

func startEnvoy(bin, cfg string, adminPort uint32) (*envoyProc, error) {
	e := &envoyProc{admin: "http://127.0.0.1:" + strconv.Itoa(int(adminPort)), done: make(chan struct{})}
	// A distinct base id per process, so that groups never share Envoy's hot-restart shared memory; wasm
	// logs at debug level so that log_contains sees denials too.
	e.cmd = exec.Command(bin, "-c", cfg, "--base-id", strconv.Itoa(int(adminPort)),
		"--log-level", "warning", "--component-log-level", "wasm:debug", "--concurrency", "1")
	pr, pw := io.Pipe()
	e.cmd.Stdout, e.cmd.Stderr = pw, pw
	if err := e.cmd.Start(); err != nil {
		return nil, err
	}
	go func() {
		sc := bufio.NewScanner(pr)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			e.mu.Lock()
			e.log.Write(sc.Bytes())
			e.log.WriteByte('\n')
			e.mu.Unlock()
		}
	}()
	go func() {
		_ = e.cmd.Wait()
		pw.Close()
		close(e.done)
	}()
	return e, nil
}

func (e *envoyProc) stop() {
	select {
	case <-e.done:
		return
	default:
	}
	_ = e.cmd.Process.Signal(os.Interrupt)
	select {
	case <-e.done:
	case <-time.After(10 * time.Second):
		_ = e.cmd.Process.Kill()
		<-e.done
	}
}

func (e *envoyProc) waitExit(d time.Duration) bool {
	select {
	case <-e.done:
		return true
	case <-time.After(d):
		return false
	}
}

func (e *envoyProc) waitReady(d time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for {
		select {
		case <-e.done:
			return fmt.Errorf("envoy exited at start: %s", e.tail())
		case <-ctx.Done():
			return fmt.Errorf("envoy not ready after %v: %s", d, e.tail())
		case <-time.After(100 * time.Millisecond):
		}
		resp, err := http.Get(e.admin + "/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
}

// counters reads the scope_gate.* counters. Envoy stores plugin metrics under "wasmcustom." and its text
// /stats shows that namespace (only /stats/prometheus strips it); both spellings are accepted.
func (e *envoyProc) counters() (map[string]uint64, error) {
	resp, err := http.Get(e.admin + "/stats?filter=" + url.QueryEscape(`scope_gate\.`))
	if err != nil {
		return nil, fmt.Errorf("admin /stats: %v", err)
	}
	defer resp.Body.Close()
	out := map[string]uint64{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ": ")
		if !ok {
			continue
		}
		name = strings.TrimPrefix(name, "wasmcustom.")
		if !strings.HasPrefix(name, "scope_gate.") {
			continue
		}
		n, err := strconv.ParseUint(strings.TrimSpace(value), 10, 64)
		if err != nil {
			continue // histograms and the like
		}
		out[name] = n
	}
	return out, sc.Err()
}

func (e *envoyProc) logLen() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.Len()
}

func (e *envoyProc) logSince(mark int) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.log.String()[mark:]
}

func (e *envoyProc) tail() string {
	s := strings.TrimSpace(e.logSince(0))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	return s
}

func (e *envoyProc) logContains(want []string) error { return e.logContainsSince(0, want) }

// logContainsSince waits briefly for each wanted substring in the log written after mark: Envoy writes
// its log from another thread, after the reply may already have reached the client.
func (e *envoyProc) logContainsSince(mark int, want []string) error {
	deadline := time.Now().Add(2 * time.Second)
	for _, w := range want {
		for !strings.Contains(e.logSince(mark), w) {
			if time.Now().After(deadline) {
				return fmt.Errorf("no log line contains %q", w)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	return nil
}

// leaked returns the first test token found in the log, "" when none is.
func (e *envoyProc) leaked(f *scenarios.File) string {
	log := e.logSince(0)
	for _, t := range f.Tokens {
		if len(t.Token) >= 12 && strings.Contains(log, t.Token) {
			return t.Token
		}
	}
	return ""
}
