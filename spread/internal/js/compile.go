// Package js turns a user's script (ES module or TypeScript, with relative
// imports) into one CommonJS program goja can run, and provides the pieces
// every VU runtime shares: the require() shim, console, open() and error
// formatting with positions in the user's own files.
package js

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/dop251/goja"
	"github.com/evanw/esbuild/pkg/api"

	"spread.dev/spread/ext"
)

// Program is a compiled script, shareable by every VU runtime.
type Program struct {
	// Path is the script's absolute path; open() resolves relative to its folder.
	Path string
	// Code is the CommonJS bundle with an inline source map.
	Code string
	// Prog is the goja program compiled from Code.
	Prog *goja.Program
	// TopLevelAwait: the script uses top-level await, so module.exports
	// holds the promise of its exports under TLAExport (see wrapTLA).
	TopLevelAwait bool
	// Inputs are the local files bundled (the script and its modules).
	Inputs []string
	// scoped: Prog evaluates to the function holding the bundle (wrapScope).
	scoped bool
}

// CompileError is a script error found before anything ran (syntax, an
// import that cannot be resolved); Error() gives "file:line:col: message".
type CompileError struct {
	Messages []string
}

func (e *CompileError) Error() string { return strings.Join(e.Messages, "\n") }

// Compile bundles the script at path (.js, .mjs, .cjs, .ts) with its
// relative imports; `k6`, `k6/*` and remote
// URLs stay external for require() at run time.
func Compile(path string) (*Program, error) {
	l, err := NewRemoteLoader()
	if err != nil {
		return nil, err
	}
	return CompileWith(path, CompileOptions{Remote: l})
}

// CompileOptions say how Compile treats remote imports.
type CompileOptions struct {
	// Remote fetches https:// modules to bundle them; nil leaves them to
	// require() at run time.
	Remote *RemoteLoader
	// KeepRemote names the URLs the engine serves itself (k6's jslib
	// summary helper): those stay require()d and are not fetched.
	KeepRemote func(url string) bool
}

// CompileWith is Compile with explicit options.
func CompileWith(path string, co CompileOptions) (*Program, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("script %s: %w", path, err)
	}
	if _, err := os.Stat(abs); err != nil {
		return nil, fmt.Errorf("script: %w", err)
	}
	cwd, _ := os.Getwd()
	res := api.Build(buildOptions(abs, cwd, false, co))
	tla := false
	if len(res.Errors) > 0 && hasTLAError(res.Errors) {
		// CommonJS cannot hold a top-level await: bundle as an ES module
		// instead and run its body as an async function (see wrapTLA).
		res = api.Build(buildOptions(abs, cwd, true, co))
		tla = true
	}
	if len(res.Errors) > 0 {
		return nil, &CompileError{Messages: formatMessages(res.Errors, cwd)}
	}
	if len(res.OutputFiles) == 0 {
		return nil, errors.New("script: esbuild produced no output")
	}
	var code string
	var smap []byte
	for _, f := range res.OutputFiles {
		switch {
		case strings.HasSuffix(f.Path, ".js.map"):
			smap = f.Contents
		case strings.HasSuffix(f.Path, ".js"):
			code = string(f.Contents)
		}
	}
	code = lightInterop(code)
	linesBefore := 0
	if tla {
		if code, err = wrapTLA(code); err != nil {
			return nil, fmt.Errorf("script: top-level await: %w", err)
		}
	} else {
		code, linesBefore = wrapScope(code)
	}
	code, err = inlineSourceMap(code, smap, cwd, filepath.Dir(abs), linesBefore)
	if err != nil {
		return nil, fmt.Errorf("script: source map: %w", err)
	}
	prog, err := goja.Compile(displayPath(abs, cwd), code, false)
	if err != nil {
		// esbuild accepted it, goja did not: report in the user's terms as
		// far as we can (goja's error carries the mapped position).
		return nil, &CompileError{Messages: []string{err.Error()}}
	}
	return &Program{Path: abs, Code: code, Prog: prog, TopLevelAwait: tla, Inputs: localInputs(res.Metafile, cwd), scoped: !tla}, nil
}

