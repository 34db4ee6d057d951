package k8s

import (
	"crypto/x509"
	"encoding/pem"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"spread.dev/echo-server/quickeys"
	"spread.dev/k8s/images"
)

const ns = "spread"

// imageTags are what `make images` tags, normalized (docker.io/...).
func imageTags(t *testing.T) map[string]bool {
	out := map[string]bool{}
	for _, s := range images.Specs("dev") {
		out[normalize(t, s.Tag)] = true
	}
	return out
}

func normalize(t *testing.T, ref string) string {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatalf("image %q: %v", ref, err)
	}
	return r.Name()
}

// echoFlags are the flags the real echo-server accepts, from its --help.
func echoFlags(t *testing.T) map[string]bool {
	t.Helper()
	_, echo := binaries(t)
	out, _ := exec.Command(echo, "--help").CombinedOutput()
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^\s+-([a-z0-9-]+)`).FindAllStringSubmatch(string(out), -1) {
		flags[m[1]] = true
	}
	if !flags["quic-keys"] || !flags["drain"] {
		t.Fatalf("cannot read echo-server's flags from --help:\n%s", out)
	}
	return flags
}

func TestOverlays(t *testing.T) {
	for _, tc := range []struct {
		dir       string
		image     string
		pull      corev1.PullPolicy
		tlsSecret string
	}{
		{"base", "spread/echo-server:dev", "", "echo-server-tls"},
		{"overlays/plain", "spread/echo-server:dev", "", "echo-server-tls"},
		{"overlays/k3s", "docker.io/spread/echo-server:dev", corev1.PullNever, "echo-server-tls"},
		{"overlays/cert-manager", "spread/echo-server:dev", "", "echo-server-cert-manager-tls"},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			o := render(t, tc.dir)
			namespace := ns
			if tc.dir == "base" {
				namespace = ""
			} else {
				get[*corev1.Namespace](t, o, "Namespace", "", ns)
			}
			for _, key := range o.order {
				if !strings.HasPrefix(key, "Namespace/") && !strings.Contains(key, "/"+namespace+"/") {
					t.Errorf("%s is not in namespace %q", key, namespace)
				}
			}
			checkEchoServer(t, o, namespace, tc.image, tc.pull, tc.tlsSecret)
			if tc.tlsSecret != "echo-server-tls" {
				checkCertManager(t, o, namespace, tc.tlsSecret)
			}
		})
	}
}

func checkEchoServer(t *testing.T, o *objects, namespace, image string, pull corev1.PullPolicy, tlsSecret string) {
	d := get[*appsv1.Deployment](t, o, "Deployment", namespace, "echo-server")
	pod := d.Spec.Template
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("containers: %d", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if c.Image != image || c.ImagePullPolicy != pull {
		t.Errorf("image %s pull %q, want %s %q", c.Image, c.ImagePullPolicy, image, pull)
	}
	if !imageTags(t)[normalize(t, c.Image)] {
		t.Errorf("image %s is not one `make images` builds (%v)", c.Image, imageTags(t))
	}
	sel, err := metav1LabelSelector(d.Spec.Selector)
	if err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("selector %v does not match the pod labels %v", d.Spec.Selector, pod.Labels)
	}

	// Flags: every one is known to echo-server; remember the values.
	known := echoFlags(t)
	args := map[string]string{}
	for _, a := range c.Args {
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || !known[k] {
			t.Errorf("echo-server has no flag %q (from --help: %v)", a, known)
		}
		args[k] = v
	}

	// Ports: by name and protocol, as the Services point at them.
	ports := map[string]corev1.ContainerPort{}
	for _, p := range c.Ports {
		ports[p.Name] = p
	}
	for name, want := range map[string]struct {
		port  int32
		proto corev1.Protocol
		flag  string
	}{
		"http": {5080, corev1.ProtocolTCP, "insecure-bind"}, "https": {5443, corev1.ProtocolTCP, "bind"},
		"h3": {5443, corev1.ProtocolUDP, "quic-bind"}, "metrics": {9090, corev1.ProtocolTCP, "metrics-bind"},
		"grpc": {5090, corev1.ProtocolTCP, "grpc-bind"},
	} {
		p, ok := ports[name]
		if !ok || p.ContainerPort != want.port || p.Protocol != want.proto {
			t.Errorf("port %s: %+v, want %d/%s", name, p, want.port, want.proto)
		}
		if !strings.HasSuffix(args[want.flag], ":"+strconv.Itoa(int(want.port))) {
			t.Errorf("--%s=%s does not listen on the %s port %d", want.flag, args[want.flag], name, want.port)
		}
	}

	// Probes on the cleartext listener, which every pod has.
	for _, p := range []struct {
		probe *corev1.Probe
		path  string
	}{{c.ReadinessProbe, "/readyz"}, {c.LivenessProbe, "/healthz"}} {
		if p.probe == nil || p.probe.HTTPGet == nil || p.probe.HTTPGet.Path != p.path || p.probe.HTTPGet.Port.String() != "http" {
			t.Errorf("probe for %s: %+v", p.path, p.probe)
		}
	}

	// The startup probe is kubelet's gRPC probe on the echo service's health.
	if sp := c.StartupProbe; sp == nil || sp.GRPC == nil || sp.GRPC.Port != 5090 || sp.GRPC.Service == nil || *sp.GRPC.Service != "spread.echo.v1.Echo" {
		t.Errorf("startup probe: %+v, want gRPC health of spread.echo.v1.Echo on 5090", sp)
	}

	// Limits and requests, so one pod saturates as in the write-up.
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		lim, req := c.Resources.Limits[r], c.Resources.Requests[r]
		if lim.IsZero() || req.IsZero() || req.Cmp(lim) > 0 {
			t.Errorf("%s: request %s limit %s", r, req.String(), lim.String())
		}
	}
	if args["max-inflight"] == "" || args["delay"] == "" {
		t.Errorf("the capacity model needs --delay and --max-inflight: %v", c.Args)
	}

	// POD_NAME from the downward API, so X-Served-By names the pod.
	var podName *corev1.EnvVar
	for i := range c.Env {
		if c.Env[i].Name == "POD_NAME" {
			podName = &c.Env[i]
		}
	}
	if podName == nil || podName.ValueFrom == nil || podName.ValueFrom.FieldRef == nil || podName.ValueFrom.FieldRef.FieldPath != "metadata.name" {
		t.Errorf("POD_NAME: %+v", podName)
	}

	// Grace period: preStop sleep + drain + shutdown timeout must fit.
	dur := func(flag, def string) time.Duration {
		v := args[flag]
		if v == "" {
			v = def
		}
		d, err := time.ParseDuration(v)
		if err != nil {
			t.Errorf("--%s=%s: %v", flag, v, err)
		}
		return d
	}
	var preStop time.Duration
	if c.Lifecycle == nil || c.Lifecycle.PreStop == nil || c.Lifecycle.PreStop.Sleep == nil {
		t.Errorf("no preStop sleep: %+v", c.Lifecycle)
	} else {
		preStop = time.Duration(c.Lifecycle.PreStop.Sleep.Seconds) * time.Second
	}
	need := preStop + dur("drain", "5s") + dur("shutdown-timeout", "10s")
	if pod.Spec.TerminationGracePeriodSeconds == nil || time.Duration(*pod.Spec.TerminationGracePeriodSeconds)*time.Second < need {
		t.Errorf("terminationGracePeriodSeconds %d s < preStop + drain + shutdown-timeout = %v", ptrOr(pod.Spec.TerminationGracePeriodSeconds), need)
	}
	if sc := pod.Spec.SecurityContext; sc == nil || sc.RunAsUser == nil || *sc.RunAsUser != images.UID {
		t.Errorf("pod must run as %d (the image's user): %+v", images.UID, sc)
	}

	// The files the flags name come from the mounted Secrets' keys.
	mounts := map[string]string{} // mount path → volume
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Spec.Volumes {
		volumes[v.Name] = v
	}
	secretKey := func(flag string) (secret, key string) {
		path := args[flag]
		dir, file := filepath.Dir(path), filepath.Base(path)
		v, ok := volumes[mounts[dir]]
		if !ok || v.Secret == nil {
			t.Errorf("--%s=%s: no Secret volume mounted at %s", flag, path, dir)
			return "", ""
		}
		return v.Secret.SecretName, file
	}
	for _, flag := range []string{"certfile", "keyfile", "quic-keys"} {
		secret, key := secretKey(flag)
		if flag != "quic-keys" && secret != tlsSecret {
			t.Errorf("--%s from Secret %s, want %s", flag, secret, tlsSecret)
		}
		if secret == "echo-server-cert-manager-tls" {
			if key != "tls.crt" && key != "tls.key" {
				t.Errorf("--%s: cert-manager Secrets hold tls.crt and tls.key, not %s", flag, key)
			}
			continue // made by cert-manager in the cluster
		}
		s := get[*corev1.Secret](t, o, "Secret", namespace, secret)
		data, ok := s.Data[key]
		if !ok {
			t.Errorf("--%s: Secret %s has no key %s (keys: %v)", flag, secret, key, keys(s.Data))
			continue
		}
		switch flag {
		case "certfile":
			checkCert(t, data)
		case "keyfile":
			if b, _ := pem.Decode(data); b == nil || !strings.Contains(b.Type, "PRIVATE KEY") {
				t.Errorf("%s/%s is not a PEM private key", secret, key)
			}
		case "quic-keys":
			f := filepath.Join(t.TempDir(), key)
			_ = os.WriteFile(f, data, 0o600)
			if _, err := quickeys.Load(f); err != nil {
				t.Errorf("%s/%s: %v", secret, key, err)
			}
		}
	}
	if tlsSecret == "echo-server-tls" {
		s := get[*corev1.Secret](t, o, "Secret", namespace, "echo-server-tls")
		if s.Type != corev1.SecretTypeTLS || len(s.Data["ca.crt"]) == 0 {
			t.Errorf("echo-server-tls: type %s keys %v (the Jobs mount ca.crt)", s.Type, keys(s.Data))
		}
	}

	// Services: ClusterIP 80/443 and the write-up's NodePorts, TCP and UDP on 30443.
	for _, svc := range []struct {
		name string
		want map[string]string // "proto/port(/nodePort)" → container port name
	}{
		{"echo-server", map[string]string{"TCP/80": "http", "TCP/443": "https", "UDP/443": "h3", "TCP/9090": "metrics", "TCP/5090": "grpc"}},
		{"echo-server-headless", map[string]string{"TCP/5090": "grpc", "TCP/5080": "http"}},
		{"echo-server-nodeport", map[string]string{"TCP/5080/30080": "http", "TCP/5443/30443": "https", "UDP/5443/30443": "h3"}},
	} {
		s := get[*corev1.Service](t, o, "Service", namespace, svc.name)
		if !labels.SelectorFromSet(s.Spec.Selector).Matches(labels.Set(pod.Labels)) || len(s.Spec.Selector) == 0 {
			t.Errorf("Service %s selector %v does not select the pods %v", svc.name, s.Spec.Selector, pod.Labels)
		}
		got := map[string]string{}
		for _, p := range s.Spec.Ports {
			k := string(p.Protocol) + "/" + strconv.Itoa(int(p.Port))
			if p.NodePort != 0 {
				k += "/" + strconv.Itoa(int(p.NodePort))
			}
			got[k] = p.TargetPort.String()
			if cp, ok := ports[p.TargetPort.String()]; !ok || cp.Protocol != p.Protocol {
				t.Errorf("Service %s port %s targets %s, a %s container port", svc.name, k, p.TargetPort.String(), cp.Protocol)
			}
		}
		for k, v := range svc.want {
			if got[k] != v {
				t.Errorf("Service %s: %s → %q, want %q (all: %v)", svc.name, k, got[k], v, got)
			}
		}
	}
	if s := get[*corev1.Service](t, o, "Service", namespace, "echo-server-headless"); s.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Errorf("echo-server-headless has clusterIP %q, want None (headless)", s.Spec.ClusterIP)
	}
	if s := get[*corev1.Service](t, o, "Service", namespace, "echo-server-nodeport"); s.Spec.Type != corev1.ServiceTypeNodePort {
		t.Errorf("echo-server-nodeport is a %s", s.Spec.Type)
	}

	hpa := get[*autoscalingv2.HorizontalPodAutoscaler](t, o, "HorizontalPodAutoscaler", namespace, "echo-server")
	if hpa.Spec.ScaleTargetRef.Kind != "Deployment" || hpa.Spec.ScaleTargetRef.Name != "echo-server" {
		t.Errorf("HPA target %+v", hpa.Spec.ScaleTargetRef)
	}
	if b := hpa.Spec.Behavior; b == nil || b.ScaleDown == nil || b.ScaleDown.SelectPolicy == nil || *b.ScaleDown.SelectPolicy != autoscalingv2.DisabledPolicySelect {
		t.Errorf("the HPA must not scale down (it would undo --k8s-scale): %+v", hpa.Spec.Behavior)
	}
	pdb := get[*policyv1.PodDisruptionBudget](t, o, "PodDisruptionBudget", namespace, "echo-server")
	if sel, err := metav1LabelSelector(pdb.Spec.Selector); err != nil || !sel.Matches(labels.Set(pod.Labels)) {
		t.Errorf("PDB selector %v does not select the pods", pdb.Spec.Selector)
	}
}

func checkCert(t *testing.T, data []byte) {
	t.Helper()
	b, _ := pem.Decode(data)
	if b == nil {
		t.Error("certificate is not PEM")
		return
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		t.Error(err)
		return
	}
	for _, h := range []string{"echo-server.spread.svc", "localhost"} {
		if err := cert.VerifyHostname(h); err != nil {
			t.Errorf("certificate: %v", err)
		}
	}
}

func checkCertManager(t *testing.T, o *objects, namespace, secret string) {
	var found bool
	for _, c := range o.certs {
		if c.Kind == "Certificate" && c.Spec.SecretName == secret {
			found = true
			if !slices.Contains(c.Spec.DNSNames, "echo-server.spread.svc") || c.Spec.IssuerRef == nil {
				t.Errorf("Certificate %s: %+v", c.Metadata.Name, c.Spec)
			}
			issuer := "Issuer/" + namespace + "/" + c.Spec.IssuerRef.Name
			if _, ok := o.certs[issuer]; !ok {
				t.Errorf("Certificate %s: no %s", c.Metadata.Name, issuer)
			}
		}
	}
	if !found {
		t.Errorf("no cert-manager Certificate writes Secret %s", secret)
	}
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func TestLoadTestJobs(t *testing.T) {
	base := render(t, "overlays/plain")
	mon := render(t, "monitoring")
	scriptsDir := filepath.Join(repoRoot(t), "scripts")
	for _, tc := range []struct {
		dir, job string
		indexed  bool
	}{
		{"loadtest", "spread-loadtest", false},
		{"loadtest/indexed", "spread-loadtest-indexed", true},
	} {
		t.Run(tc.dir, func(t *testing.T) {
			o := render(t, tc.dir)
			job := get[*batchv1.Job](t, o, "Job", ns, tc.job)
			pod := job.Spec.Template.Spec
			c := pod.Containers[0]
			if !imageTags(t)[normalize(t, c.Image)] {
				t.Errorf("image %s is not one `make images` builds", c.Image)
			}
			if pod.RestartPolicy != corev1.RestartPolicyNever {
				t.Errorf("restartPolicy %s: a failed test must not rerun", pod.RestartPolicy)
			}
			env := map[string]corev1.EnvVar{}
			for _, e := range c.Env {
				env[e.Name] = e
			}
			if len(c.Args) == 0 || c.Args[0] != "run" {
				t.Fatalf("args %v: want spread run", c.Args)
			}
			args := map[string][]string{}
			for _, a := range c.Args[1 : len(c.Args)-1] {
				k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
				args[k] = append(args[k], v)
			}
			for _, ref := range regexp.MustCompile(`\$\(([A-Z_]+)\)`).FindAllStringSubmatch(strings.Join(c.Args, " "), -1) {
				if _, ok := env[ref[1]]; !ok {
					t.Errorf("args use $(%s), which is not in the env", ref[1])
				}
			}

			// The script: /scripts/$(SCRIPT) from the projected ConfigMaps.
			script := c.Args[len(c.Args)-1]
			if script != "/scripts/$(SCRIPT)" {
				t.Errorf("script arg %q", script)
			}
			if _, err := os.Stat(filepath.Join(scriptsDir, env["SCRIPT"].Value)); err != nil {
				t.Errorf("SCRIPT=%s: %v", env["SCRIPT"].Value, err)
			}
			files := mountedFiles(t, o, pod, c, "/scripts")
			checkScriptsMount(t, scriptsDir, files)

			// The CA the scripts trust is the generated one of the base.
			caFiles := mountedFiles(t, o, pod, c, filepath.Dir(env["CA_CERT"].Value))
			if _, ok := caFiles[filepath.Base(env["CA_CERT"].Value)]; !ok {
				t.Errorf("CA_CERT=%s is not mounted (%v)", env["CA_CERT"].Value, keys(caFiles))
			}
			if ca, ok := get[*corev1.Secret](t, base, "Secret", ns, "echo-server-tls").Data["ca.crt"]; !ok || len(ca) == 0 {
				t.Error("the base's echo-server-tls has no ca.crt for the Jobs")
			}

			// Targets: the base's Service on its ports.
			svc := get[*corev1.Service](t, base, "Service", ns, "echo-server")
			for _, name := range []string{"TARGET_HTTP", "TARGET_HTTPS", "TARGET_H3"} {
				checkTarget(t, name, env[name].Value, svc)
			}

			// Remote write to the monitoring Prometheus, which receives it.
			checkRemoteWrite(t, env["K6_PROMETHEUS_RW_SERVER_URL"].Value, mon)
			if args["out"] == nil || args["out"][0] != "prometheus-rw" {
				t.Errorf("--out %v", args["out"])
			}
			if e := env["TESTID"]; e.ValueFrom == nil || e.ValueFrom.FieldRef == nil {
				t.Errorf("TESTID: %+v", e)
			}

			// --k8s-scale: spread/internal/k8sscale's TestLoadTestJobScaleSteps
			// checks the steps parse and name the base's Deployment; here,
			// that the rendered base has it and RBAC allows scaling it.
			if args["k8s-scale"] != nil {
				get[*appsv1.Deployment](t, base, "Deployment", ns, "echo-server")
			}
			checkRBAC(t, o, pod.ServiceAccountName)

			if tc.indexed {
				checkIndexed(t, job, args)
			} else if args["execution-segment-count"] != nil {
				t.Error("the single Job must run the whole test")
			}
		})
	}
}

// mountedFiles lists the files a container sees under dir: file name (or
// sub path) → "configmap/KEY" or "secret/KEY", resolving generated names.
func mountedFiles(t *testing.T, o *objects, pod corev1.PodSpec, c corev1.Container, dir string) map[string]string {
	t.Helper()
	var vol *corev1.Volume
	for _, m := range c.VolumeMounts {
		if m.MountPath == dir {
			for i := range pod.Volumes {
				if pod.Volumes[i].Name == m.Name {
					vol = &pod.Volumes[i]
				}
			}
		}
	}
	if vol == nil {
		t.Fatalf("nothing mounted at %s", dir)
	}
	out := map[string]string{}
	add := func(kind string, data map[string]string, items []corev1.KeyToPath) {
		if len(items) == 0 {
			for k := range data {
				out[k] = kind + "/" + k
			}
			return
		}
		for _, it := range items {
			if _, ok := data[it.Key]; !ok {
				t.Errorf("%s has no key %s", kind, it.Key)
			}
			out[it.Path] = kind + "/" + it.Key
		}
	}
	cm := func(name string) map[string]string {
		return get[*corev1.ConfigMap](t, o, "ConfigMap", ns, name).Data
	}
	secret := func(name string) map[string]string {
		s := get[*corev1.Secret](t, o, "Secret", ns, name)
		m := map[string]string{}
		for k, v := range s.Data {
			m[k] = string(v)
		}
		return m
	}
	switch {
	case vol.ConfigMap != nil:
		add("configmap", cm(vol.ConfigMap.Name), vol.ConfigMap.Items)
	case vol.Secret != nil:
		// The Secret comes from the base (another kustomization): only the
		// items are known here.
		for _, it := range vol.Secret.Items {
			out[it.Path] = "secret/" + it.Key
		}
		_ = secret
	case vol.Projected != nil:
		for _, src := range vol.Projected.Sources {
			if src.ConfigMap != nil {
				add("configmap", cm(src.ConfigMap.Name), src.ConfigMap.Items)
			}
		}
	}
	return out
}

// checkScriptsMount checks that every script of scripts/ is mounted and
// that every relative import of a mounted script resolves in the mount.
func checkScriptsMount(t *testing.T, scriptsDir string, files map[string]string) {
	t.Helper()
	var want []string
	for _, pat := range []string{"*.js", "lib/*.js"} {
		m, _ := filepath.Glob(filepath.Join(scriptsDir, pat))
		for _, f := range m {
			rel, _ := filepath.Rel(scriptsDir, f)
			want = append(want, filepath.ToSlash(rel))
		}
	}
	for _, f := range want {
		if _, ok := files[f]; !ok {
			t.Errorf("scripts/%s is not mounted in /scripts (add it to scripts/kustomization.yaml and the Job's items); mounted: %v", f, keys(files))
		}
	}
	imp := regexp.MustCompile(`(?m)(?:from|import)\s+['"](\.{1,2}/[^'"]+)['"]`)
	for f := range files {
		src, err := os.ReadFile(filepath.Join(scriptsDir, f))
		if err != nil {
			t.Errorf("mounted %s: %v", f, err)
			continue
		}
		for _, m := range imp.FindAllStringSubmatch(string(src), -1) {
			target := filepath.ToSlash(filepath.Join(filepath.Dir(f), m[1]))
			if _, ok := files[target]; !ok {
				t.Errorf("%s imports %s: /scripts/%s is not mounted", f, m[1], target)
			}
		}
	}
}

func checkTarget(t *testing.T, name, url string, svc *corev1.Service) {
	t.Helper()
	re := regexp.MustCompile(`^(https?)://([^:/]+):(\d+)$`)
	m := re.FindStringSubmatch(url)
	if m == nil {
		t.Errorf("%s=%q", name, url)
		return
	}
	host := strings.Split(m[2], ".")
	if host[0] != svc.Name || (len(host) > 1 && host[1] != svc.Namespace) {
		t.Errorf("%s=%s does not name Service %s.%s", name, url, svc.Name, svc.Namespace)
	}
	proto := corev1.ProtocolTCP
	if name == "TARGET_H3" {
		proto = corev1.ProtocolUDP
	}
	port, _ := strconv.Atoi(m[3])
	for _, p := range svc.Spec.Ports {
		if int(p.Port) == port && p.Protocol == proto {
			return
		}
	}
	t.Errorf("%s=%s: Service %s has no %s port %d", name, url, svc.Name, proto, port)
}

