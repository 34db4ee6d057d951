package k8s

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeAPI is the part of a Kubernetes API server `--k8s-scale` talks to:
// the scale subresource of deployment echo-server in namespace spread.
type fakeAPI struct {
	mu       sync.Mutex
	replicas int32
	patches  []time.Time
}

func (a *fakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/apis/apps/v1/namespaces/spread/deployments/echo-server/scale" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404,"message":"%s not found"}`, r.URL.Path)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if r.Method == http.MethodPatch {
		var p struct {
			Spec struct {
				Replicas int32 `json:"replicas"`
			} `json:"spec"`
		}
		b, _ := io.ReadAll(r.Body)
		_ = json.Unmarshal(b, &p)
		a.replicas = p.Spec.Replicas
		a.patches = append(a.patches, time.Now())
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, `{"kind":"Scale","apiVersion":"autoscaling/v1","metadata":{"name":"echo-server","namespace":"spread"},"spec":{"replicas":%d},"status":{"replicas":%d}}`, a.replicas, a.replicas)
}

// TestK8sScaleFlag runs the real spread binary with --k8s-scale against a
// fake API server reached through a kubeconfig: the scale happens at the
// planned time after the test start, is logged, and only index 0 of an
// Indexed Job scales.
func TestK8sScaleFlag(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	spread, _ := binaries(t)
	dir := t.TempDir()
	script := filepath.Join(dir, "wait.js")
	_ = os.WriteFile(script, []byte("import { sleep } from 'k6';\nexport default function () { sleep(0.1); }\n"), 0o644)

	for _, tc := range []struct {
		name    string
		env     []string
		patches int
		log     string
	}{
		{"single pod", nil, 1, "deployment/echo-server in namespace spread scaled 1 -> 2 replicas"},
		{"indexed pod 0", []string{"JOB_COMPLETION_INDEX=0"}, 1, "scaled 1 -> 2"},
		{"indexed pod 1", []string{"JOB_COMPLETION_INDEX=1"}, 0, "only index 0 scales"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeAPI{replicas: 1}
			srv := httptest.NewServer(api)
			defer srv.Close()
			kubeconfig := filepath.Join(dir, "kubeconfig-"+strings.ReplaceAll(tc.name, " ", "-"))
			_ = os.WriteFile(kubeconfig, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: fake, cluster: {server: %q}}]
users: [{name: me, user: {token: x}}]
contexts: [{name: fake, context: {cluster: fake, user: me, namespace: spread}}]
current-context: fake
`, srv.URL)), 0o600)
			cmd := exec.CommandContext(ctx, spread, "run", "--no-summary", "-u", "1", "-d", "2s",
				"--k8s-scale=deployment/echo-server=2@1s", "--k8s-scale=deployment/echo-server=3@1h", script)
			// No in-cluster credentials here: the kubeconfig is used.
			cmd.Env = append(append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBERNETES_SERVICE_HOST="), tc.env...)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			start := time.Now()
			if err := cmd.Run(); err != nil {
				t.Fatalf("spread: %v\n%s", err, out.String())
			}
			api.mu.Lock()
			defer api.mu.Unlock()
			if len(api.patches) != tc.patches {
				t.Fatalf("%d patches, want %d\n%s", len(api.patches), tc.patches, out.String())
			}
			if tc.patches > 0 {
				if el := api.patches[0].Sub(start); el < time.Second || el > 10*time.Second {
					t.Errorf("scaled %v after the process start, want just over 1s after the test start", el)
				}
				if api.replicas != 2 {
					t.Errorf("replicas %d, want 2", api.replicas)
				}
				if !strings.Contains(out.String(), "deployment/echo-server=3@1h0m0s not applied") {
					t.Errorf("the step after the end is not reported:\n%s", out.String())
				}
			}
			if !strings.Contains(out.String(), tc.log) {
				t.Errorf("output lacks %q:\n%s", tc.log, out.String())
			}
		})
	}

	t.Run("missing deployment fails before the test", func(t *testing.T) {
		api := &fakeAPI{replicas: 1}
		srv := httptest.NewServer(api)
		defer srv.Close()
		kubeconfig := filepath.Join(dir, "kubeconfig-missing")
		_ = os.WriteFile(kubeconfig, []byte(fmt.Sprintf("apiVersion: v1\nkind: Config\nclusters: [{name: f, cluster: {server: %q}}]\nusers: [{name: u, user: {}}]\ncontexts: [{name: f, context: {cluster: f, user: u, namespace: spread}}]\ncurrent-context: f\n", srv.URL)), 0o600)
		cmd := exec.CommandContext(ctx, spread, "run", "--no-summary", "-u", "1", "-i", "1", "--k8s-scale=deployment/nope=2@1s", script)
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBERNETES_SERVICE_HOST=")
		out, err := cmd.CombinedOutput()
		if err == nil || !strings.Contains(string(out), `no deployment/nope in namespace "spread"`) {
			t.Errorf("err %v, output:\n%s", err, out)
		}
	})
}
