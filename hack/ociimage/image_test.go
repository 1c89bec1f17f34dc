package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

// ociDescriptor, ociIndex, ociManifest and ociConfig are the parts of the
// OCI image layout the test reads back, decoded independently of the
// types the code under test writes with.
type ociDescriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations"`
	Platform    *struct {
		Architecture string `json:"architecture"`
		OS           string `json:"os"`
	} `json:"platform"`
}

type ociIndex struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Manifests     []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	SchemaVersion int             `json:"schemaVersion"`
	MediaType     string          `json:"mediaType"`
	Config        ociDescriptor   `json:"config"`
	Layers        []ociDescriptor `json:"layers"`
}

type ociConfig struct {
	Created      string `json:"created"`
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
	Config       struct {
		User       string   `json:"User"`
		Entrypoint []string `json:"Entrypoint"`
		Cmd        []string `json:"Cmd"`
		Env        []string `json:"Env"`
		WorkingDir string   `json:"WorkingDir"`
	} `json:"config"`
	RootFS struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
}

type tarEntry struct {
	hdr  *tar.Header
	data []byte
}

// readTar returns the entries of a tar by name, failing on a name given
// twice.
func readTar(t *testing.T, r io.Reader) (map[string]tarEntry, []string) {
	t.Helper()
	entries := map[string]tarEntry{}
	var order []string
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("reading tar: %v", err)
		}
		data, err := io.ReadAll(tr)
		if err != nil {
			t.Fatalf("reading tar entry %s: %v", hdr.Name, err)
		}
		if _, dup := entries[hdr.Name]; dup {
			t.Fatalf("tar entry %s twice", hdr.Name)
		}
		entries[hdr.Name] = tarEntry{hdr, data}
		order = append(order, hdr.Name)
	}
	return entries, order
}

