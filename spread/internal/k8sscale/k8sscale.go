// Package k8sscale changes the replica count of Kubernetes workloads at
// planned times of a test (`spread run --k8s-scale deployment/NAME=N@T`),
// through the scale subresource, so a scale-up experiment on a real
// cluster is one reproducible run instead of a hand-typed `kubectl scale`.
package k8sscale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// Step is one planned scale: set Kind/Name to Replicas At after the test start.
type Step struct {
	Namespace string // "" = the client's default namespace
	Kind      string // "deployment" or "statefulset"
	Name      string
	Replicas  int32
	At        time.Duration
	Spec      string // as written
}

// Target is "kind/name", as kubectl writes it.
func (s Step) Target() string { return s.Kind + "/" + s.Name }

// ParseStep reads "[NAMESPACE/]deployment/NAME=REPLICAS@TIME", e.g.
// "deployment/echo-server=2@2m" (also deploy/, statefulset/, sts/).
func ParseStep(spec string) (Step, error) {
	bad := func(why string) (Step, error) {
		return Step{}, fmt.Errorf("--k8s-scale %q: %s (want [NAMESPACE/]deployment/NAME=REPLICAS@TIME, e.g. deployment/echo-server=2@2m)", spec, why)
	}
	target, rest, ok := strings.Cut(strings.TrimSpace(spec), "=")
	if !ok {
		return bad("no '='")
	}
	reps, at, ok := strings.Cut(rest, "@")
	if !ok {
		return bad("no '@TIME'")
	}
	n, err := strconv.ParseInt(strings.TrimSpace(reps), 10, 32)
	if err != nil || n < 0 {
		return bad("replicas must be a whole number >= 0")
	}
	d, err := time.ParseDuration(strings.TrimSpace(at))
	if err != nil || d < 0 {
		return bad("time must be a duration >= 0 such as 90s or 2m")
	}
	parts := strings.Split(target, "/")
	var st Step
	switch len(parts) {
	case 2:
		st.Kind, st.Name = parts[0], parts[1]
	case 3:
		st.Namespace, st.Kind, st.Name = parts[0], parts[1], parts[2]
	default:
		return bad("target must be kind/name or namespace/kind/name")
	}
	switch strings.ToLower(st.Kind) {
	case "deployment", "deployments", "deploy":
		st.Kind = "deployment"
	case "statefulset", "statefulsets", "sts":
		st.Kind = "statefulset"
	default:
		return bad(fmt.Sprintf("kind %q cannot be scaled here (deployment or statefulset)", st.Kind))
	}
	if st.Name == "" || (len(parts) == 3 && st.Namespace == "") {
		return bad("empty name")
	}
	st.Replicas, st.At, st.Spec = int32(n), d, spec
	return st, nil
}

