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
	"fmt"
	"testing"
	"time"
)

func TestRenewalTimeDefault(t *testing.T) {
	notBefore := testNow
	lifetimes := []time.Duration{time.Hour, 90 * day, year, 10 * year, 250 * year}
	seeds := []string{"", "default/api", "payments/db-peer", "kube-system/webhook"}
	for _, lifetime := range lifetimes {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("%s/%q", lifetime, seed), func(t *testing.T) {
				notAfter := notBefore.Add(lifetime)
				got := RenewalTime(notBefore, notAfter, 0, 0, seed)
				twoThirds := notBefore.Add(lifetime / 3 * 2)
				earliest := twoThirds.Add(-lifetime / 10)
				// Allow a nanosecond of rounding either side.
				if got.Before(earliest.Add(-time.Nanosecond)) || got.After(twoThirds.Add(time.Nanosecond)) {
					t.Errorf("RenewalTime = %v, want within [%v, %v]", got, earliest, twoThirds)
				}
				if again := RenewalTime(notBefore, notAfter, 0, 0, seed); !again.Equal(got) {
					t.Errorf("RenewalTime is not deterministic: %v then %v", got, again)
				}
			})
		}
	}
}

func TestRenewalTimeJitterSpread(t *testing.T) {
	notBefore, lifetime := testNow, 90*day
	notAfter := notBefore.Add(lifetime)
	twoThirds := notBefore.Add(lifetime / 3 * 2)
	earliest, latest := twoThirds, notBefore
	distinct := map[time.Time]bool{}
	for i := 0; i < 1000; i++ {
		got := RenewalTime(notBefore, notAfter, 0, 0, fmt.Sprintf("namespace-%d/cert-%d", i%7, i))
		distinct[got] = true
		if got.Before(earliest) {
			earliest = got
		}
		if got.After(latest) {
			latest = got
		}
	}
	if spread := latest.Sub(earliest); spread < lifetime*9/100 {
		t.Errorf("1000 seeds spread over %v, want at least 9%% of the %v lifetime", spread, lifetime)
	}
	if len(distinct) < 990 {
		t.Errorf("only %d distinct renewal times for 1000 seeds", len(distinct))
	}
}

func TestJitterFraction(t *testing.T) {
	for i := 0; i < 2000; i++ {
		seed := fmt.Sprintf("ns/%d", i)
		f := JitterFraction(seed)
		if f < 0 || f >= MaxJitterFraction {
			t.Fatalf("JitterFraction(%q) = %v, want in [0, %v)", seed, f, MaxJitterFraction)
		}
		if JitterFraction(seed) != f {
			t.Fatalf("JitterFraction(%q) is not deterministic", seed)
		}
	}
	if JitterFraction("a/b") == JitterFraction("a/c") {
		t.Errorf("neighbouring seeds got the same jitter")
	}
}