// localInputs lists the local files esbuild bundled (absolute paths),
// from its metafile: what an archive must carry besides open()ed files.
func localInputs(metafile, cwd string) []string {
	var m struct {
		Inputs map[string]json.RawMessage `json:"inputs"`
	}
	if json.Unmarshal([]byte(metafile), &m) != nil {
		return nil
	}
	var out []string
	for k := range m.Inputs {
		if i := strings.Index(k, ":"); i > 0 && !strings.ContainsAny(k[:i], `/\`) {
			continue // another namespace: remote:, spread-external:
		}
		out = append(out, filepath.Join(cwd, filepath.FromSlash(k)))
	}
	sort.Strings(out)
	return out
}

// buildOptions are esbuild's settings for the script at abs: a CommonJS
// bundle, or for a script with top-level await an ES module bundle whose
// imports of k6 modules and remote URLs become require() calls (by the
// externals plugin), so its only ESM syntax left is the final export clause.
func buildOptions(abs, cwd string, tla bool, co CompileOptions) api.BuildOptions {
	o := api.BuildOptions{
		EntryPoints:    []string{abs},
		Bundle:         true,
		Write:          false,
		Format:         api.FormatCommonJS,
		Platform:       api.PlatformNeutral,
		Target:         api.ES2017,
		Sourcemap:      api.SourceMapExternal,
		SourcesContent: api.SourcesContentExclude,
		External:       []string{"k6", "k6/*", "https://*", "http://*"},
		AbsWorkingDir:  cwd,
		Outfile:        filepath.Join(cwd, "__spread_bundle.js"),
		LogLevel:       api.LogLevelSilent,
		MainFields:     []string{"module", "main"},
		Metafile:       true,
		// Legal comments (/* @license */, /*! ... */) stay where they are:
		// esbuild's default for bundles moves them to the end of the file,
		// after the export clause wrapTLA must find last (papaparse's UMD
		// build starts with one).
		LegalComments:     api.LegalCommentsInline,
		ResolveExtensions: []string{".ts", ".js", ".mjs", ".cjs", ".json"},
		Loader: map[string]api.Loader{
			".js": api.LoaderJS, ".mjs": api.LoaderJS, ".cjs": api.LoaderJS,
			".ts": api.LoaderTS, ".json": api.LoaderJSON,
		},
		Supported: map[string]bool{
			// goja runs these natively; keeping them avoids esbuild's helpers
			// and keeps positions in source maps simpler.
			"async-await": true, "generator": true, "arrow": true,
		},
	}
	o.Plugins = append(o.Plugins, nodeBuiltins)
	if co.Remote != nil {
		o.External = []string{"k6", "k6/*"}
		// in the ES module build, a kept URL is left to externalsAsRequire.
		o.Plugins = append(o.Plugins, remotePlugin(co.Remote, co.KeepRemote, tla))
	}
	if tla {
		o.Format = api.FormatESModule
		o.External = nil
		o.Plugins = append(o.Plugins, externalsAsRequire)
		o.Supported["top-level-await"] = true
	}
	return o
}

// nodeBuiltins leaves require()s of Node's built-in modules unresolved
// instead of failing the build: libraries k6 scripts bundle (papaparse)
// reach for `stream` only on code paths that never run in k6, where k6,
// which does not bundle, never notices them. Should one run, it fails
// there with the VU's "unknown module" error.
var nodeBuiltins = api.Plugin{
	Name: "spread-node-builtins",
	Setup: func(b api.PluginBuild) {
		b.OnResolve(api.OnResolveOptions{Filter: `^(node:.*|assert|buffer|child_process|crypto|events|fs|http|https|net|os|path|process|stream|string_decoder|tls|url|util|zlib)$`},
			func(a api.OnResolveArgs) (api.OnResolveResult, error) {
				if a.Kind != api.ResolveJSRequireCall {
					return api.OnResolveResult{}, nil // imports resolve (and fail) as before
				}
				return api.OnResolveResult{Path: a.Path, External: true}, nil
			})
	},
}

// hasTLAError says whether esbuild refused the CommonJS bundle for a
// top-level await.
func hasTLAError(msgs []api.Message) bool {
	for _, m := range msgs {
		if strings.Contains(m.Text, "Top-level await") {
			return true
		}
	}
	return false
}

// externalsAsRequire turns each import of a k6 module or remote URL into
// a tiny CommonJS module `module.exports = require(path)` inside the
// bundle: esbuild then gives it the same interop as in the CommonJS
// bundle, and the ES module output has no import statements.
var externalsAsRequire = api.Plugin{
	Name: "spread-externals",
	Setup: func(b api.PluginBuild) {
		b.OnResolve(api.OnResolveOptions{Filter: `^(k6$|k6/|https?://)`}, func(a api.OnResolveArgs) (api.OnResolveResult, error) {
			if a.Namespace == "spread-external" {
				// the shim's own require(): left to the VU's require at run time.
				return api.OnResolveResult{Path: a.Path, External: true}, nil
			}
			return api.OnResolveResult{Path: a.Path, Namespace: "spread-external"}, nil
		})
		b.OnLoad(api.OnLoadOptions{Filter: `.*`, Namespace: "spread-external"}, func(a api.OnLoadArgs) (api.OnLoadResult, error) {
			q, _ := json.Marshal(a.Path)
			src := "module.exports = require(" + string(q) + ");"
			return api.OnLoadResult{Contents: &src, Loader: api.LoaderJS}, nil
		})
	},
}