func sha(data []byte) string {
	sum := sha256.Sum256(data)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// resolve returns the blob a descriptor names, checking its digest and
// size.
func resolve(t *testing.T, entries map[string]tarEntry, d ociDescriptor) []byte {
	t.Helper()
	hexDigest, ok := strings.CutPrefix(d.Digest, "sha256:")
	if !ok {
		t.Fatalf("descriptor %+v: digest is not sha256", d)
	}
	e, ok := entries["blobs/sha256/"+hexDigest]
	if !ok {
		t.Fatalf("descriptor %s (%s): no blob in the archive", d.Digest, d.MediaType)
	}
	if got := sha(e.data); got != d.Digest {
		t.Fatalf("blob %s: content digest %s", d.Digest, got)
	}
	if int64(len(e.data)) != d.Size {
		t.Fatalf("blob %s: size %d, descriptor says %d", d.Digest, len(e.data), d.Size)
	}
	return e.data
}

func writeFile(t *testing.T, dir, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestWriteArchive(t *testing.T) {
	dir := t.TempDir()
	managerData := []byte("\x7fELF manager binary\x00\x01\x02")
	workloadData := bytes.Repeat([]byte("workload "), 1000)
	manager := writeFile(t, dir, "manager", managerData)
	workload := writeFile(t, dir, "workload", workloadData)
	spec := Spec{
		Name: "certsmith/manager:v1",
		Files: []File{
			{Source: manager, Path: "/manager"},
			{Source: workload, Path: "/usr/local/bin/workload"},
		},
		Entrypoint: []string{"/manager", "--leader-elect"},
		Cmd:        []string{"--zap-log-level=info"},
		User:       "65532:65532",
	}
	out := filepath.Join(dir, "image.tar")
	digest, err := WriteArchive(out, spec)
	if err != nil {
		t.Fatalf("WriteArchive: %v", err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	entries, _ := readTar(t, f)

	layout, ok := entries["oci-layout"]
	if !ok {
		t.Fatal("no oci-layout")
	}
	var lay struct {
		ImageLayoutVersion string `json:"imageLayoutVersion"`
	}
	if err := json.Unmarshal(layout.data, &lay); err != nil || lay.ImageLayoutVersion != "1.0.0" {
		t.Errorf("oci-layout %q: %v", layout.data, err)
	}

	indexEntry, ok := entries["index.json"]
	if !ok {
		t.Fatal("no index.json")
	}
	var index ociIndex
	if err := json.Unmarshal(indexEntry.data, &index); err != nil {
		t.Fatalf("index.json: %v", err)
	}
	if index.SchemaVersion != 2 || index.MediaType != "application/vnd.oci.image.index.v1+json" {
		t.Errorf("index.json: schemaVersion %d, mediaType %q", index.SchemaVersion, index.MediaType)
	}
	if len(index.Manifests) != 1 {
		t.Fatalf("index.json: %d manifests, want 1", len(index.Manifests))
	}
	md := index.Manifests[0]
	if md.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest media type %q", md.MediaType)
	}
	if md.Digest != digest {
		t.Errorf("index names manifest %s, WriteArchive returned %s", md.Digest, digest)
	}
	const wantName = "docker.io/certsmith/manager:v1"
	for _, key := range []string{"io.containerd.image.name", "org.opencontainers.image.ref.name"} {
		if got := md.Annotations[key]; got != wantName {
			t.Errorf("annotation %s = %q, want %q", key, got, wantName)
		}
	}
	if md.Platform == nil || md.Platform.OS != "linux" || md.Platform.Architecture != runtime.GOARCH {
		t.Errorf("manifest platform %+v, want linux/%s", md.Platform, runtime.GOARCH)
	}

	// Every blob is named after the sha256 of its content.
	blobs := 0
	for name, e := range entries {
		hexDigest, ok := strings.CutPrefix(name, "blobs/sha256/")
		if !ok || hexDigest == "" {
			continue
		}
		blobs++
		if got := sha(e.data); got != "sha256:"+hexDigest {
			t.Errorf("blob %s has content digest %s", name, got)
		}
		if e.hdr.Typeflag != tar.TypeReg {
			t.Errorf("blob %s: type %c", name, e.hdr.Typeflag)
		}
	}
	if blobs != 3 {
		t.Errorf("%d blobs, want 3 (manifest, config, layer)", blobs)
	}

	var manifest ociManifest
	if err := json.Unmarshal(resolve(t, entries, md), &manifest); err != nil {
		t.Fatalf("manifest: %v", err)
	}
	if manifest.SchemaVersion != 2 || manifest.MediaType != "application/vnd.oci.image.manifest.v1+json" {
		t.Errorf("manifest: schemaVersion %d, mediaType %q", manifest.SchemaVersion, manifest.MediaType)
	}
	if manifest.Config.MediaType != "application/vnd.oci.image.config.v1+json" {
		t.Errorf("config media type %q", manifest.Config.MediaType)
	}
	if len(manifest.Layers) != 1 {
		t.Fatalf("%d layers, want 1", len(manifest.Layers))
	}
	if manifest.Layers[0].MediaType != "application/vnd.oci.image.layer.v1.tar" {
		t.Errorf("layer media type %q, want the uncompressed tar", manifest.Layers[0].MediaType)
	}

	var config ociConfig
	if err := json.Unmarshal(resolve(t, entries, manifest.Config), &config); err != nil {
		t.Fatalf("config: %v", err)
	}
	if config.OS != "linux" || config.Architecture != runtime.GOARCH {
		t.Errorf("config platform %s/%s, want linux/%s", config.OS, config.Architecture, runtime.GOARCH)
	}
	if config.Config.User != spec.User {
		t.Errorf("config User %q, want %q", config.Config.User, spec.User)
	}
	if !reflect.DeepEqual(config.Config.Cmd, spec.Cmd) {
		t.Errorf("config Cmd %q, want %q", config.Config.Cmd, spec.Cmd)
	}
	if !reflect.DeepEqual(config.Config.Entrypoint, spec.Entrypoint) {
		t.Errorf("config Entrypoint %q, want %q", config.Config.Entrypoint, spec.Entrypoint)
	}
	if config.Created != "1970-01-01T00:00:00Z" {
		t.Errorf("config created %q, want the epoch", config.Created)
	}
	if config.RootFS.Type != "layers" || !reflect.DeepEqual(config.RootFS.DiffIDs, []string{manifest.Layers[0].Digest}) {
		t.Errorf("rootfs %+v, want layers with diff_ids [%s]", config.RootFS, manifest.Layers[0].Digest)
	}

	layer := resolve(t, entries, manifest.Layers[0])
	files, order := readTar(t, bytes.NewReader(layer))
	checkLayer(t, files, order, map[string][]byte{
		"manager":                managerData,
		"usr/local/bin/workload": workloadData,
	})
}

// checkLayer checks the layer's entries: the files, /etc/passwd,
// /etc/group, /tmp and every parent directory, listed before what it
// holds.
func checkLayer(t *testing.T, files map[string]tarEntry, order []string, want map[string][]byte) {
	t.Helper()
	for rel, data := range want {
		e, ok := files[rel]
		if !ok {
			t.Errorf("layer: no %s", rel)
			continue
		}
		if e.hdr.Typeflag != tar.TypeReg || e.hdr.Mode != 0o755 {
			t.Errorf("layer %s: type %c mode %o, want a regular file, 0755", rel, e.hdr.Typeflag, e.hdr.Mode)
		}
		if !bytes.Equal(e.data, data) {
			t.Errorf("layer %s: content differs from the source (%d bytes, want %d)", rel, len(e.data), len(data))
		}
		if e.hdr.Uid != 0 || e.hdr.Gid != 0 {
			t.Errorf("layer %s: owner %d:%d, want root", rel, e.hdr.Uid, e.hdr.Gid)
		}
	}
	passwd, ok := files["etc/passwd"]
	if !ok {
		t.Fatal("layer: no etc/passwd")
	}
	if !strings.Contains(string(passwd.data), "\nnonroot:x:65532:65532:") || !strings.HasPrefix(string(passwd.data), "root:x:0:0:") {
		t.Errorf("etc/passwd %q: want root and nonroot 65532", passwd.data)
	}
	if passwd.hdr.Mode != 0o644 {
		t.Errorf("etc/passwd mode %o, want 0644", passwd.hdr.Mode)
	}
	group, ok := files["etc/group"]
	if !ok || !strings.Contains(string(group.data), "nonroot:x:65532:") {
		t.Errorf("etc/group %q: want nonroot 65532", group.data)
	}
	tmp, ok := files["tmp/"]
	if !ok {
		t.Fatal("layer: no tmp/")
	}
	if tmp.hdr.Typeflag != tar.TypeDir || tmp.hdr.Mode != 0o1777 {
		t.Errorf("tmp: type %c mode %o, want a directory, 01777", tmp.hdr.Typeflag, tmp.hdr.Mode)
	}
	pos := map[string]int{}
	for i, name := range order {
		pos[strings.TrimSuffix(name, "/")] = i
		if mt := files[name].hdr.ModTime; !mt.Equal(epoch) {
			t.Errorf("layer %s: mtime %s, want the epoch", name, mt)
		}
	}
	for rel := range files {
		rel = strings.TrimSuffix(rel, "/")
		for d := filepath.Dir(rel); d != "."; d = filepath.Dir(d) {
			e, ok := files[d+"/"]
			if !ok {
				t.Errorf("layer: %s has no parent directory %s/", rel, d)
				continue
			}
			if e.hdr.Typeflag != tar.TypeDir || e.hdr.Mode != 0o755 {
				t.Errorf("layer %s/: type %c mode %o, want a directory, 0755", d, e.hdr.Typeflag, e.hdr.Mode)
			}
			if pos[d] > pos[rel] {
				t.Errorf("layer: directory %s/ comes after %s", d, rel)
			}
		}
	}
	wantNames := []string{"etc/", "tmp/", "usr/", "usr/local/", "usr/local/bin/", "etc/group", "etc/passwd"}
	for rel := range want {
		wantNames = append(wantNames, rel)
	}
	if len(files) != len(wantNames) {
		t.Errorf("layer entries %q, want %q", order, wantNames)
	}
	for _, n := range wantNames {
		if _, ok := files[n]; !ok {
			t.Errorf("layer: no %s", n)
		}
	}
}

func TestWriteArchiveDeterministic(t *testing.T) {
	dir := t.TempDir()
	a := writeFile(t, dir, "a", []byte("binary a"))
	b := writeFile(t, dir, "b", []byte("binary b"))
	spec := Spec{
		Name:       "certsmith.local/workload:node",
		Files:      []File{{Source: a, Path: "/bin/a"}, {Source: b, Path: "/b"}},
		Entrypoint: []string{"/bin/a", "serve"},
		User:       "65532:65532",
	}
	out1, out2 := filepath.Join(dir, "1.tar"), filepath.Join(dir, "2.tar")
	d1, err := WriteArchive(out1, spec)
	if err != nil {
		t.Fatal(err)
	}
	// Touch the sources: a file's mtime must not reach the image.
	if err := os.Chtimes(a, epoch.AddDate(10, 0, 0), epoch.AddDate(10, 0, 0)); err != nil {
		t.Fatal(err)
	}
	d2, err := WriteArchive(out2, spec)
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Errorf("same inputs, manifest digests %s and %s", d1, d2)
	}
	t1, _ := os.ReadFile(out1)
	t2, _ := os.ReadFile(out2)
	if !bytes.Equal(t1, t2) {
		t.Error("same inputs, archives differ")
	}

	// The order the files are given in does not matter either.
	spec.Files[0], spec.Files[1] = spec.Files[1], spec.Files[0]
	d3, err := WriteArchive(filepath.Join(dir, "3.tar"), spec)
	if err != nil {
		t.Fatal(err)
	}
	if d3 != d1 {
		t.Errorf("files in another order, manifest digest %s, want %s", d3, d1)
	}

	// A different input gives a different digest.
	spec.User = "0:0"
	d4, err := WriteArchive(filepath.Join(dir, "4.tar"), spec)
	if err != nil {
		t.Fatal(err)
	}
	if d4 == d1 {
		t.Error("another user, same manifest digest")
	}
}

func TestNormalizeName(t *testing.T) {
	for _, tc := range []struct {
		name    string
		want    string
		wantErr bool
	}{
		{name: "certsmith", wantErr: true}, // docker.io/library/certsmith, but no tag
		{name: "certsmith:v1", want: "docker.io/library/certsmith:v1"},
		{name: "certsmith/manager:v1", want: "docker.io/certsmith/manager:v1"},
		{name: "docker.io/certsmith/manager:v1", want: "docker.io/certsmith/manager:v1"},
		{name: "registry:5000/a/b:v1", want: "registry:5000/a/b:v1"},
		{name: "certsmith.local/manager:node", want: "certsmith.local/manager:node"},
		{name: "localhost/x:y", want: "localhost/x:y"},
		{name: "localhost:5000/x:y", want: "localhost:5000/x:y"},
		{name: "a/b/c:V1.2_x", want: "docker.io/a/b/c:V1.2_x"}, // a tag may be upper case
		{name: "certsmith/manager", wantErr: true},
		{name: "registry:5000/a/b", wantErr: true}, // the port is not a tag
		{name: "certsmith/manager:", wantErr: true},
		{name: ":v1", wantErr: true},
		{name: "", wantErr: true},
		{name: "certsmith/manager@sha256:" + strings.Repeat("0", 64), wantErr: true},
		{name: "certsmith/manager:v1@sha256:" + strings.Repeat("0", 64), wantErr: true},
		{name: "Certsmith/manager:v1", wantErr: true},
		{name: "certsmith/Manager:v1", wantErr: true},
		{name: "Certsmith:v1", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NormalizeName(tc.name)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("NormalizeName(%q) = %q, want an error", tc.name, got)
				}
				return
			}
			if err != nil {
				t.Fatalf("NormalizeName(%q): %v", tc.name, err)
			}
			if got != tc.want {
				t.Errorf("NormalizeName(%q) = %q, want %q", tc.name, got, tc.want)
			}
		})
	}
}

