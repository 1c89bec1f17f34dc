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

package controllers

// One watch per signer: the pod-certificate signer watches the
// PodCertificateRequests of each opted-in issuer's signerName, filtered by
// the API server (field selector spec.signerName), so requests for other
// signers never reach certsmith and cost it no memory. A field selector
// cannot name two values, so each signer gets a cache of its own, started
// when its issuer opts in and stopped when it opts out or goes.

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	certificatesv1 "k8s.io/api/certificates/v1"
	"k8s.io/apimachinery/pkg/fields"
	toolscache "k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// podCertificateKey is a work item of the pod-certificate signer: a
// PodCertificateRequest of a signer, or, with an empty name, the signer
// itself (start or stop its watch, look again at its open requests).
type podCertificateKey struct {
	Signer    string
	Namespace string
	Name      string
}

// signerWatch is the running watch of one signer.
type signerWatch struct {
	cache  cache.Cache
	cancel context.CancelFunc
	// synced is set once the cache has its first list and the watch's
	// handler is in place; the cache is read only then, so that no worker
	// waits on a cache that never syncs.
	synced atomic.Bool
}

// signerWatches are the running watches, by signerName.
type signerWatches struct {
	mu      sync.Mutex
	running map[string]*signerWatch
	// newCache makes the cache of one signer.
	newCache func(signerName string) (cache.Cache, error)
	// base is the controller's context, set when the controller starts; a
	// watch lives under it.
	base  context.Context
	queue workqueue.TypedRateLimitingInterface[podCertificateKey]
}

// start is the controller source that hands the watches the controller's
// context and queue: the issuer events decide later which watches run.
func (w *signerWatches) start(ctx context.Context, queue workqueue.TypedRateLimitingInterface[podCertificateKey]) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.base, w.queue = ctx, queue
	return nil
}

// get returns the cache of a signer once it has synced, nil when the
// signer is not watched or its cache is not ready yet (its handler then
// delivers every request once it is).
func (w *signerWatches) get(signerName string) cache.Cache {
	w.mu.Lock()
	defer w.mu.Unlock()
	if watch := w.running[signerName]; watch != nil && watch.synced.Load() {
		return watch.cache
	}
	return nil
}

// names returns the watched signer names.
func (w *signerWatches) names() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return mapKeys(w.running)
}

// ensure starts the watch of a signer unless it runs, and says whether it
// started one. Everything the watch runs lives under its own context, so
// stopping it ends all of it, also before its cache has synced.
func (w *signerWatches) ensure(signerName string) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.running[signerName] != nil {
		return false, nil
	}
	if w.base == nil {
		return false, fmt.Errorf("the pod-certificate signer has not started")
	}
	signerCache, err := w.newCache(signerName)
	if err != nil {
		return false, fmt.Errorf("making the PodCertificateRequest cache of signer %s: %w", signerName, err)
	}
	ctx, cancel := context.WithCancel(w.base)
	watch := &signerWatch{cache: signerCache, cancel: cancel}
	queue := w.queue
	enqueue := func(obj any) {
		if pcr, ok := obj.(*certificatesv1.PodCertificateRequest); ok && !pcrFinished(pcr) {
			queue.Add(podCertificateKey{Signer: signerName, Namespace: pcr.Namespace, Name: pcr.Name})
		}
	}
	go func() { _ = signerCache.Start(ctx) }()
	go func() {
		// Blocks until the first list, or until the watch is stopped.
		informer, err := signerCache.GetInformer(ctx, &certificatesv1.PodCertificateRequest{})
		if err != nil {
			return
		}
		// A handler added to a synced informer is handed every object it holds.
		if _, err := informer.AddEventHandler(toolscache.ResourceEventHandlerFuncs{
			AddFunc:    enqueue,
			UpdateFunc: func(_, obj any) { enqueue(obj) },
		}); err == nil {
			watch.synced.Store(true)
		}
	}()
	if w.running == nil {
		w.running = map[string]*signerWatch{}
	}
	w.running[signerName] = watch
	return true, nil
}

// stop ends the watch of a signer, if it runs.
func (w *signerWatches) stop(signerName string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if watch := w.running[signerName]; watch != nil {
		watch.cancel()
		delete(w.running, signerName)
	}
}

// signerCacheOptions are the options of one signer's cache: its
// PodCertificateRequests only, bounded (boundedPCR).
func signerCacheOptions(base cache.Options, signerName string) cache.Options {
	base.ByObject = map[client.Object]cache.ByObject{
		&certificatesv1.PodCertificateRequest{}: {
			Field:     fields.OneTermEqualSelector("spec.signerName", signerName),
			Transform: boundedPCR,
		},
	}
	base.DefaultNamespaces = nil
	return base
}

// maxCachedUserAnnotations bounds the unverifiedUserAnnotations a cached
// request keeps: any at all is a refusal, which needs only their keys.
const maxCachedUserAnnotations = 5

// boundedPCR bounds what the cache keeps of a PodCertificateRequest:
// managed fields, labels and annotations go (certsmith reads none), and of
// unverifiedUserAnnotations only a few keys stay, without their values; a
// finished request keeps neither its stub request nor its chain. The API
// server already bounds the stub request (10 KiB) and the chain (100 KiB).
// It is idempotent.
func boundedPCR(obj any) (any, error) {
	pcr, ok := obj.(*certificatesv1.PodCertificateRequest)
	if !ok {
		return obj, nil
	}
	pcr.ManagedFields, pcr.Labels, pcr.Annotations = nil, nil, nil
	if annotations := pcr.Spec.UnverifiedUserAnnotations; len(annotations) > 0 {
		kept := map[string]string{}
		for key := range annotations {
			if len(kept) == maxCachedUserAnnotations {
				break
			}
			kept[key] = ""
		}
		pcr.Spec.UnverifiedUserAnnotations = kept
	}
	if pcrFinished(pcr) {
		pcr.Spec.StubPKCS10Request, pcr.Status.CertificateChain = nil, ""
	}
	return pcr, nil
}