func checkRemoteWrite(t *testing.T, url string, mon *objects) {
	t.Helper()
	m := regexp.MustCompile(`^http://([^.]+)\.([^.]+)\.svc:(\d+)/api/v1/write$`).FindStringSubmatch(url)
	if m == nil {
		t.Fatalf("K6_PROMETHEUS_RW_SERVER_URL=%q", url)
	}
	svc := get[*corev1.Service](t, mon, "Service", m[2], m[1])
	port, _ := strconv.Atoi(m[3])
	if len(svc.Spec.Ports) == 0 || int(svc.Spec.Ports[0].Port) != port {
		t.Errorf("remote write port %d, Service %s has %+v", port, svc.Name, svc.Spec.Ports)
	}
	d := get[*appsv1.Deployment](t, mon, "Deployment", m[2], "prometheus")
	if !slices.Contains(d.Spec.Template.Spec.Containers[0].Args, "--web.enable-remote-write-receiver") {
		t.Errorf("Prometheus args %v lack the remote-write receiver", d.Spec.Template.Spec.Containers[0].Args)
	}
}

// checkRBAC: the Job's service account may read deployments and patch
// their scale subresource, and nothing more.
func checkRBAC(t *testing.T, o *objects, sa string) {
	t.Helper()
	get[*corev1.ServiceAccount](t, o, "ServiceAccount", ns, sa)
	var rules []rbacv1.PolicyRule
	for _, rb := range find[*rbacv1.RoleBinding](o, "RoleBinding") {
		for _, s := range rb.Subjects {
			if s.Kind == "ServiceAccount" && s.Name == sa && (s.Namespace == "" || s.Namespace == ns) && rb.RoleRef.Kind == "Role" {
				rules = append(rules, get[*rbacv1.Role](t, o, "Role", ns, rb.RoleRef.Name).Rules...)
			}
		}
	}
	allows := func(resource, verb string) bool {
		for _, r := range rules {
			if slices.Contains(r.APIGroups, "apps") && slices.Contains(r.Resources, resource) && slices.Contains(r.Verbs, verb) {
				return true
			}
		}
		return false
	}
	for _, need := range [][2]string{{"deployments/scale", "get"}, {"deployments/scale", "patch"}} {
		if !allows(need[0], need[1]) {
			t.Errorf("service account %s may not %s %s: %+v", sa, need[1], need[0], rules)
		}
	}
	for _, r := range rules {
		for _, v := range r.Verbs {
			if v == "*" || v == "delete" || v == "create" {
				t.Errorf("rule %+v grants more than scaling needs", r)
			}
		}
	}
}