// wrapScope runs the CommonJS bundle inside a function, so its top-level
// declarations (esbuild's helpers, the imports, the script's own
// functions and variables) are the function's locals instead of
// properties of the VU's global object: as in k6, where a module's
// top-level names are not globals either, and a VU does not grow its
// global object by every one of them (memory per VU; a local is also
// faster to read than a global). Program.Run calls the function with the
// global object as `this` (the top-level `this` of a script). The opening
// is a line of its own, so the source map moves down
// by that one line (linesBefore).
func wrapScope(code string) (string, int) {
	tail := ""
	if i := strings.LastIndex(code, "//# sourceMappingURL="); i >= 0 {
		code, tail = code[:i], code[i:]
	}
	return "(() => {\n" + code + "\n})\n" + tail, 1
}

// Run runs the program in rt: for a wrapped bundle (wrapScope) the
// program's value is the function holding the bundle, called here from
// Go, so a stack trace of the init code has no frame for the wrapper's
// call.
func (p *Program) Run(rt *goja.Runtime) error {
	v, err := rt.RunProgram(p.Prog)
	if err != nil || !p.scoped {
		return err
	}
	fn, ok := goja.AssertFunction(v)
	if !ok {
		return errors.New("script: the bundle did not compile to a function")
	}
	_, err = fn(rt.GlobalObject())
	return err
}

// esbuild's interop helpers as it writes them in a bundle (one line
// each), and what lightInterop makes of them. A test checks that the
// bundle still contains them, so an esbuild upgrade that rewords them
// fails there instead of quietly costing memory again.
const (
	toESMHelper      = "var __toESM = (mod, isNodeMode, target) => ("
	toESMNative      = "var __toESM = (mod, isNodeMode, target) => mod != null && mod." + ext.NamespaceKey + " || ("
	toCommonJSHelper = `var __toCommonJS = (mod) => __copyProps(__defProp({}, "__esModule", { value: true }), mod);`
	toCommonJSLight  = `var __toCommonJS = (mod) => __defProp(mod, "__esModule", { value: true });`
	exportLoop       = "\n  for (var name in all)\n    __defProp(target, name, { get: all[name], enumerable: true });"
	exportLoopLight  = "\n  for (var __k = Object.keys(all), __i = 0, name; __i < __k.length && ((name = __k[__i]), true); __i++)\n    __defProp(target, name, { get: all[name], enumerable: true });"
)

// lightInterop rewrites two of esbuild's interop helpers so a VU does not
// copy objects it can use as they are (memory per VU: each copied property
// is a getter arrow function, per VU):
//   - __toESM(require("k6/http")) (a default or namespace import) copies
//     every export of the module onto a new object through a getter; a
//     native module's object already carries its namespace
//     (ext.NamespaceKey), which __toESM now returns. Other modules (bundled
//     CommonJS libraries) keep esbuild's interop.
//   - __toCommonJS(x_exports) (module.exports of an ES module) copies the
//     module's export getters onto a new object; the exports object itself
//     has the same enumerable getters, so it gets __esModule and is used as
//     it is.
//   - __export(x_exports, {...}) walks its object literal with for-in,
//     which in goja also walks Object.prototype and so builds every one of
//     its built-in methods (a dozen function objects per VU); the same keys
//     come from Object.keys.
//
// Each is a one-line edit, so line numbers (the source map) do not move.
func lightInterop(code string) string {
	code = replaceLine(code, toESMHelper, toESMNative)
	code = replaceLine(code, toCommonJSHelper, toCommonJSLight)
	if i := strings.Index(code, "\nvar __export = (target, all) => {"+exportLoop); i >= 0 {
		code = strings.Replace(code, exportLoop, exportLoopLight, 1)
	}
	return code
}

