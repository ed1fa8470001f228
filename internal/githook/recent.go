package githook

import "container/list"

// recent remembers the latest n distinct keys, forgetting the least
// recently seen one first. It is not safe for concurrent use: the
// receiver guards it with its mutex.
type recent struct {
	n     int
	order *list.List // of string, most recent first
	index map[string]*list.Element
}

func newRecent(n int) *recent {
	return &recent{n: n, order: list.New(), index: map[string]*list.Element{}}
}

// seen reports whether key is remembered, and remembers it as the most
// recent.
func (c *recent) seen(key string) bool {
	if e, ok := c.index[key]; ok {
		c.order.MoveToFront(e)
		return true
	}
	c.index[key] = c.order.PushFront(key)
	if c.order.Len() > c.n {
		delete(c.index, c.order.Remove(c.order.Back()).(string))
	}
	return false
}
