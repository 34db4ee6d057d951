package js

import (
	"testing"

	"github.com/dop251/goja"
)

// A top-level-await script importing a UMD library that opens with a
// legal comment (papaparse's npm build does): esbuild moved such comments
// after the final export clause, and wrapTLA refused the bundle with
// "unexpected export statement in the bundle".
func TestTopLevelAwaitWithLicensedUMDImport(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"lib.js": `/* @license
Lib v1
License: MIT
*/
(function (root, factory) {
	if (typeof module === 'object' && typeof exports !== 'undefined') module.exports = factory();
	else root.Lib = factory();
})(this, function () { return { twice: (x) => 2 * x }; });
`,
		"main.js": `import Lib from './lib.js';
/*! keep me */
const n = await Promise.resolve(Lib.twice(21));
export const options = { vus: 1 };
export default function () { return n; }
`,
	})
	p, err := Compile(dir + "/main.js")
	if err != nil {
		t.Fatalf("compile: %v", err)
	}
	if !p.TopLevelAwait {
		t.Fatal("the script was not compiled as top-level await")
	}
	rt, exp := run(t, p)
	prom, ok := exp.Get(TLAExport).Export().(*goja.Promise)
	if !ok {
		t.Fatalf("module.exports.%s is %v, not a promise", TLAExport, exp.Get(TLAExport))
	}
	if prom.State() != goja.PromiseStateFulfilled {
		t.Fatalf("promise %v: %v", prom.State(), prom.Result())
	}
	exports := prom.Result().ToObject(rt)
	fn, ok := goja.AssertFunction(exports.Get("default"))
	if !ok {
		t.Fatal("no default export")
	}
	v, err := fn(goja.Undefined())
	if err != nil || v.ToInteger() != 42 {
		t.Fatalf("default() = %v, %v; want 42", v, err)
	}
	if exports.Get("options") == nil {
		t.Error("options export lost")
	}
}
