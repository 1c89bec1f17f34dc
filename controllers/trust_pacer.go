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
	"sync"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/apimachinery/pkg/types"
)

// trustRefreshPacer paces, per issuer, the refreshes of ca.crt in the
// Secrets of its certificates when its trust bundle changes: when a CA
// rotation publishes the next CA, and when the old CA leaves. Each
// refresh is a Secret write and a status write; unpaced, every
// certificate of the issuer would make both at once, a burst of 20,000
// writes for 10,000 certificates. A certificate whose ca.crt is behind
// reserves a turn from its issuer's limiter (spec.rotation.maxReissueRate
// per second, the same bound as the rotation's re-issuance) and comes
// back at it; the rotation's publishing phase lasts as long as the turns
// take. Held in memory by the leader: a new leader hands out turns anew.
type trustRefreshPacer struct {
	mu       sync.Mutex
	limiters map[string]*rate.Limiter
	// turns is when each certificate waiting may refresh.
	turns map[types.NamespacedName]time.Time
	// swept is when turns was last swept of stale entries.
	swept time.Time
}

// trustTurnsSweepAbove is the count of waiting certificates above which
// turns long past (their certificate deleted, or refreshed by another
// path) are dropped.
const (
	trustTurnsSweepAbove = 4096
	trustTurnStale       = 10 * time.Minute
)

func newTrustRefreshPacer() *trustRefreshPacer {
	return &trustRefreshPacer{limiters: map[string]*rate.Limiter{}, turns: map[types.NamespacedName]time.Time{}}
}

// wait returns how long the certificate must wait before it refreshes its
// ca.crt: zero when its turn has come (or it needs none: a nil pacer),
// else until its turn, which it keeps until it comes back.
func (p *trustRefreshPacer) wait(certificate types.NamespacedName, issuer string, perSecond int, now time.Time) time.Duration {
	if p == nil || perSecond <= 0 {
		return 0
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if turn, ok := p.turns[certificate]; ok {
		if !now.Before(turn) {
			// Its turn has come; kept until done, so that a write that
			// fails is retried at once, not at the end of the queue.
			return 0
		}
		return turn.Sub(now)
	}
	limiter := p.limiters[issuer]
	if limiter == nil || limiter.Limit() != rate.Limit(perSecond) {
		// A burst of one second's worth: a few certificates refresh at once.
		limiter = rate.NewLimiter(rate.Limit(perSecond), perSecond)
		p.limiters[issuer] = limiter
	}
	delay := limiter.ReserveN(now, 1).DelayFrom(now)
	if delay <= 0 {
		return 0
	}
	if len(p.turns) > trustTurnsSweepAbove && now.Sub(p.swept) > trustTurnStale {
		// At most once per trustTurnStale, not on every turn handed out.
		p.swept = now
		for key, turn := range p.turns {
			if now.Sub(turn) > trustTurnStale {
				delete(p.turns, key)
			}
		}
	}
	p.turns[certificate] = now.Add(delay)
	return delay
}

// forget drops a certificate's turn: it has refreshed, or it was deleted.
func (p *trustRefreshPacer) forget(certificate types.NamespacedName) {
	if p == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.turns, certificate)
}
