package vu

import (
	"context"
	"testing"

	"spread.dev/spread/ext"
)

// withDefault is a test module with a default export besides its named ones.
type withDefault struct{}

func (withDefault) NewModuleInstance(ext.VU) ext.Instance { return withDefault{} }
func (withDefault) Exports() ext.Exports {
	return ext.Exports{Default: "the-default", Named: map[string]any{"one": func() int { return 1 }}}
}

// TestModuleInterop: every way a script reaches a module's exports sees
// the same values (modules hand them over lazily, and the bundle's import
// interop does not copy a native module; see ext.Exports.Value and
// js.lightInterop): default, named, namespace imports and require(),
// typeof, enumeration, assignment and deletion, and a module with a
// default export of its own.
func TestModuleInterop(t *testing.T) {
	script := `
import probe, { tags } from 'k6/x/probe';
import * as ns from 'k6/x/probe';
import k6, { sleep } from 'k6';
import dflt, { one } from 'k6/x/dflt';
import * as dns from 'k6/x/dflt';
const cjs = require('k6/x/probe');
const dcjs = require('k6/x/dflt');
export default function () {
	const o = {};
	o.keysDefault = Object.keys(probe).join();
	o.keysNs = Object.keys(ns).join();
	o.forIn = []; for (const k in cjs) o.forIn.push(k); o.forIn = o.forIn.join();
	o.own = Object.getOwnPropertyNames(probe).join();
	o.same = probe === cjs && ns.default === probe && ns.tags === probe.tags && tags === cjs.tags;
	o.types = [typeof probe, typeof ns, typeof tags, typeof probe.state, typeof ns.ctxDone, typeof cjs.nothing].join();
	o.k6 = k6.sleep === sleep && Object.keys(k6).join() === 'check,fail,group,randomSeed,sleep' && Object.keys(k6).every((k) => typeof k6[k] === 'function');
	o.desc = JSON.stringify(Object.getOwnPropertyDescriptor(probe, 'tags'), (k, v) => typeof v === 'function' ? 'fn' : v);
	o.inOp = ['tags' in probe, 'nope' in probe, 'default' in ns, 'tags' in ns].join();
	probe.extra = 5;
	o.extra = cjs.extra + ',' + ns.extra + ',' + Object.keys(cjs).includes('extra');
	probe.tags = 'replaced';
	o.replaced = ns.tags;
	delete probe.extra;
	o.deleted = ('extra' in cjs) + ',' + Object.keys(probe).includes('extra');
	o.dflt = dflt + ',' + one() + ',' + dns.default + ',' + dns.one() + ',' + dcjs.default + ',' + dcjs.__esModule;
	o.hidden = Object.getOwnPropertyNames(cjs).includes('__spreadNamespace') || Object.keys(ns).includes('__spreadNamespace');
	return o;
}
`
	p, s := &probe{}, &sink{}
	sh := newShared(t, script, p, s)
	sh.Resolver.Builtins["k6/x/dflt"] = withDefault{}
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	res, err := v.Call(context.Background(), "default", "")
	if err != nil {
		t.Fatal(err)
	}
	got := res.Export().(map[string]any)
	want := map[string]any{
		"keysDefault": "ctxDone,state,tags",
		"keysNs":      "default,ctxDone,state,tags",
		"forIn":       "ctxDone,state,tags",
		"own":         "ctxDone,state,tags",
		"same":        true,
		"types":       "object,object,function,function,function,undefined",
		"k6":          true,
		"desc":        `{"value":"fn","writable":true,"enumerable":true,"configurable":true}`,
		"inOp":        "true,false,true,true",
		"extra":       "5,5,true",
		"replaced":    "replaced",
		"deleted":     "false,false",
		"dflt":        "the-default,1,the-default,1,the-default,true",
		"hidden":      false,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
}

// TestEnvObject: __ENV reads the run's and the scenario's environment
// without a copy (envObject) and behaves as a plain object of strings.
func TestEnvObject(t *testing.T) {
	script := `export default function () {
	const o = {};
	o.read = __ENV.A + ',' + __ENV.S + ',' + typeof __ENV.NOPE + ',' + ('A' in __ENV);
	o.keys = Object.keys(__ENV).join();
	o.json = JSON.stringify(__ENV);
	__ENV.NEW = 'n'; __ENV.A = 'changed'; delete __ENV.S;
	o.after = Object.keys(__ENV).join() + '|' + __ENV.A + '|' + ('S' in __ENV) + '|' + JSON.stringify(Object.assign({}, __ENV));
	delete __ENV.NEW; __ENV.S = 'back';
	o.again = Object.keys(__ENV).join() + '|' + __ENV.S;
	return o;
}
`
	sh := newShared(t, script, &probe{}, &sink{})
	sh.Env = map[string]string{"A": "from-env", "B": "b", "S": "run"}
	v, err := New(context.Background(), sh, hostFor(sh), 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	v.setEnv(map[string]string{"S": "scenario"})
	res, err := v.Call(context.Background(), "default", "")
	if err != nil {
		t.Fatal(err)
	}
	got := res.Export().(map[string]any)
	want := map[string]any{
		"read":  "from-env,scenario,undefined,true",
		"keys":  "A,B,S",
		"json":  `{"A":"from-env","B":"b","S":"scenario"}`,
		"after": `A,B,NEW|changed|false|{"A":"changed","B":"b","NEW":"n"}`,
		"again": "A,B,S|back",
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s = %v, want %v", k, got[k], w)
		}
	}
}
