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

// Package ca is the lifecycle of an issuer's certificate authorities as a
// pure core: the CA set an issuer keeps (active, next, retiring), how it is
// stored, and Plan, which turns what a controller observed (the spec, the
// stored set, the rotation status, the signer's signed-until marks, the
// trust paths that hold the next CA, the CAs of child issuers, the time)
// into the next set and status, the Events to emit and when to look again.
//
// A root CA rotates with an overlap: the next CA is generated (or, for an
// imported CA, taken from the user's Secret) and published in the trust
// bundle (Publishing); once every trust path holds it, or the publish
// deadline has passed with only paths certsmith cannot write left, and the
// propagation delay has run, it starts signing and the old one retires
// (Retiring); the old one leaves the bundle once everything it signed has
// expired, child intermediates included (Complete). An intermediate is
// re-signed at once when its parent's CA changes, since its trust anchors
// are the parent's.
//
// The package imports the standard library and internal/pki only, never
// reads the wall clock and never generates keys itself: the caller passes
// the time in Observed and a Maker that makes new CAs.
package ca