// checkIndexed: N pods with segments i/N:(i+1)/N that, parsed by spread's
// own executor, cover the test exactly once.
func checkIndexed(t *testing.T, job *batchv1.Job, args map[string][]string) {
	t.Helper()
	if job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
		t.Fatalf("completionMode %v", job.Spec.CompletionMode)
	}
	if len(args["execution-segment-count"]) != 1 {
		t.Fatalf("--execution-segment-count: %v", args["execution-segment-count"])
	}
	n, err := strconv.Atoi(args["execution-segment-count"][0])
	if err != nil || job.Spec.Completions == nil || job.Spec.Parallelism == nil || int(*job.Spec.Completions) != n || int(*job.Spec.Parallelism) != n {
		t.Fatalf("completions %v parallelism %v --execution-segment-count %v: keep them equal", job.Spec.Completions, job.Spec.Parallelism, args["execution-segment-count"])
	}
	if args["execution-segment-index"] != nil {
		t.Error("the index must come from JOB_COMPLETION_INDEX")
	}
	// The segments' coverage (each element owned by exactly one pod) is
	// checked with spread's own executor in spread/internal/k8sscale's
	// TestIndexedJobSegments.
}

func TestMonitoring(t *testing.T) {
	o := render(t, "monitoring")
	get[*corev1.Namespace](t, o, "Namespace", "", "spread-monitoring")
	cms := find[*corev1.ConfigMap](o, "ConfigMap")
	var promCfg, dash, prov string
	for _, cm := range cms {
		if v, ok := cm.Data["prometheus.yml"]; ok {
			promCfg = v
		}
		if v, ok := cm.Data["spread.json"]; ok {
			dash = v
		}
		if v, ok := cm.Data["datasources.yaml"]; ok {
			prov = v
		}
	}
	want, _ := os.ReadFile(filepath.Join(repoRoot(t), "k8s", "monitoring", "dashboards", "spread.json"))
	if dash != string(want) {
		t.Error("the grafana-dashboards ConfigMap does not hold dashboards/spread.json")
	}
	// Scrape: echo-server pods of namespace spread, on the port named metrics.
	var cfg struct {
		ScrapeConfigs []struct {
			JobName string `json:"job_name"`
			KubeSD  []struct {
				Role       string `json:"role"`
				Namespaces struct {
					Names []string `json:"names"`
				} `json:"namespaces"`
			} `json:"kubernetes_sd_configs"`
			Relabel []struct {
				SourceLabels []string `json:"source_labels"`
				Regex        string   `json:"regex"`
				Action       string   `json:"action"`
				TargetLabel  string   `json:"target_label"`
			} `json:"relabel_configs"`
		} `json:"scrape_configs"`
	}
	if err := yaml.UnmarshalStrict([]byte(promCfg), &cfg, yaml.DisallowUnknownFields); err != nil {
		// global: is not modelled; only check what we model.
		if err := yaml.Unmarshal([]byte(promCfg), &cfg); err != nil {
			t.Fatalf("prometheus.yml: %v", err)
		}
	}
	if len(cfg.ScrapeConfigs) == 0 || len(cfg.ScrapeConfigs[0].KubeSD) == 0 || !slices.Contains(cfg.ScrapeConfigs[0].KubeSD[0].Namespaces.Names, ns) {
		t.Fatalf("scrape configs: %+v", cfg.ScrapeConfigs)
	}
	var keepsMetricsPort, podLabel bool
	for _, r := range cfg.ScrapeConfigs[0].Relabel {
		if r.Action == "keep" && slices.Contains(r.SourceLabels, "__meta_kubernetes_pod_container_port_name") && r.Regex == "metrics" {
			keepsMetricsPort = true
		}
		if r.TargetLabel == "pod" && slices.Contains(r.SourceLabels, "__meta_kubernetes_pod_name") {
			podLabel = true
		}
	}
	if !keepsMetricsPort || !podLabel {
		t.Errorf("scrape must keep the metrics port and label series with pod: %+v", cfg.ScrapeConfigs[0].Relabel)
	}
	// Prometheus may list pods in spread (cluster-wide binding).
	var canList bool
	for _, b := range find[*rbacv1.ClusterRoleBinding](o, "ClusterRoleBinding") {
		for _, s := range b.Subjects {
			if s.Name == "prometheus" && s.Namespace == "spread-monitoring" {
				for _, r := range get[*rbacv1.ClusterRole](t, o, "ClusterRole", "", b.RoleRef.Name).Rules {
					if slices.Contains(r.Resources, "pods") && slices.Contains(r.Verbs, "list") {
						canList = true
					}
				}
			}
		}
	}
	if !canList {
		t.Error("Prometheus' service account cannot list pods for discovery")
	}
	if !strings.Contains(prov, "http://prometheus.spread-monitoring.svc:9090") {
		t.Errorf("Grafana datasource: %s", prov)
	}
	g := get[*appsv1.Deployment](t, o, "Deployment", "spread-monitoring", "grafana")
	var dashVol bool
	for _, v := range g.Spec.Template.Spec.Volumes {
		if v.ConfigMap != nil && strings.HasPrefix(v.ConfigMap.Name, "grafana-dashboards") {
			get[*corev1.ConfigMap](t, o, "ConfigMap", "spread-monitoring", v.ConfigMap.Name)
			dashVol = true
		}
	}
	if !dashVol {
		t.Error("Grafana does not mount the dashboards ConfigMap")
	}
}
