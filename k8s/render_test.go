package k8s

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/runtime"
	kjson "k8s.io/apimachinery/pkg/runtime/serializer/json"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// objects is one rendered kustomization, every object decoded strictly
// into its Kubernetes API type, by "Kind/namespace/name".
type objects struct {
	all   map[string]runtime.Object
	certs map[string]certManagerObject
	order []string
}

// certManagerObject is the part of cert-manager's Issuer and Certificate
// the component uses; decoded with unknown fields rejected too.
type certManagerObject struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name      string            `json:"name"`
		Namespace string            `json:"namespace"`
		Labels    map[string]string `json:"labels"`
	} `json:"metadata"`
	Spec struct {
		SelfSigned *struct{} `json:"selfSigned"`
		CA         *struct {
			SecretName string `json:"secretName"`
		} `json:"ca"`
		IsCA        bool     `json:"isCA"`
		CommonName  string   `json:"commonName"`
		SecretName  string   `json:"secretName"`
		Duration    string   `json:"duration"`
		DNSNames    []string `json:"dnsNames"`
		IPAddresses []string `json:"ipAddresses"`
		PrivateKey  *struct {
			Algorithm string `json:"algorithm"`
			Size      int    `json:"size"`
		} `json:"privateKey"`
		IssuerRef *struct {
			Name string `json:"name"`
			Kind string `json:"kind"`
		} `json:"issuerRef"`
	} `json:"spec"`
}

var scheme = func() *runtime.Scheme {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, batchv1.AddToScheme, rbacv1.AddToScheme,
		policyv1.AddToScheme, autoscalingv2.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err)
		}
	}
	return s
}()

// strict fails on unknown or duplicate fields, like `kubectl apply --validate=strict`.
var strict = kjson.NewSerializerWithOptions(kjson.DefaultMetaFactory, scheme, scheme, kjson.SerializerOptions{Yaml: false, Strict: true})

// render builds the kustomization at dir (relative to the k8s folder of
// the test tree) with kustomize's Go API, as `kubectl apply -k` would.
func render(t *testing.T, dir string) *objects {
	t.Helper()
	root := tree(t)
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	rm, err := k.Run(filesys.MakeFsOnDisk(), filepath.Join(root, "k8s", dir))
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	o := &objects{all: map[string]runtime.Object{}, certs: map[string]certManagerObject{}}
	for _, r := range rm.Resources() {
		b, err := r.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: %s: %v", dir, r.CurId(), err)
		}
		key := fmt.Sprintf("%s/%s/%s", r.GetKind(), r.GetNamespace(), r.GetName())
		o.order = append(o.order, key)
		if r.GetGvk().Group == "cert-manager.io" {
			var c certManagerObject
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&c); err != nil {
				t.Errorf("%s: %s: %v", dir, key, err)
			}
			o.certs[key] = c
			continue
		}
		obj, _, err := strict.Decode(b, nil, nil)
		if err != nil {
			t.Errorf("%s: %s does not decode strictly: %v", dir, key, err)
			continue
		}
		o.all[key] = obj
	}
	return o
}

func get[T runtime.Object](t *testing.T, o *objects, kind, ns, name string) T {
	t.Helper()
	key := fmt.Sprintf("%s/%s/%s", kind, ns, name)
	obj, ok := o.all[key]
	if !ok {
		t.Fatalf("no %s in %v", key, o.order)
	}
	v, ok := obj.(T)
	if !ok {
		t.Fatalf("%s is a %T", key, obj)
	}
	return v
}

// find returns the objects of a kind whatever their name (generated
// ConfigMaps and Secrets may carry a hash suffix).
func find[T runtime.Object](o *objects, kind string) []T {
	var out []T
	for _, key := range o.order {
		if obj, ok := o.all[key].(T); ok && len(key) > len(kind) && key[:len(kind)+1] == kind+"/" {
			out = append(out, obj)
		}
	}
	return out
}
