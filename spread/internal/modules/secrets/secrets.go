// Package secrets is k6/secrets and the secret sources behind
// `spread run --secret-source`: file (key=value lines), env (environment
// variables, optionally under a prefix) and mock (values on the command
// line), each optionally named and one the default, as k6 documents.
// Every secret a script reads is redacted from the run's log lines
// (***SECRET_REDACTED***).
package secrets

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/dop251/goja"

	"spread.dev/spread/ext"
	"spread.dev/spread/internal/modules/promises"
)

func init() { ext.Register("k6/secrets", module{}) }

// Redacted replaces secret values in logs.
const Redacted = "***SECRET_REDACTED***"

// Source is one configured secret source.
type Source struct {
	Kind    string // file, env, mock
	Name    string // "" when unnamed
	Default bool
	values  map[string]string // file, mock
	prefix  string            // env
	env     func(string) (string, bool)
}

// Get returns the secret called key.
func (s *Source) Get(key string) (string, error) {
	if s.Kind == "env" {
		if v, ok := s.env(s.prefix + key); ok {
			return v, nil
		}
		return "", fmt.Errorf("no secret %q in the env source (no environment variable %s%s)", key, s.prefix, key)
	}
	if v, ok := s.values[key]; ok {
		return v, nil
	}
	return "", fmt.Errorf("no secret %q in the %s source", key, s.label())
}

func (s *Source) label() string {
	if s.Name != "" {
		return s.Kind + " " + strconvQuote(s.Name)
	}
	return s.Kind
}

func strconvQuote(s string) string { return fmt.Sprintf("%q", s) }

// ParseSource parses one --secret-source value:
//
//	file=PATH | file=name=N,filename=PATH[,default]
//	env | env=[prefix=P][,name=N][,default]
//	mock=K=V[,K=V...][,name=N][,default]
//
// lookupEnv reads the environment (os.LookupEnv in spread).
func ParseSource(spec string, lookupEnv func(string) (string, bool)) (*Source, error) {
	kind, cfg, _ := strings.Cut(spec, "=")
	s := &Source{Kind: kind}
	parts := []string{}
	if cfg != "" {
		parts = strings.Split(cfg, ",")
	}
	switch kind {
	case "file":
		if len(parts) == 1 && !strings.Contains(parts[0], "=") && parts[0] != "default" {
			parts = []string{"filename=" + parts[0]}
		}
		filename := ""
		for _, p := range parts {
			k, v, hasV := strings.Cut(p, "=")
			switch {
			case k == "default" && !hasV:
				s.Default = true
			case k == "name" && hasV:
				s.Name = v
			case k == "filename" && hasV:
				filename = v
			default:
				return nil, fmt.Errorf("--secret-source %q: unknown file option %q (want PATH, or name=N,filename=PATH[,default])", spec, p)
			}
		}
		if filename == "" {
			return nil, fmt.Errorf("--secret-source %q: the file source needs a file (file=PATH)", spec)
		}
		vals, err := readFile(filename)
		if err != nil {
			return nil, fmt.Errorf("--secret-source %q: %w", spec, err)
		}
		s.values = vals
	case "env":
		s.env = lookupEnv
		for _, p := range parts {
			k, v, hasV := strings.Cut(p, "=")
			switch {
			case k == "default" && !hasV:
				s.Default = true
			case k == "name" && hasV:
				s.Name = v
			case k == "prefix" && hasV:
				s.prefix = v
			default:
				return nil, fmt.Errorf("--secret-source %q: unknown env option %q (want prefix=P, name=N, default)", spec, p)
			}
		}
	case "mock":
		s.values = map[string]string{}
		for _, p := range parts {
			k, v, hasV := strings.Cut(p, "=")
			switch {
			case k == "default" && !hasV:
				s.Default = true
			case k == "name" && hasV:
				s.Name = v
			case hasV && k != "":
				s.values[k] = strings.Trim(v, `"`)
			default:
				return nil, fmt.Errorf("--secret-source %q: mock options are KEY=VALUE, name=N or default, not %q", spec, p)
			}
		}
	default:
		return nil, fmt.Errorf("--secret-source %q: unknown source %q (want file, env or mock)", spec, kind)
	}
	return s, nil
}

