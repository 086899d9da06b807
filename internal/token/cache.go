package token

import (
	"container/list"
	"crypto/sha256"
	"sync"
	"time"
)

// Cache holds verified access tokens, keyed by a hash of the token (never the
// token itself), bounded in entries and in bytes; entries expire with their
// token. It is safe for concurrent use.
type Cache struct {
	mu         sync.Mutex
	maxEntries int
	maxBytes   int
	bytes      int
	ll         *list.List
	items      map[[32]byte]*list.Element
	hits       uint64
	misses     uint64
}

type entry struct {
	key    [32]byte
	claims Claims
	expiry time.Time
	size   int
}

// NewCache returns a cache of at most maxEntries tokens and about maxBytes.
func NewCache(maxEntries, maxBytes int) *Cache {
	return &Cache{maxEntries: maxEntries, maxBytes: maxBytes, ll: list.New(), items: map[[32]byte]*list.Element{}}
}

// keyBufs holds the buffers cacheKey hashes from: the key is computed on
// every request, and a hash.Hash and its Sum would cost two allocations.
var keyBufs = sync.Pool{New: func() any { b := make([]byte, 0, 2048); return &b }}

func cacheKey(prefix [32]byte, raw string) [32]byte {
	bp := keyBufs.Get().(*[]byte)
	b := append(append((*bp)[:0], prefix[:]...), raw...)
	k := sha256.Sum256(b)
	clear(b) // the buffer held a token
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		keyBufs.Put(bp)
	}
	return k
}

// Get returns the claims cached under key if they have not expired.
func (c *Cache) Get(key [32]byte, now time.Time) (Claims, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		c.misses++
		return nil, false
	}
	e := el.Value.(*entry)
	if !now.Before(e.expiry) {
		c.remove(el)
		c.misses++
		return nil, false
	}
	c.ll.MoveToFront(el)
	c.hits++
	return e.claims, true
}

// Put caches claims under key until expiry. size is the token's length; the
// claims are counted at twice that.
func (c *Cache) Put(key [32]byte, claims Claims, expiry time.Time, size int) {
	size = 3*size + 128
	if size > c.maxBytes/16 {
		return // one huge token must not evict everything
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.items[key]; ok {
		c.remove(el)
	}
	c.items[key] = c.ll.PushFront(&entry{key: key, claims: claims, expiry: expiry, size: size})
	c.bytes += size
	for c.ll.Len() > c.maxEntries || c.bytes > c.maxBytes {
		c.remove(c.ll.Back())
	}
}

// CacheStats counts a cache's lookups and what it holds.
type CacheStats struct {
	Hits, Misses   uint64
	Entries, Bytes int
}

// Stats returns the lookups so far and the current size.
func (c *Cache) Stats() CacheStats {
	c.mu.Lock()
	defer c.mu.Unlock()
	return CacheStats{Hits: c.hits, Misses: c.misses, Entries: c.ll.Len(), Bytes: c.bytes}
}

// Len returns the number of cached tokens.
func (c *Cache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ll.Len()
}

func (c *Cache) remove(el *list.Element) {
	e := c.ll.Remove(el).(*entry)
	delete(c.items, e.key)
	c.bytes -= e.size
}