// ParseSteps parses every spec and sorts the steps by time.
func ParseSteps(specs []string) ([]Step, error) {
	var out []Step
	for _, s := range specs {
		for _, part := range strings.Split(s, ",") {
			if strings.TrimSpace(part) == "" {
				continue
			}
			st, err := ParseStep(part)
			if err != nil {
				return nil, err
			}
			out = append(out, st)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out, nil
}

// Client returns a clientset and its default namespace: in-cluster
// credentials (a pod's service account) when running in a pod, else the
// kubeconfig ($KUBECONFIG or ~/.kube/config, current context).
func Client() (kubernetes.Interface, string, error) {
	if cfg, err := rest.InClusterConfig(); err == nil {
		ns := "default"
		if b, err := os.ReadFile("/var/run/secrets/kubernetes.io/serviceaccount/namespace"); err == nil && len(strings.TrimSpace(string(b))) > 0 {
			ns = strings.TrimSpace(string(b))
		}
		cs, err := kubernetes.NewForConfig(cfg)
		if err != nil {
			return nil, "", fmt.Errorf("k8s-scale: in-cluster client: %w", err)
		}
		return cs, ns, nil
	}
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(clientcmd.NewDefaultClientConfigLoadingRules(), &clientcmd.ConfigOverrides{})
	cfg, err := loader.ClientConfig()
	if err != nil {
		return nil, "", fmt.Errorf("k8s-scale: no in-cluster credentials and no usable kubeconfig ($KUBECONFIG or ~/.kube/config): %w", err)
	}
	ns, _, err := loader.Namespace()
	if err != nil || ns == "" {
		ns = "default"
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("k8s-scale: client from kubeconfig: %w", err)
	}
	return cs, ns, nil
}

// Scaler applies steps at their times and logs what it did.
type Scaler struct {
	client    kubernetes.Interface
	namespace string
	steps     []Step
	log       io.Writer

	mu   sync.Mutex
	done []Result
}

// Result is what one step did.
type Result struct {
	Step       Step
	Time       time.Time
	From       int32
	Err        error
	NotApplied bool // the test ended before the step's time
}

// New returns a Scaler for steps; namespace is used where a step names none.
func New(client kubernetes.Interface, namespace string, steps []Step, log io.Writer) *Scaler {
	if log == nil {
		log = io.Discard
	}
	return &Scaler{client: client, namespace: namespace, steps: steps, log: log}
}

func (s *Scaler) ns(st Step) string {
	if st.Namespace != "" {
		return st.Namespace
	}
	return s.namespace
}

// Check reads the scale of every target, so missing objects or
// permissions show before the test rather than minutes into it.
func (s *Scaler) Check(ctx context.Context) error {
	var errs []error
	for _, st := range s.steps {
		if _, err := s.getScale(ctx, st); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Run applies each step at start+At until ctx ends; steps whose time has
// not come when ctx ends are reported as not applied. It returns the
// errors of the steps that failed.
func (s *Scaler) Run(ctx context.Context, start time.Time) error {
	var errs []error
	for i, st := range s.steps {
		t := time.NewTimer(time.Until(start.Add(st.At)))
		select {
		case <-ctx.Done():
			t.Stop()
			for _, left := range s.steps[i:] {
				fmt.Fprintf(s.log, "k8s-scale: %s=%d@%s not applied: the test ended first\n", left.Target(), left.Replicas, left.At)
				s.record(Result{Step: left, NotApplied: true})
			}
			return errors.Join(errs...)
		case <-t.C:
		}
		// A scale call may not outlive the test by much.
		callCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 15*time.Second)
		res := s.Apply(callCtx, st)
		cancel()
		res.Time = time.Now()
		if res.Err != nil {
			errs = append(errs, res.Err)
			fmt.Fprintf(s.log, "k8s-scale: at +%s: %v\n", res.Time.Sub(start).Round(time.Millisecond), res.Err)
		} else {
			fmt.Fprintf(s.log, "k8s-scale: at +%s: %s in namespace %s scaled %d -> %d replicas\n",
				res.Time.Sub(start).Round(time.Millisecond), st.Target(), s.ns(st), res.From, st.Replicas)
		}
		s.record(res)
	}
	return errors.Join(errs...)
}

func (s *Scaler) record(r Result) {
	s.mu.Lock()
	s.done = append(s.done, r)
	s.mu.Unlock()
}

// Results returns what the steps did so far.
func (s *Scaler) Results() []Result {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Result(nil), s.done...)
}

// Apply sets one step's replica count now by patching the scale subresource.
func (s *Scaler) Apply(ctx context.Context, st Step) Result {
	res := Result{Step: st}
	cur, err := s.getScale(ctx, st)
	if err != nil {
		res.Err = err
		return res
	}
	res.From = cur
	patch := []byte(fmt.Sprintf(`{"spec":{"replicas":%d}}`, st.Replicas))
	ns := s.ns(st)
	switch st.Kind {
	case "statefulset":
		_, err = s.client.AppsV1().StatefulSets(ns).Patch(ctx, st.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
	default:
		_, err = s.client.AppsV1().Deployments(ns).Patch(ctx, st.Name, types.MergePatchType, patch, metav1.PatchOptions{}, "scale")
	}
	if err != nil {
		res.Err = explain("patch the scale of", st, ns, err)
	}
	return res
}

func (s *Scaler) getScale(ctx context.Context, st Step) (int32, error) {
	ns := s.ns(st)
	var (
		replicas int32
		err      error
	)
	switch st.Kind {
	case "statefulset":
		sc, e := s.client.AppsV1().StatefulSets(ns).GetScale(ctx, st.Name, metav1.GetOptions{})
		err = e
		if e == nil {
			replicas = sc.Spec.Replicas
		}
	default:
		sc, e := s.client.AppsV1().Deployments(ns).GetScale(ctx, st.Name, metav1.GetOptions{})
		err = e
		if e == nil {
			replicas = sc.Spec.Replicas
		}
	}
	if err != nil {
		return 0, explain("read the scale of", st, ns, err)
	}
	return replicas, nil
}

// explain turns API errors into what the user should fix.
func explain(what string, st Step, ns string, err error) error {
	var hint string
	switch {
	case apierrors.IsNotFound(err):
		hint = fmt.Sprintf("no %s in namespace %q", st.Target(), ns)
	case apierrors.IsForbidden(err):
		hint = fmt.Sprintf("forbidden: the service account needs get/patch on %ss/scale in namespace %q (see k8s/loadtest/common/rbac.yaml)", st.Kind, ns)
	case apierrors.IsUnauthorized(err):
		hint = "unauthorized: check the credentials (kubeconfig or service account token)"
	}
	if hint != "" {
		return fmt.Errorf("k8s-scale: cannot %s %s: %s: %w", what, st.Target(), hint, err)
	}
	return fmt.Errorf("k8s-scale: cannot %s %s in namespace %q: %w", what, st.Target(), ns, err)
}

// SegmentFor returns the --execution-segment of instance index of count
// equal instances ("1/4:2/4" for 1 of 4), as an Indexed Job's pods use it.
func SegmentFor(index, count int) (string, error) {
	if count < 1 {
		return "", fmt.Errorf("execution segment count %d: want >= 1", count)
	}
	if index < 0 || index >= count {
		return "", fmt.Errorf("execution segment index %d: want 0..%d (count %d)", index, count-1, count)
	}
	point := func(i int) string {
		switch i {
		case 0:
			return "0"
		case count:
			return "1"
		}
		return fmt.Sprintf("%d/%d", i, count)
	}
	return point(index) + ":" + point(index+1), nil
}