// readFile reads key=value lines; blank lines and # comments are skipped.
func readFile(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	vals := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSuffix(sc.Text(), "\r")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(strings.TrimSpace(line), "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("%s:%d: want KEY=VALUE", path, n)
		}
		vals[k] = v
	}
	return vals, sc.Err()
}

// Set is the run's secret sources.
type Set struct {
	byName map[string]*Source
	def    *Source
	all    []*Source
}

// NewSet checks the sources: names unique, at most one default; a lone
// source is the default.
func NewSet(srcs []*Source) (*Set, error) {
	s := &Set{byName: map[string]*Source{}, all: srcs}
	for _, src := range srcs {
		if src.Name != "" {
			if _, dup := s.byName[src.Name]; dup {
				return nil, fmt.Errorf("--secret-source: two sources are named %q", src.Name)
			}
			s.byName[src.Name] = src
		}
		if src.Default {
			if s.def != nil {
				return nil, errors.New("--secret-source: more than one source is marked default")
			}
			s.def = src
		}
	}
	if s.def == nil && len(srcs) == 1 {
		s.def = srcs[0]
	}
	return s, nil
}

var (
	mu      sync.Mutex
	current *Set
	known   = map[string]bool{}
	redact  *strings.Replacer
)

// Configure installs the run's sources (the CLI calls it once).
func Configure(s *Set) {
	mu.Lock()
	current = s
	mu.Unlock()
}

func sources() *Set {
	mu.Lock()
	defer mu.Unlock()
	return current
}

// remember adds a value to the redaction list.
func remember(v string) {
	if v == "" {
		return
	}
	mu.Lock()
	defer mu.Unlock()
	if known[v] {
		return
	}
	known[v] = true
	// longest first, so a secret containing another is hidden whole.
	vals := make([]string, 0, len(known))
	for k := range known {
		vals = append(vals, k)
	}
	sort.Slice(vals, func(i, j int) bool { return len(vals[i]) > len(vals[j]) })
	args := make([]string, 0, 2*len(vals))
	for _, k := range vals {
		args = append(args, k, Redacted)
	}
	redact = strings.NewReplacer(args...)
}

// Redact hides every secret read so far in s (the logger calls it).
func Redact(s string) string {
	mu.Lock()
	r := redact
	mu.Unlock()
	if r == nil {
		return s
	}
	return r.Replace(s)
}

type module struct{}

func (module) NewModuleInstance(vu ext.VU) ext.Instance { return &instance{vu: vu} }

type instance struct{ vu ext.VU }

func (i *instance) Exports() ext.Exports {
	return ext.Exports{Named: map[string]any{
		"get": func(name goja.Value) *goja.Promise { return i.get(nil, name) },
		"source": func(name string) *goja.Object {
			rt := i.vu.Runtime()
			o := rt.NewObject()
			_ = o.Set("get", func(key goja.Value) *goja.Promise { return i.get(&name, key) })
			return o
		},
	}}
}

// get reads a secret from the named source (nil: the default one).
func (i *instance) get(source *string, key goja.Value) *goja.Promise {
	k, hasKey := "", key != nil && !goja.IsUndefined(key) && !goja.IsNull(key)
	if hasKey {
		k = key.String()
	}
	return promises.New(i.vu, func() (promises.Settle, error) {
		set := sources()
		if !hasKey {
			return nil, errors.New("secrets.get: needs the secret's name")
		}
		var src *Source
		switch {
		case set == nil || len(set.all) == 0:
			return nil, errors.New("secrets: no secret source is configured (spread run --secret-source=...)")
		case source != nil:
			src = set.byName[*source]
			if src == nil {
				return nil, fmt.Errorf("secrets: no secret source named %q", *source)
			}
		default:
			src = set.def
			if src == nil {
				return nil, errors.New("secrets: several sources and none is the default (add ,default to one --secret-source, or use secrets.source(name))")
			}
		}
		v, err := src.Get(k)
		if err != nil {
			return nil, err
		}
		remember(v)
		return func(rt *goja.Runtime) (goja.Value, error) { return rt.ToValue(v), nil }, nil
	})
}
