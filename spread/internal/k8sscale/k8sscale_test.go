package k8sscale

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"spread.dev/spread/internal/executor"
)

// apiServer answers the scale subresource of Deployments like the
// Kubernetes API server: GET and merge PATCH, 404 for unknown names and
// 403 for namespaces the caller may not touch.
type apiServer struct {
	mu       sync.Mutex
	replicas map[string]int32 // "ns/name"
	patches  []string         // "METHOD path content-type body"
}

func (a *apiServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// /apis/apps/v1/namespaces/NS/deployments/NAME/scale
	p := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if len(p) != 8 || p[0] != "apis" || p[1] != "apps" || p[2] != "v1" || p[3] != "namespaces" || p[5] != "deployments" || p[7] != "scale" {
		status(w, http.StatusNotFound, "NotFound", "no route "+r.URL.Path)
		return
	}
	ns, name := p[4], p[6]
	if ns == "locked" {
		status(w, http.StatusForbidden, "Forbidden", fmt.Sprintf(`deployments.apps "%s" is forbidden: User "system:serviceaccount:locked:default" cannot get resource "deployments/scale"`, name))
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	n, ok := a.replicas[ns+"/"+name]
	if !ok {
		status(w, http.StatusNotFound, "NotFound", fmt.Sprintf(`deployments.apps "%s" not found`, name))
		return
	}
	switch r.Method {
	case http.MethodGet:
	case http.MethodPatch:
		body, _ := io.ReadAll(r.Body)
		a.patches = append(a.patches, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type")+" "+string(body))
		var patch struct {
			Spec struct {
				Replicas *int32 `json:"replicas"`
			} `json:"spec"`
		}
		if err := json.Unmarshal(body, &patch); err != nil || patch.Spec.Replicas == nil {
			status(w, http.StatusBadRequest, "BadRequest", "bad patch")
			return
		}
		n = *patch.Spec.Replicas
		a.replicas[ns+"/"+name] = n
	default:
		status(w, http.StatusMethodNotAllowed, "MethodNotAllowed", r.Method)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":%q,"namespace":%q},"spec":{"replicas":%d},"status":{"replicas":%d}}`, name, ns, n, n)
}

func status(w http.ResponseWriter, code int, reason, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":%q,"reason":%q,"code":%d}`, msg, reason, code)
}

func newScaler(t *testing.T, specs ...string) (*Scaler, *apiServer, *bytes.Buffer) {
	t.Helper()
	api := &apiServer{replicas: map[string]int32{"spread/echo-server": 1, "other/web": 3}}
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	cs, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	steps, err := ParseSteps(specs)
	if err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	return New(cs, "spread", steps, &log), api, &log
}

func TestScalesAtPlannedTimes(t *testing.T) {
	s, api, log := newScaler(t, "deployment/echo-server=2@150ms", "other/deploy/web=0@50ms")
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.Run(ctx, start); err != nil {
		t.Fatal(err)
	}
	res := s.Results()
	if len(res) != 2 {
		t.Fatalf("results: %+v", res)
	}
	// Sorted by time: web first.
	if res[0].Step.Name != "web" || res[0].From != 3 || res[1].Step.Name != "echo-server" || res[1].From != 1 {
		t.Errorf("results: %+v", res)
	}
	if el := res[1].Time.Sub(start); el < 150*time.Millisecond || el > 2*time.Second {
		t.Errorf("echo-server scaled after %v, want ~150ms", el)
	}
	if api.replicas["spread/echo-server"] != 2 || api.replicas["other/web"] != 0 {
		t.Errorf("replicas: %v", api.replicas)
	}
	want := "PATCH /apis/apps/v1/namespaces/spread/deployments/echo-server/scale application/merge-patch+json {\"spec\":{\"replicas\":2}}"
	if len(api.patches) != 2 || api.patches[1] != want {
		t.Errorf("patches: %q", api.patches)
	}
	if !strings.Contains(log.String(), "deployment/echo-server in namespace spread scaled 1 -> 2 replicas") {
		t.Errorf("log: %s", log.String())
	}
}

func TestErrorsAreClear(t *testing.T) {
	for _, tc := range []struct {
		spec, want string
	}{
		{"deployment/nope=2@0s", `no deployment/nope in namespace "spread"`},
		{"locked/deployment/echo-server=2@0s", "forbidden: the service account needs get/patch on deployments/scale"},
	} {
		s, _, _ := newScaler(t, tc.spec)
		err := s.Check(context.Background())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Check error %v, want %q", tc.spec, err, tc.want)
		}
		err = s.Run(context.Background(), time.Now())
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Run error %v, want %q", tc.spec, err, tc.want)
		}
	}
}

func TestStepsAfterTheEndAreNotApplied(t *testing.T) {
	s, api, log := newScaler(t, "deployment/echo-server=2@1h")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := s.Run(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if len(api.patches) != 0 || !strings.Contains(log.String(), "not applied") {
		t.Errorf("patches %v log %q", api.patches, log.String())
	}
}

func TestParseStep(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string // "ns|kind|name|replicas|at" or error substring after "!"
	}{
		{"deployment/echo-server=2@2m", "|deployment|echo-server|2|2m0s"},
		{"deploy/x=0@0s", "|deployment|x|0|0s"},
		{"spread/sts/db=3@90s", "spread|statefulset|db|3|1m30s"},
		{"deployment/echo-server=2", "!no '@TIME'"},
		{"deployment/echo-server@2m", "!no '='"},
		{"pod/x=2@1m", "!cannot be scaled"},
		{"deployment/x=-1@1m", "!whole number"},
		{"deployment/x=two@1m", "!whole number"},
		{"deployment/x=2@soon", "!duration"},
		{"echo-server=2@1m", "!kind/name"},
	} {
		st, err := ParseStep(tc.in)
		if strings.HasPrefix(tc.want, "!") {
			if err == nil || !strings.Contains(err.Error(), tc.want[1:]) {
				t.Errorf("%s: err %v, want %q", tc.in, err, tc.want[1:])
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		got := fmt.Sprintf("%s|%s|%s|%d|%s", st.Namespace, st.Kind, st.Name, st.Replicas, st.At)
		if got != tc.want {
			t.Errorf("%s: %s, want %s", tc.in, got, tc.want)
		}
	}
}

// TestSegmentsCoverTheTest checks with the executor's own parser that the
// segments of N instances are disjoint, cover 0..1 and split any count
// exactly.
func TestSegmentsCoverTheTest(t *testing.T) {
	for _, n := range []int{1, 2, 3, 4, 7, 10} {
		total := map[int64]int64{}
		for i := 0; i < n; i++ {
			s, err := SegmentFor(i, n)
			if err != nil {
				t.Fatal(err)
			}
			seg, err := executor.ParseSegment(s)
			if err != nil {
				t.Fatalf("%d/%d: %s: %v", i, n, s, err)
			}
			for _, c := range []int64{1, 2, 5, 99, 1000} {
				total[c] += seg.Scale(c)
			}
		}
		for c, got := range total {
			if got != c {
				t.Errorf("n=%d: the segments share %d elements of %d", n, got, c)
			}
		}
	}
	if s, _ := SegmentFor(1, 4); s != "1/4:2/4" {
		t.Errorf("SegmentFor(1,4) = %s", s)
	}
	for _, bad := range [][2]int{{4, 4}, {-1, 4}, {0, 0}} {
		if _, err := SegmentFor(bad[0], bad[1]); err == nil {
			t.Errorf("SegmentFor(%d,%d): no error", bad[0], bad[1])
		}
	}
}
