//go:build tools

// Package tools pins h2spec, the HTTP/2 conformance tool that H2specConformanceTest builds and runs against the
// HBONE server. Nothing here is compiled; the file only keeps `go mod tidy` from dropping the requirement.
package tools

import _ "github.com/summerwind/h2spec/cmd/h2spec"
