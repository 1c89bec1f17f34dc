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

package pki

import (
	"crypto/sha256"
	"encoding/binary"
	"math"
	"time"
)

// MaxJitterFraction is the exclusive upper bound of JitterFraction: default
// renewal times are spread over the 10% of a certificate's lifetime before
// its two-thirds point.
const MaxJitterFraction = 0.10

// Renewal floor: a certificate is never renewed sooner than
// MinRenewalDelay, or a tenth of its lifetime when that is longer, after it
// was issued, whatever its settings say. Without it a renewBefore or
// renewBeforePercentage close to the whole lifetime (the issuance is
// back-dated by Backdate, so the lifetime is a little longer than asked)
// would put the renewal before the issuance, and re-issue at once, forever.
const (
	// MinRenewalDelay is the shortest time between an issuance and its renewal.
	MinRenewalDelay = time.Minute
	// renewalFloorFraction is the share of the lifetime that must pass first
	// when it is longer than MinRenewalDelay.
	renewalFloorFraction = 10
)

// IssuedAt returns when a certificate valid from notBefore to notAfter was
// issued, as far as its validity tells: notBefore plus Backdate (certsmith
// back-dates what it signs), but never after notAfter. A certificate whose
// notBefore was clamped to its CA's notBefore was issued no later than that.
func IssuedAt(notBefore, notAfter time.Time) time.Time {
	issued := notBefore.Add(Backdate)
	if issued.After(notAfter) {
		return notAfter
	}
	return issued
}

// RenewalFloor returns the earliest time a certificate valid from notBefore
// to notAfter may be renewed: MinRenewalDelay or a tenth of its lifetime,
// whichever is longer, after IssuedAt.
func RenewalFloor(notBefore, notAfter time.Time) time.Time {
	lifetime := max(notAfter.Sub(notBefore), 0)
	return IssuedAt(notBefore, notAfter).Add(max(MinRenewalDelay, lifetime/renewalFloorFraction))
}

// RenewalTime returns when a certificate valid from notBefore to notAfter
// should be renewed.
//
// If renewBefore > 0 it is notAfter - renewBefore. Otherwise, if
// renewBeforePercentage is in (0, 100), it is notAfter minus that percentage
// of the lifetime. Otherwise it is the default, two thirds into the
// lifetime, moved earlier by JitterFraction(jitterSeed) of the lifetime so
// that certificates issued together do not all renew together; the seed is
// typically "namespace/name". In every case the result is never before
// RenewalFloor: a certificate is not renewed within a minute (or a tenth of
// its lifetime) of its issuance. For a very short-lived certificate the
// floor may lie past notAfter; it is then replaced when it expires.
func RenewalTime(notBefore, notAfter time.Time, renewBefore time.Duration, renewBeforePercentage int32, jitterSeed string) time.Time {
	lifetime := notAfter.Sub(notBefore)
	floor := RenewalFloor(notBefore, notAfter)
	if lifetime <= 0 {
		return floor
	}
	var renewal time.Time
	switch {
	case renewBefore > 0:
		renewal = notAfter.Add(-renewBefore)
	case renewBeforePercentage > 0 && renewBeforePercentage < 100:
		renewal = notAfter.Add(-fractionOf(lifetime, int64(renewBeforePercentage), 100))
	default:
		jitter := time.Duration(float64(lifetime) * JitterFraction(jitterSeed))
		renewal = notBefore.Add(fractionOf(lifetime, 2, 3) - jitter)
	}
	if renewal.Before(floor) {
		return floor
	}
	return renewal
}

// fractionOf returns d*num/den without overflowing for lifetimes of
// centuries (d*num alone would overflow int64 nanoseconds).
func fractionOf(d time.Duration, num, den int64) time.Duration {
	n := int64(d)
	return time.Duration(n/den*num + n%den*num/den)
}

// JitterFraction maps seed deterministically to a fraction in
// [0, MaxJitterFraction). Different seeds spread evenly over that range.
func JitterFraction(seed string) float64 {
	sum := sha256.Sum256([]byte(seed))
	// The top 53 bits give a uniform float64 in [0, 1).
	unit := float64(binary.BigEndian.Uint64(sum[:8])>>11) / (1 << 53)
	fraction := unit * MaxJitterFraction
	if fraction >= MaxJitterFraction {
		fraction = math.Nextafter(MaxJitterFraction, 0)
	}
	return fraction
}

// RefreshMargin is how far from either end of its validity the API server
// accepts a pod certificate's beginRefreshAt.
const RefreshMargin = 10 * time.Minute

// PodCertificateRefreshTime returns when the kubelet should start replacing
// a pod certificate valid from notBefore to notAfter: the default renewal
// time (two thirds into the lifetime, moved earlier by the jitter of seed,
// the request's UID, so that pods started together do not refresh
// together), kept at least RefreshMargin from either end, in whole seconds.
func PodCertificateRefreshTime(notBefore, notAfter time.Time, seed string) time.Time {
	refresh := RenewalTime(notBefore, notAfter, 0, 0, seed).Truncate(time.Second)
	if earliest := notBefore.Add(RefreshMargin); refresh.Before(earliest) {
		refresh = earliest
	}
	if latest := notAfter.Add(-RefreshMargin); refresh.After(latest) {
		refresh = latest
	}
	return refresh
}
