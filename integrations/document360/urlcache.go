package document360

import (
	"container/list"
	"sync"
	"time"
)

const (
	urlCacheSize = 1024
	urlCacheTTL  = time.Hour
)

// urlCache is a bounded LRU of article id → public URL with a TTL, so a
// repeated search does not spend the (small) rate limit on article lookups.
type urlCache struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	ll    *list.List // front = most recently used
	items map[string]*list.Element
}

type urlEntry struct {
	id, url string
	expires time.Time
}

func newURLCache(max int, ttl time.Duration) *urlCache {
	return &urlCache{max: max, ttl: ttl, ll: list.New(), items: make(map[string]*list.Element)}
}

func (c *urlCache) get(id string, now time.Time) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.items[id]
	if !ok {
		return "", false
	}
	ent := e.Value.(*urlEntry)
	if now.After(ent.expires) {
		c.ll.Remove(e)
		delete(c.items, id)
		return "", false
	}
	c.ll.MoveToFront(e)
	return ent.url, true
}

func (c *urlCache) put(id, u string, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[id]; ok {
		ent := e.Value.(*urlEntry)
		ent.url, ent.expires = u, now.Add(c.ttl)
		c.ll.MoveToFront(e)
		return
	}
	c.items[id] = c.ll.PushFront(&urlEntry{id: id, url: u, expires: now.Add(c.ttl)})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*urlEntry).id)
	}
}

func (c *urlCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
