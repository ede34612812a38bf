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

// ttlCache is a bounded LRU of key → value with a TTL. It holds the article
// URLs (article id → public URL) and the search results (query and language
// → results), so repeated work does not spend the small rate budget.
type ttlCache[V any] struct {
	mu    sync.Mutex
	max   int
	ttl   time.Duration
	ll    *list.List // front = most recently used
	items map[string]*list.Element
}

type ttlEntry[V any] struct {
	key     string
	val     V
	expires time.Time
}

func newTTLCache[V any](max int, ttl time.Duration) *ttlCache[V] {
	return &ttlCache[V]{max: max, ttl: ttl, ll: list.New(), items: make(map[string]*list.Element)}
}

func (c *ttlCache[V]) get(key string, now time.Time) (V, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	var zero V
	e, ok := c.items[key]
	if !ok {
		return zero, false
	}
	ent := e.Value.(*ttlEntry[V])
	if now.After(ent.expires) {
		c.ll.Remove(e)
		delete(c.items, key)
		return zero, false
	}
	c.ll.MoveToFront(e)
	return ent.val, true
}

func (c *ttlCache[V]) put(key string, v V, now time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.items[key]; ok {
		ent := e.Value.(*ttlEntry[V])
		ent.val, ent.expires = v, now.Add(c.ttl)
		c.ll.MoveToFront(e)
		return
	}
	c.items[key] = c.ll.PushFront(&ttlEntry[V]{key: key, val: v, expires: now.Add(c.ttl)})
	for c.ll.Len() > c.max {
		old := c.ll.Back()
		c.ll.Remove(old)
		delete(c.items, old.Value.(*ttlEntry[V]).key)
	}
}

func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}