func TestRenewalTimeExplicit(t *testing.T) {
	notBefore := testNow
	notAfter := notBefore.Add(90 * day)
	tests := []struct {
		name        string
		notAfter    time.Time
		renewBefore time.Duration
		percentage  int32
		want        time.Time
	}{
		{"renewBefore", notAfter, 30 * day, 0, notAfter.Add(-30 * day)},
		{"renewBefore wins over percentage", notAfter, time.Hour, 50, notAfter.Add(-time.Hour)},
		{"renewBefore longer than the lifetime: the floor", notAfter, 100 * day, 0, notBefore.Add(Backdate + 9*day)},
		{"renewBefore equal to the lifetime: the floor", notAfter, 90 * day, 0, notBefore.Add(Backdate + 9*day)},
		{"percentage", notAfter, 0, 25, notAfter.Add(-90 * day / 4)},
		{"percentage 1", notAfter, 0, 1, notAfter.Add(-90 * day / 100)},
		{"percentage 99: the floor", notAfter, 0, 99, notBefore.Add(Backdate + 9*day)},
		{"percentage 85", notAfter, 0, 85, notAfter.Add(-90 * day * 85 / 100)},
		{"percentage of a 250-year lifetime does not overflow", notBefore.Add(250 * year), 0, 50, notBefore.Add(125 * year)},
		{"notAfter before notBefore", notBefore.Add(-time.Hour), time.Hour, 0, notBefore.Add(-time.Hour).Add(MinRenewalDelay)},
		{"zero lifetime", notBefore, 0, 0, notBefore.Add(MinRenewalDelay)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RenewalTime(notBefore, tt.notAfter, tt.renewBefore, tt.percentage, "ns/name")
			if !got.Equal(tt.want) {
				t.Errorf("RenewalTime = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestRenewalTimeOutOfRangePercentageUsesDefault(t *testing.T) {
	notBefore := testNow
	notAfter := notBefore.Add(90 * day)
	want := RenewalTime(notBefore, notAfter, 0, 0, "ns/name")
	for _, percentage := range []int32{-5, 100, 150} {
		if got := RenewalTime(notBefore, notAfter, 0, percentage, "ns/name"); !got.Equal(want) {
			t.Errorf("percentage %d: RenewalTime = %v, want the default %v", percentage, got, want)
		}
	}
	if got := RenewalTime(notBefore, notAfter, -time.Hour, 0, "ns/name"); !got.Equal(want) {
		t.Errorf("negative renewBefore: RenewalTime = %v, want the default %v", got, want)
	}
}

// TestRenewalTimeNeverBeforeTheFloor is the loop that a valid spec once
// caused: 10m with renewBeforePercentage 95, back-dated by a minute, put the
// renewal before the issuance and re-issued 1,745 times a minute.
func TestRenewalTimeNeverBeforeTheFloor(t *testing.T) {
	issued := testNow
	tests := []struct {
		name        string
		notBefore   time.Time
		notAfter    time.Time
		renewBefore time.Duration
		percentage  int32
		wantFloor   time.Duration // after issuance
	}{
		{"10m at 95%", issued.Add(-Backdate), issued.Add(10 * time.Minute), 0, 95, 66 * time.Second},
		{"10m renewBefore 10m", issued.Add(-Backdate), issued.Add(10 * time.Minute), 10 * time.Minute, 0, 66 * time.Second},
		{"10m renewBefore 9m59s", issued.Add(-Backdate), issued.Add(10 * time.Minute), 9*time.Minute + 59*time.Second, 0, 66 * time.Second},
		{"90d at 99%", issued.Add(-Backdate), issued.Add(90 * day), 0, 99, (90*day + Backdate) / 10},
		{"clamped to a CA that ends in 30s", issued.Add(-Backdate), issued.Add(30 * time.Second), 0, 0, MinRenewalDelay},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RenewalTime(tt.notBefore, tt.notAfter, tt.renewBefore, tt.percentage, "ns/name")
			if want := issued.Add(tt.wantFloor); !got.Equal(want) {
				t.Errorf("RenewalTime = %v (%v after issuance), want the floor %v after issuance", got, got.Sub(issued), tt.wantFloor)
			}
			if got.Before(issued.Add(MinRenewalDelay)) {
				t.Errorf("renewal %v after issuance, sooner than %v", got.Sub(issued), MinRenewalDelay)
			}
		})
	}
}

// TestPodCertificateRefreshTime: the default renewal point with jitter,
// always where the API server accepts it (10 minutes inside either end), in
// whole seconds, and spread by the seed.
func TestPodCertificateRefreshTime(t *testing.T) {
	notBefore := time.Date(2026, 12, 2, 8, 0, 0, 0, time.UTC)
	for _, lifetime := range []time.Duration{time.Hour, 90 * time.Minute, 24 * time.Hour, 91 * 24 * time.Hour} {
		notAfter := notBefore.Add(lifetime)
		seen := map[time.Time]bool{}
		for i := range 200 {
			seed := fmt.Sprintf("pcr-%d", i)
			refresh := PodCertificateRefreshTime(notBefore, notAfter, seed)
			if refresh.Before(notBefore.Add(RefreshMargin)) || refresh.After(notAfter.Add(-RefreshMargin)) {
				t.Fatalf("%s: %s outside the window", lifetime, refresh.Sub(notBefore))
			}
			if !refresh.Equal(refresh.Truncate(time.Second)) {
				t.Fatalf("%s: %s is not whole seconds", lifetime, refresh)
			}
			if want := RenewalTime(notBefore, notAfter, 0, 0, seed).Truncate(time.Second); lifetime >= time.Hour && !refresh.Equal(want) && refresh.After(notBefore.Add(RefreshMargin)) {
				t.Fatalf("%s: %s, want the renewal time %s", lifetime, refresh, want)
			}
			if !PodCertificateRefreshTime(notBefore, notAfter, seed).Equal(refresh) {
				t.Fatal("not deterministic")
			}
			seen[refresh] = true
		}
		if len(seen) < 100 { // an hour spreads over 6 minutes: 360 whole seconds
			t.Errorf("%s: 200 seeds gave %d refresh times", lifetime, len(seen))
		}
	}
	// A window too short for the margins still lands inside the validity.
	short := PodCertificateRefreshTime(notBefore, notBefore.Add(15*time.Minute), "x")
	if short.Before(notBefore) || short.After(notBefore.Add(15*time.Minute)) {
		t.Errorf("short: %s", short.Sub(notBefore))
	}
}
