# syntax=docker/dockerfile:1
# The certsmith manager image: a static binary on distroless, running as the
# unprivileged user 65532. Build from the repository root:
#
#   docker build -t <registry>/certsmith:<tag> .
#
# Builds for another platform with "docker buildx build --platform
# linux/arm64" (the Go toolchain cross-compiles; no emulation needed).

FROM --platform=$BUILDPLATFORM golang:1.26 AS builder
ARG TARGETOS
ARG TARGETARCH
WORKDIR /workspace
# Dependencies first, so that a source change reuses the module layer.
COPY go.mod go.sum ./
RUN --mount=type=cache,target=/go/pkg/mod go mod download
COPY . .
RUN --mount=type=cache,target=/go/pkg/mod --mount=type=cache,target=/root/.cache/go-build \
    CGO_ENABLED=0 GOOS=${TARGETOS:-linux} GOARCH=${TARGETARCH} \
    go build -trimpath -ldflags="-s -w" -o /out/manager .

FROM gcr.io/distroless/static:nonroot
COPY --from=builder /out/manager /manager
USER 65532:65532
ENTRYPOINT ["/manager"]
