/*
Copyright 2026 The certsmith Authors.

Licensed under the Apache License, Version 2.0 (the "License");
you may not use this file except in compliance with the License.
You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software
distributed under the License is distributed on an "AS IS" BASIS,
WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.
See the License for the specific language governing permissions and
limitations under the License.
*/

package manifests

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// TestDockerfile checks the manager image's Dockerfile. No container engine
// runs here, so the image is not built; the test checks what the build
// relies on: the stages, a static and stripped binary, a non-root numeric
// user (runAsNonRoot in the pod can only verify a numeric one), and that
// .dockerignore keeps every file "go build ." needs in the build context.
func TestDockerfile(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	var stages [][]string
	for _, line := range joinContinuations(string(data)) {
		if strings.HasPrefix(line, "FROM ") {
			stages = append(stages, nil)
		}
		if len(stages) > 0 {
			stages[len(stages)-1] = append(stages[len(stages)-1], line)
		}
	}
	if len(stages) != 2 {
		t.Fatalf("the Dockerfile has %d stages, want a builder and the final image", len(stages))
	}
	builder, final := strings.Join(stages[0], "\n"), strings.Join(stages[1], "\n")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^FROM (--platform=\S+ )?golang:1\.26 AS builder$`),
		regexp.MustCompile(`CGO_ENABLED=0`),
		regexp.MustCompile(`(?m)go build -trimpath -ldflags="-s -w" -o \S+ \.\s*$`),
	} {
		if !want.MatchString(builder) {
			t.Errorf("the builder stage does not match %s:\n%s", want, builder)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^FROM gcr\.io/distroless/static:nonroot$`),
		regexp.MustCompile(`(?m)^COPY --from=builder \S+ /manager$`),
		regexp.MustCompile(`(?m)^USER 65532:65532$`),
		regexp.MustCompile(`(?m)^ENTRYPOINT \["/manager"\]$`),
	} {
		if !want.MatchString(final) {
			t.Errorf("the final stage does not match %s:\n%s", want, final)
		}
	}

	ignore, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	patterns := parseDockerignore(string(ignore))
	list := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{range .GoFiles}}{{$.Dir}}/{{.}}
{{end}}{{range .EmbedFiles}}{{$.Dir}}/{{.}}
{{end}}{{end}}{{end}}`, ".")
	stdout, stderr, err := cluster.Runner.Output(list)
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, path := range strings.Fields(stdout) {
		rel, err := filepath.Rel(repoRoot, path)
		if err != nil {
			t.Fatal(err)
		}
		needed = append(needed, filepath.ToSlash(rel))
	}
	if len(needed) < 10 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, path := range needed {
		if excluded(patterns, path) {
			t.Errorf(".dockerignore excludes %s, which the manager build needs", path)
		}
	}
	for _, path := range []string{"bin/k8s/kube-apiserver", ".git/HEAD", "test/e2e/e2e_suite_test.go"} {
		if !excluded(patterns, path) {
			t.Errorf(".dockerignore keeps %s in the build context", path)
		}
	}
}

// joinContinuations returns the Dockerfile's instructions, one per line,
// with backslash-continued lines joined and comments dropped.
func joinContinuations(dockerfile string) []string {
	var lines []string
	var current strings.Builder
	for _, line := range strings.Split(dockerfile, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") || (trimmed == "" && current.Len() == 0) {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			current.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		current.WriteString(trimmed)
		lines = append(lines, strings.Join(strings.Fields(current.String()), " "))
		current.Reset()
	}
	return lines
}

// ignorePattern is one line of a .dockerignore.
type ignorePattern struct {
	match   *regexp.Regexp
	include bool
}

// parseDockerignore turns .dockerignore lines into matchers with Docker's
// rules: paths relative to the context root, "*" within one path element,
// "**" across any number, "!" re-includes, the last matching line wins.
func parseDockerignore(content string) []ignorePattern {
	var patterns []ignorePattern
	for _, line := range strings.Split(content, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		include := strings.HasPrefix(line, "!")
		line = strings.Trim(strings.TrimPrefix(line, "!"), "/")
		var expr strings.Builder
		for i := 0; i < len(line); i++ {
			switch {
			case strings.HasPrefix(line[i:], "**/"):
				expr.WriteString("(.*/)?")
				i += 2
			case strings.HasPrefix(line[i:], "**"):
				expr.WriteString(".*")
				i++
			case line[i] == '*':
				expr.WriteString("[^/]*")
			case line[i] == '?':
				expr.WriteString("[^/]")
			default:
				expr.WriteString(regexp.QuoteMeta(line[i : i+1]))
			}
		}
		patterns = append(patterns, ignorePattern{match: regexp.MustCompile("^" + expr.String() + "$"), include: include})
	}
	return patterns
}

// excluded says whether .dockerignore keeps path out of the build context:
// a pattern that matches a parent directory excludes everything below it.
func excluded(patterns []ignorePattern, path string) bool {
	elements := strings.Split(path, "/")
	result := false
	for _, p := range patterns {
		for i := range elements {
			if p.match.MatchString(strings.Join(elements[:i+1], "/")) {
				result = !p.include
				break
			}
		}
	}
	return result
}
