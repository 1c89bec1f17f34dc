package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Spec describes an image of local files.
type Spec struct {
	// Name is the image reference the archive carries, e.g.
	// certsmith.local/manager:node. A name without a registry is
	// normalised as docker and the kubelet read it (docker.io/...).
	Name string
	// Files are put into the image, mode 0755, owned by root.
	Files []File
	// Entrypoint is the command the image runs.
	Entrypoint []string
	// Cmd are the entrypoint's default arguments; a container's args
	// replace them.
	Cmd []string
	// User is the numeric UID:GID the image runs as: the kubelet can
	// check runAsNonRoot only against a numeric user.
	User string
}

// File is a local file and its absolute path in the image.
type File struct {
	Source string
	Path   string
}

// Media types of the OCI image specification, v1.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// epoch is every timestamp in the image: the same inputs give the same
// digest.
var epoch = time.Unix(0, 0).UTC()

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// WriteArchive writes the image as an OCI image layout tar to out and
// returns its manifest digest.
func WriteArchive(out string, spec Spec) (string, error) {
	name, err := NormalizeName(spec.Name)
	if err != nil {
		return "", err
	}
	if err := validUser(spec.User); err != nil {
		return "", err
	}
	layer, err := Layer(spec.Files)
	if err != nil {
		return "", err
	}
	layerDesc := blob(mediaLayer, layer)
	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": runtime.GOARCH,
		"os":           "linux",
		"config": map[string]any{
			"User":       spec.User,
			"Entrypoint": spec.Entrypoint,
			"Cmd":        spec.Cmd,
			"Env":        []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"WorkingDir": "/",
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
	})
	if err != nil {
		return "", err
	}
	configDesc := blob(mediaConfig, config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        configDesc,
		"layers":        []descriptor{layerDesc},
	})
	if err != nil {
		return "", err
	}
	manifestDesc := blob(mediaManifest, manifest)
	manifestDesc.Platform = &platform{Architecture: runtime.GOARCH, OS: "linux"}
	manifestDesc.Annotations = map[string]string{
		// containerd's importer names the image after this annotation;
		// other tools read the OCI ref name.
		"io.containerd.image.name":          name,
		"org.opencontainers.image.ref.name": name,
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaIndex,
		"manifests":     []descriptor{manifestDesc},
	})
	if err != nil {
		return "", err
	}

	// Written next to out and renamed: an interrupted run leaves no
	// truncated archive where a complete one is expected.
	f, err := os.CreateTemp(filepath.Dir(out), filepath.Base(out)+".tmp-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(f.Name())
	tw := tar.NewWriter(f)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{blobPath(configDesc), config},
		{blobPath(manifestDesc), manifest},
		{blobPath(layerDesc), layer},
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: dir, Mode: 0o755, ModTime: epoch}); err != nil {
			f.Close()
			return "", err
		}
	}
	for _, e := range entries {
		if err := writeEntry(tw, e.name, e.data, 0o644); err != nil {
			f.Close()
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		f.Close()
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return "", err
	}
	if err := os.Rename(f.Name(), out); err != nil {
		return "", err
	}
	return manifestDesc.Digest, nil
}

// Layer returns the image's one layer, an uncompressed tar: the parent
// directories of every file, the files, /etc/passwd, /etc/group and /tmp.
func Layer(files []File) ([]byte, error) {
	if len(files) == 0 {
		return nil, errors.New("an image needs at least one file")
	}
	type entry struct {
		data []byte
		mode int64
	}
	content := map[string]entry{
		"etc/passwd": {[]byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n"), 0o644},
		"etc/group":  {[]byte("root:x:0:\nnonroot:x:65532:\n"), 0o644},
	}
	for _, file := range files {
		if !path.IsAbs(file.Path) || path.Clean(file.Path) != file.Path || file.Path == "/" {
			return nil, fmt.Errorf("image path %q: want a clean absolute file path", file.Path)
		}
		data, err := os.ReadFile(file.Source)
		if err != nil {
			return nil, err
		}
		rel := strings.TrimPrefix(file.Path, "/")
		if _, dup := content[rel]; dup {
			return nil, fmt.Errorf("image path %q given twice", file.Path)
		}
		content[rel] = entry{data, 0o755}
	}
	dirs := map[string]bool{"tmp": true}
	for rel := range content {
		for d := path.Dir(rel); d != "."; d = path.Dir(d) {
			dirs[d] = true
		}
	}
	for _, rel := range sortedKeys(content) {
		if dirs[rel] {
			return nil, fmt.Errorf("image path %q is also a directory of the image", "/"+rel)
		}
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, d := range sortedKeys(dirs) {
		mode := int64(0o755)
		if d == "tmp" {
			mode = 0o1777
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: d + "/", Mode: mode, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, rel := range sortedKeys(content) {
		if err := writeEntry(tw, rel, content[rel].data, content[rel].mode); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// NormalizeName returns a reference in the form the kubelet asks the
// runtime for: a registry host first and a tag. "certsmith/manager:v1"
// becomes "docker.io/certsmith/manager:v1"; a name without a tag is
// refused (the kubelet would pull ":latest" on every start).
func NormalizeName(name string) (string, error) {
	repo, tag, ok := cutTag(name)
	if !ok || tag == "" || repo == "" || strings.Contains(name, "@") {
		return "", fmt.Errorf("image name %q: want [registry/]repository:tag", name)
	}
	first, _, hasSlash := strings.Cut(repo, "/")
	if !hasSlash {
		repo = "docker.io/library/" + repo
	} else if !strings.ContainsAny(first, ".:") && first != "localhost" {
		repo = "docker.io/" + repo
	}
	if strings.ToLower(repo) != repo {
		return "", fmt.Errorf("image name %q: a repository is lower case", name)
	}
	return repo + ":" + tag, nil
}

// cutTag splits a reference at the tag's ':' (one after the last '/', so a
// registry's port is not a tag).
func cutTag(name string) (repo, tag string, ok bool) {
	i := strings.LastIndex(name, ":")
	if i < 0 || strings.Contains(name[i:], "/") {
		return name, "", false
	}
	return name[:i], name[i+1:], true
}

func validUser(user string) error {
	uid, gid, ok := strings.Cut(user, ":")
	if !ok || !numeric(uid) || !numeric(gid) {
		return fmt.Errorf("user %q: want numeric UID:GID, so that the kubelet can check runAsNonRoot", user)
	}
	return nil
}

func numeric(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func blob(mediaType string, data []byte) descriptor {
	sum := sha256.Sum256(data)
	return descriptor{MediaType: mediaType, Digest: "sha256:" + hex.EncodeToString(sum[:]), Size: int64(len(data))}
}

func blobPath(d descriptor) string {
	return "blobs/sha256/" + strings.TrimPrefix(d.Digest, "sha256:")
}

func writeEntry(tw *tar.Writer, name string, data []byte, mode int64) error {
	hdr := &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: mode, Size: int64(len(data)), ModTime: epoch}
	if err := tw.WriteHeader(hdr); err != nil {
		return err
	}
	_, err := io.Copy(tw, bytes.NewReader(data))
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
