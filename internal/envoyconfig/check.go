package envoyconfig

import (
	"os"
)

// CheckFiles checks Envoy bootstraps and Kubernetes resource files. Each bootstrap is checked on its own;
// the Kubernetes resources of all files are checked together, so that an EnvoyFilter in one file is
// cross-checked against the VirtualService and WasmPlugin of another.
func CheckFiles(paths []string, opts Options) *Report {
	r := &Report{}
	var docs []*Document
	for _, p := range paths {
		data, err := os.ReadFile(p)
		if err != nil {
			r.errorf(p, "", "%v", err)
			continue
		}
		if IsKubernetes(data) {
			d, pr := ParseDocuments(p, data)
			r.merge(pr)
			docs = append(docs, d...)
			continue
		}
		r.merge(CheckBootstrapFile(p, opts))
	}
	if len(docs) > 0 {
		r.merge(CheckDocuments(docs))
	}
	return r
}
