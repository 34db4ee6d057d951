package ext

import (
	"encoding/json"
	"iter"
	"slices"
	"strings"
)

// Tag is one key/value pair of a TagSet.
type Tag struct{ Key, Value string }

// TagSet is an immutable set of sample tags, sorted by key. The zero value
// is the empty set. A TagSet is one pointer wide, so samples carry it
// cheaply, and sharing one between goroutines and samples is safe: every
// method that changes something (With, Merge, Without) returns a new set.
//
// Why not a map: samples keep their tags after the producer moved on (the
// pump, outputs, the summary read them later), so a tag set must never
// change once handed out. A map cannot promise that, and the hot paths
// that reuse one (the VU's current tags, an HTTP client's last request
// tags) had to compare maps by their storage address to know a set was
// unchanged. A TagSet compares by value (Equal), which is cheap when both
// sides are the same set (a pointer compare) and still correct when not.
type TagSet struct{ l *tagList }

type tagList struct{ tags []Tag }

// NewTagSet returns the set of m's pairs (nil or empty: the empty set).
func NewTagSet(m map[string]string) TagSet {
	if len(m) == 0 {
		return TagSet{}
	}
	tags := make([]Tag, 0, len(m))
	for k, v := range m {
		tags = append(tags, Tag{k, v})
	}
	slices.SortFunc(tags, func(a, b Tag) int { return strings.Compare(a.Key, b.Key) })
	return TagSet{&tagList{tags}}
}

// TagsOf returns the set of the given pairs; a later pair wins over an
// earlier one with the same key.
func TagsOf(pairs ...Tag) TagSet { return TagSet{}.WithTags(pairs...) }

// Len is the number of tags.
func (t TagSet) Len() int {
	if t.l == nil {
		return 0
	}
	return len(t.l.tags)
}

func (t TagSet) list() []Tag {
	if t.l == nil {
		return nil
	}
	return t.l.tags
}

// Lookup returns the value of key and whether it is set.
func (t TagSet) Lookup(key string) (string, bool) {
	tags := t.list()
	// Sets are small (a dozen tags): a linear scan beats a binary search.
	for i := range tags {
		if tags[i].Key == key {
			return tags[i].Value, true
		}
	}
	return "", false
}

// Get returns the value of key, or "" when it is not set.
func (t TagSet) Get(key string) string {
	v, _ := t.Lookup(key)
	return v
}

// All iterates over the tags in key order.
func (t TagSet) All() iter.Seq2[string, string] {
	return func(yield func(string, string) bool) {
		for _, tg := range t.list() {
			if !yield(tg.Key, tg.Value) {
				return
			}
		}
	}
}

// Map returns the tags as a new map the caller owns.
func (t TagSet) Map() map[string]string {
	m := make(map[string]string, t.Len())
	for _, tg := range t.list() {
		m[tg.Key] = tg.Value
	}
	return m
}

// With returns the set with key set to value.
func (t TagSet) With(key, value string) TagSet { return t.WithTags(Tag{key, value}) }

// Merge returns the set with every pair of m set (m wins). With nothing to
// merge it returns t itself, so callers keep one shared set.
func (t TagSet) Merge(m map[string]string) TagSet {
	if len(m) == 0 {
		return t
	}
	return t.WithSet(NewTagSet(m))
}

// WithSet returns the set with every tag of o set (o wins).
func (t TagSet) WithSet(o TagSet) TagSet {
	if o.Len() == 0 {
		return t
	}
	if t.Len() == 0 {
		return o
	}
	return t.WithTags(o.list()...)
}

// WithTags returns the set with the given pairs set, in one allocation; a
// later pair wins over an earlier one with the same key.
func (t TagSet) WithTags(pairs ...Tag) TagSet {
	if len(pairs) == 0 {
		return t
	}
	base := t.list()
	out := make([]Tag, len(base), len(base)+len(pairs))
	copy(out, base)
	for _, p := range pairs {
		i, found := slices.BinarySearchFunc(out, p.Key, func(a Tag, k string) int { return strings.Compare(a.Key, k) })
		if found {
			out[i].Value = p.Value
			continue
		}
		out = slices.Insert(out, i, p)
	}
	return TagSet{&tagList{out}}
}

// Without returns the set without the given keys (t itself when none of
// them is set).
func (t TagSet) Without(keys ...string) TagSet {
	tags := t.list()
	n := 0
	for _, tg := range tags {
		if slices.Contains(keys, tg.Key) {
			n++
		}
	}
	if n == 0 {
		return t
	}
	if n == len(tags) {
		return TagSet{}
	}
	out := make([]Tag, 0, len(tags)-n)
	for _, tg := range tags {
		if !slices.Contains(keys, tg.Key) {
			out = append(out, tg)
		}
	}
	return TagSet{&tagList{out}}
}

// Equal reports whether t and o hold the same pairs.
func (t TagSet) Equal(o TagSet) bool {
	if t.l == o.l {
		return true // the same set: the common case on hot paths
	}
	return slices.Equal(t.list(), o.list())
}

// String is "k1=v1,k2=v2" in key order.
func (t TagSet) String() string {
	var b strings.Builder
	for i, tg := range t.list() {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(tg.Key)
		b.WriteByte('=')
		b.WriteString(tg.Value)
	}
	return b.String()
}

// MarshalJSON writes the set as a JSON object in key order.
func (t TagSet) MarshalJSON() ([]byte, error) {
	b := []byte{'{'}
	for i, tg := range t.list() {
		if i > 0 {
			b = append(b, ',')
		}
		k, err := json.Marshal(tg.Key)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(tg.Value)
		if err != nil {
			return nil, err
		}
		b = append(append(append(b, k...), ':'), v...)
	}
	return append(b, '}'), nil
}

// UnmarshalJSON reads a JSON object of strings.
func (t *TagSet) UnmarshalJSON(b []byte) error {
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		return err
	}
	*t = NewTagSet(m)
	return nil
}
