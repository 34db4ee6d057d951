package ext_test

import (
	"encoding/json"
	"strings"
	"testing"

	"spread.dev/spread/ext"
)

func TestRegistry(t *testing.T) {
	r := ext.NewRegistry()
	m, err := r.NewMetric("my_trend", ext.Trend, ext.Time)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := r.NewMetric("my_trend", ext.Trend, ext.Time); again != m {
		t.Fatal("same name and type: want the same metric")
	}
	if _, err := r.NewMetric("my_trend", ext.Counter); err == nil {
		t.Fatal("same name, other type: want an error")
	}
	if _, err := r.NewMetric("bad-name", ext.Counter); err == nil {
		t.Fatal("bad name: want an error")
	}
	if r.Get(ext.MetricHTTPReqs) == nil {
		t.Fatal("built-in metrics missing")
	}
}

func TestTagSet(t *testing.T) {
	var zero ext.TagSet
	a := ext.NewTagSet(map[string]string{"b": "2", "a": "1"})
	if a.String() != "a=1,b=2" || a.Len() != 2 || a.Get("b") != "2" || zero.Len() != 0 || zero.Get("x") != "" {
		t.Fatalf("a=%v zero=%v", a, zero)
	}
	b := a.With("c", "3").With("a", "x")
	if a.String() != "a=1,b=2" {
		t.Fatalf("With changed the original: %v", a)
	}
	if b.String() != "a=x,b=2,c=3" {
		t.Fatalf("With: %v", b)
	}
	if !zero.Equal(ext.NewTagSet(nil)) || !zero.Equal(ext.TagsOf()) || a.Equal(b) || !a.Equal(ext.TagsOf(ext.Tag{Key: "a", Value: "1"}, ext.Tag{Key: "b", Value: "2"})) {
		t.Fatal("Equal compares by value")
	}
	if m := b.Merge(map[string]string{"b": "y"}); m.String() != "a=x,b=y,c=3" {
		t.Fatalf("Merge: %v", m)
	}
	if w := b.Without("b", "zz"); w.String() != "a=x,c=3" || b.Without("zz").String() != b.String() {
		t.Fatalf("Without: %v", w)
	}
	if d := ext.TagsOf(ext.Tag{Key: "k", Value: "1"}, ext.Tag{Key: "k", Value: "2"}); d.String() != "k=2" {
		t.Fatalf("a later pair wins: %v", d)
	}
	j, err := json.Marshal(b)
	if err != nil || string(j) != `{"a":"x","b":"2","c":"3"}` {
		t.Fatalf("JSON %s %v", j, err)
	}
	var back ext.TagSet
	if err := json.Unmarshal(j, &back); err != nil || !back.Equal(b) {
		t.Fatalf("JSON round trip %v %v", back, err)
	}
	var keys []string
	for k, v := range b.All() {
		keys = append(keys, k+v)
	}
	if strings.Join(keys, " ") != "ax b2 c3" {
		t.Fatalf("All: %v", keys)
	}
	m := b.Map()
	m["a"] = "changed"
	if b.Get("a") != "x" {
		t.Fatal("Map must return a copy")
	}
	// Comparing a set with itself and lookups do not allocate.
	if n := testing.AllocsPerRun(100, func() { _ = b.Equal(b) || b.Get("c") == "" }); n != 0 {
		t.Fatalf("%v allocations", n)
	}
}