// replaceLine replaces old, when it starts a line of code, with repl.
func replaceLine(code, old, repl string) string {
	if strings.HasPrefix(code, old) {
		return repl + code[len(old):]
	}
	i := strings.Index(code, "\n"+old)
	if i < 0 {
		return code
	}
	return code[:i+1] + repl + code[i+1+len(old):]
}

// TLAExport is the property of module.exports that holds, for a script
// with top-level await, the promise of its real exports.
const TLAExport = "__spreadTopLevelAwait"

// exportClause matches the export statement esbuild ends an ES module
// bundle with: `export {\n  a as default,\n  options\n};`.
var exportClause = regexp.MustCompile(`(?s)\nexport \{([^}]*)\};\s*(//# sourceMappingURL=[^\n]*\n?)?$`)

// wrapTLA turns an ES module bundle (no imports, see externalsAsRequire)
// into a script whose body runs as an async function: module.exports
// gets a promise of the exports object, which the VU awaits with its
// event loop at the end of the init context. The body keeps its lines
// and columns (the wrapper opens on the first line, a comment, and closes
// after the last mapped code), so the source map stays right.
func wrapTLA(code string) (string, error) {
	m := exportClause.FindStringSubmatchIndex(code)
	var body, items string
	if m == nil {
		if strings.Contains(code, "\nexport ") {
			return "", errors.New("unexpected export statement in the bundle")
		}
		body = code
	} else {
		body, items = code[:m[0]], code[m[2]:m[3]]
	}
	var fields []string
	for _, it := range strings.Split(items, ",") {
		it = strings.TrimSpace(it)
		if it == "" {
			continue
		}
		local, exported := it, it
		if i := strings.Index(it, " as "); i >= 0 {
			local, exported = strings.TrimSpace(it[:i]), strings.TrimSpace(it[i+4:])
		}
		if !strings.HasPrefix(exported, `"`) {
			q, _ := json.Marshal(exported)
			exported = string(q)
		}
		fields = append(fields, exported+": "+local)
	}
	return "module.exports." + TLAExport + " = (async () => {" + body +
		"\nreturn { " + strings.Join(fields, ", ") + " };\n})();\n", nil
}

// formatMessages renders esbuild messages as "file:line:col: text".
func formatMessages(msgs []api.Message, cwd string) []string {
	out := make([]string, 0, len(msgs))
	for _, m := range msgs {
		if m.Location == nil {
			out = append(out, m.Text)
			continue
		}
		l := m.Location
		file := l.File
		if !filepath.IsAbs(file) {
			file = filepath.Join(cwd, file)
		}
		out = append(out, fmt.Sprintf("%s:%d:%d: %s", displayPath(file, cwd), l.Line, l.Column+1, m.Text))
	}
	return out
}

// displayPath shows a path relative to the working directory when it is
// inside it, as users typed it, else absolute.
func displayPath(abs, cwd string) string {
	if rel, err := filepath.Rel(cwd, abs); err == nil && !strings.HasPrefix(rel, "..") {
		return rel
	}
	return abs
}

// inlineSourceMap rewrites the map's sources relative to the script's
// folder (goja resolves them against the program name, the script's path),
// moves its generated lines down by linesBefore, and appends the map to
// code as a data URL.
func inlineSourceMap(code string, smap []byte, outDir, scriptDir string, linesBefore int) (string, error) {
	if i := strings.LastIndex(code, "//# sourceMappingURL="); i >= 0 {
		code = code[:i]
	}
	if len(smap) == 0 {
		return code, nil
	}
	var m map[string]any
	if err := json.Unmarshal(smap, &m); err != nil {
		return "", err
	}
	if mappings, ok := m["mappings"].(string); ok {
		shifted, err := shiftMapColumns(mappings)
		if err != nil {
			return "", err
		}
		// ";" is a generated line without mappings: the lines a wrapper
		// added before the bundle's first.
		m["mappings"] = strings.Repeat(";", linesBefore) + shifted
	}
	if srcs, ok := m["sources"].([]any); ok {
		for i, s := range srcs {
			str, _ := s.(string)
			abs := filepath.Join(outDir, filepath.FromSlash(str))
			if rel, err := filepath.Rel(scriptDir, abs); err == nil {
				srcs[i] = filepath.ToSlash(rel)
			}
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		return "", err
	}
	return code + "//# sourceMappingURL=data:application/json;base64," + base64.StdEncoding.EncodeToString(b) + "\n", nil
}
