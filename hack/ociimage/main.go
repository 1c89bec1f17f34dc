// Command ociimage writes a container image as an OCI image layout archive
// (the tar that "ctr images import" and "docker load" read) from static
// binaries on the local disk: no base image is pulled and no registry or
// container engine is needed. The one-node cluster (hack/node.sh) imports
// the manager, the test workload and the pause image built this way.
//
//	go run ./hack/ociimage -name certsmith.local/manager:node \
//	    -file bin/linux/manager=/manager -entrypoint /manager -user 65532:65532 \
//	    -o bin/images/manager.tar
//
// The image has one layer: the given files, /etc/passwd and /etc/group
// with root and nonroot (65532) entries, and an empty /tmp. Every
// timestamp is fixed, so the same inputs make the same image digest.
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// fileList collects repeated -file SRC=DEST flags.
type fileList []string

func (f *fileList) String() string     { return strings.Join(*f, ",") }
func (f *fileList) Set(v string) error { *f = append(*f, v); return nil }

func main() {
	var spec Spec
	var files fileList
	var out, entrypoint, cmd string
	flag.StringVar(&spec.Name, "name", "", "image reference, e.g. certsmith.local/manager:node (required)")
	flag.Var(&files, "file", "SRC=DEST: put the local file SRC at the absolute path DEST, executable (repeatable)")
	flag.StringVar(&entrypoint, "entrypoint", "", "the entrypoint, words separated by spaces")
	flag.StringVar(&cmd, "cmd", "", "the entrypoint's default arguments, words separated by spaces (a container's args replace them)")
	flag.StringVar(&spec.User, "user", "65532:65532", "the user the image runs as, numeric UID:GID")
	flag.StringVar(&out, "o", "", "the archive to write (required)")
	flag.Parse()
	if spec.Name == "" || out == "" || len(files) == 0 {
		flag.Usage()
		os.Exit(2)
	}
	for _, f := range files {
		src, dest, ok := strings.Cut(f, "=")
		if !ok {
			fail(fmt.Errorf("-file %q: want SRC=DEST", f))
		}
		spec.Files = append(spec.Files, File{Source: src, Path: dest})
	}
	spec.Entrypoint = strings.Fields(entrypoint)
	spec.Cmd = strings.Fields(cmd)
	digest, err := WriteArchive(out, spec)
	if err != nil {
		fail(err)
	}
	fmt.Printf("ociimage: %s (%s) -> %s\n", spec.Name, digest, out)
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "ociimage:", err)
	os.Exit(1)
}