func TestWriteArchiveRefuses(t *testing.T) {
	dir := t.TempDir()
	bin := writeFile(t, dir, "bin", []byte("binary"))
	other := writeFile(t, dir, "other", []byte("other"))
	good := Spec{
		Name:       "certsmith.local/x:y",
		Files:      []File{{Source: bin, Path: "/bin/x"}},
		Entrypoint: []string{"/bin/x"},
		User:       "65532:65532",
	}
	for _, tc := range []struct {
		name   string
		change func(*Spec)
		want   string // in the error
	}{
		{"relative path", func(s *Spec) { s.Files[0].Path = "bin/x" }, "clean absolute"},
		{"unclean path", func(s *Spec) { s.Files[0].Path = "/bin/../x" }, "clean absolute"},
		{"trailing slash", func(s *Spec) { s.Files[0].Path = "/bin/x/" }, "clean absolute"},
		{"double slash", func(s *Spec) { s.Files[0].Path = "//x" }, "clean absolute"},
		{"root", func(s *Spec) { s.Files[0].Path = "/" }, "clean absolute"},
		{"empty path", func(s *Spec) { s.Files[0].Path = "" }, "clean absolute"},
		{"same path twice", func(s *Spec) {
			s.Files = append(s.Files, File{Source: other, Path: "/bin/x"})
		}, "given twice"},
		{"path of /etc/passwd", func(s *Spec) {
			s.Files = append(s.Files, File{Source: other, Path: "/etc/passwd"})
		}, "given twice"},
		{"file and directory", func(s *Spec) {
			s.Files = append(s.Files, File{Source: other, Path: "/bin"})
		}, "directory"},
		{"file at /tmp", func(s *Spec) {
			s.Files = append(s.Files, File{Source: other, Path: "/tmp"})
		}, "directory"},
		{"file at /etc", func(s *Spec) {
			s.Files = append(s.Files, File{Source: other, Path: "/etc"})
		}, "directory"},
		{"missing source", func(s *Spec) { s.Files[0].Source = filepath.Join(dir, "missing") }, "no such file"},
		{"non-numeric user", func(s *Spec) { s.User = "nonroot:nonroot" }, "numeric"},
		{"non-numeric gid", func(s *Spec) { s.User = "65532:nonroot" }, "numeric"},
		{"user without group", func(s *Spec) { s.User = "65532" }, "numeric"},
		{"negative user", func(s *Spec) { s.User = "-1:0" }, "numeric"},
		{"empty gid", func(s *Spec) { s.User = "65532:" }, "numeric"},
		{"empty user", func(s *Spec) { s.User = "" }, "numeric"},
		{"no files", func(s *Spec) { s.Files = nil }, "at least one file"},
		{"no tag", func(s *Spec) { s.Name = "certsmith.local/x" }, "tag"},
		{"digest", func(s *Spec) { s.Name = "certsmith.local/x@sha256:" + strings.Repeat("a", 64) }, "tag"},
		{"upper case", func(s *Spec) { s.Name = "certsmith.local/X:y" }, "lower case"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			spec := good
			spec.Files = append([]File(nil), good.Files...)
			tc.change(&spec)
			out := filepath.Join(t.TempDir(), "image.tar")
			digest, err := WriteArchive(out, spec)
			if err == nil {
				t.Fatalf("WriteArchive = %s, want an error", digest)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to mention %q", err, tc.want)
			}
			if digest != "" {
				t.Errorf("digest %q with an error", digest)
			}
			if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("refused spec left %s (stat: %v)", out, err)
			}
		})
	}

	// The good spec itself is accepted: the cases above fail for their
	// change alone.
	if _, err := WriteArchive(filepath.Join(dir, "good.tar"), good); err != nil {
		t.Fatalf("good spec: %v", err)
	}
}

func TestWriteArchiveUnwritableOutput(t *testing.T) {
	dir := t.TempDir()
	bin := writeFile(t, dir, "bin", []byte("binary"))
	spec := Spec{Name: "certsmith.local/x:y", Files: []File{{Source: bin, Path: "/x"}}, User: "0:0"}
	if _, err := WriteArchive(filepath.Join(dir, "missing", "image.tar"), spec); err == nil {
		t.Fatal("WriteArchive into a missing directory succeeded")
	}
}
