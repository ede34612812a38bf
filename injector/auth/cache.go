package auth

import (
	"crypto/sha256"
	"encoding/binary"
	"sync"
	"time"
)

const cacheShards = 16

// cache holds verified claims keyed by the SHA-256 of the token, until the
// token's exp. It is sharded to keep lock contention off the hot path and
// bounded: a full shard first drops expired entries, then arbitrary ones.
type cache struct {
	perShard int
	shards   [cacheShards]cacheShard
}

type cacheShard struct {
	mu sync.RWMutex
	m  map[[sha256.Size]byte]Claims
}

func newCache(size int) *cache {
	c := &cache{perShard: max(size/cacheShards, 1)}
	for i := range c.shards {
		c.shards[i].m = make(map[[sha256.Size]byte]Claims)
	}
	return c
}

func (c *cache) shard(key [sha256.Size]byte) *cacheShard {
	return &c.shards[binary.LittleEndian.Uint32(key[:4])%cacheShards]
}

func (c *cache) get(key [sha256.Size]byte, now time.Time) (Claims, bool) {
	s := c.shard(key)
	s.mu.RLock()
	cl, ok := s.m[key]
	s.mu.RUnlock()
	if !ok {
		return Claims{}, false
	}
	if !now.Before(cl.Expiry) {
		s.mu.Lock()
		delete(s.m, key)
		s.mu.Unlock()
		return Claims{}, false
	}
	return cl, true
}

func (c *cache) put(key [sha256.Size]byte, cl Claims, now time.Time) {
	if !now.Before(cl.Expiry) {
		return
	}
	s := c.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.m) >= c.perShard {
		for k, v := range s.m {
			if !now.Before(v.Expiry) {
				delete(s.m, k)
			}
		}
		for k := range s.m {
			if len(s.m) < c.perShard {
				break
			}
			delete(s.m, k)
		}
	}
	s.m[key] = cl
}

func (c *cache) len() int {
	n := 0
	for i := range c.shards {
		s := &c.shards[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
