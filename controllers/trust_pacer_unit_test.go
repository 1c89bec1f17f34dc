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

import (
	"fmt"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// TestTrustRefreshPacer: when an issuer's bundle changes, its
// certificates refresh ca.crt at no more than the rate per second (after
// a first second's burst), each at a turn it keeps until it comes back;
// another issuer's certificates do not wait for them.
func TestTrustRefreshPacer(t *testing.T) {
	const certificates, perSecond = 1000, 20
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	p := newTrustRefreshPacer()
	key := func(i int) types.NamespacedName {
		return types.NamespacedName{Namespace: "shop", Name: fmt.Sprintf("cert-%04d", i)}
	}
	bySecond := map[int]int{}
	turns := map[int]time.Duration{}
	for i := range certificates {
		wait := p.wait(key(i), "corp", perSecond, now)
		turns[i] = wait
		bySecond[int(wait/time.Second)]++
	}
	if bySecond[0] > 2*perSecond {
		t.Fatalf("%d refreshes in the first second, want at most %d", bySecond[0], 2*perSecond)
	}
	for second, n := range bySecond {
		if second > 0 && n > perSecond {
			t.Fatalf("%d refreshes in second %d, want at most %d", n, second, perSecond)
		}
	}
	last := turns[certificates-1]
	if want := time.Duration(certificates-perSecond) * time.Second / perSecond; last < want-time.Second || last > want+time.Second {
		t.Fatalf("the last turn is %s after the change, want about %s", last, want)
	}
	if other := p.wait(types.NamespacedName{Namespace: "shop", Name: "other"}, "another-issuer", perSecond, now); other != 0 {
		t.Fatalf("a certificate of another issuer waits %s", other)
	}

	// Coming back early: the rest of its turn, not a new one at the end.
	i := certificates / 2
	if got := p.wait(key(i), "corp", perSecond, now.Add(turns[i]/2)); got != turns[i]-turns[i]/2 {
		t.Fatalf("back halfway to its turn: wait %s, want %s", got, turns[i]-turns[i]/2)
	}
	// At its turn: it goes; a write that failed goes again at once, not
	// at the end of the queue; done, the turn is given up.
	for try := range 2 {
		if got := p.wait(key(i), "corp", perSecond, now.Add(turns[i])); got != 0 {
			t.Fatalf("at its turn (try %d): wait %s", try+1, got)
		}
	}
	p.forget(key(i))
	if _, held := p.turns[key(i)]; held {
		t.Fatal("a used turn is still held")
	}
	p.forget(key(certificates - 1))
	if _, held := p.turns[key(certificates-1)]; held {
		t.Fatal("a deleted certificate's turn is still held")
	}

	var none *trustRefreshPacer
	if none.wait(key(0), "corp", perSecond, now) != 0 || p.wait(key(0), "corp", 0, now) != 0 {
		t.Fatal("a nil pacer or no rate paces")
	}
}
