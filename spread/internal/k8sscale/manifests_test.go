package k8sscale

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"spread.dev/spread/internal/executor"
)

// The checks of the k8s/ manifests that need spread's own parsers live
// here (the k8s module may not import spread/internal/...): the load-test
// Jobs' --k8s-scale steps parse and name a Deployment of the base, and the
// Indexed Job's segments, parsed by spread's executor, cover the test
// exactly once. k8s/manifests_test.go checks the rendered objects.

// k8sDir is the repository's k8s/ folder, read from the checkout.
const k8sDir = "../../../k8s"

type manifest struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Spec struct {
		Completions *int `yaml:"completions"`
		Template    struct {
			Spec struct {
				Containers []struct {
					Args []string `yaml:"args"`
				} `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
	} `yaml:"spec"`
}

func readManifest(t *testing.T, rel string) manifest {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(k8sDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	var m manifest
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: %v", rel, err)
	}
	return m
}

// jobArgs maps each --flag of the Job's container to its values.
func jobArgs(t *testing.T, m manifest) map[string][]string {
	t.Helper()
	if len(m.Spec.Template.Spec.Containers) == 0 {
		t.Fatalf("%s: no container", m.Metadata.Name)
	}
	args := map[string][]string{}
	for _, a := range m.Spec.Template.Spec.Containers[0].Args {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		k, v, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		args[k] = append(args[k], v)
	}
	return args
}

func TestLoadTestJobScaleSteps(t *testing.T) {
	dep := readManifest(t, "base/deployment.yaml")
	if dep.Kind != "Deployment" {
		t.Fatalf("base/deployment.yaml is a %s", dep.Kind)
	}
	for _, f := range []string{"loadtest/job.yaml", "loadtest/indexed/job-indexed.yaml"} {
		t.Run(f, func(t *testing.T) {
			specs := jobArgs(t, readManifest(t, f))["k8s-scale"]
			if len(specs) == 0 {
				t.Fatal("no --k8s-scale: the scale-up experiment needs one")
			}
			for _, s := range specs {
				st, err := ParseStep(s)
				if err != nil {
					t.Error(err)
					continue
				}
				if st.Kind != "deployment" || st.Name != dep.Metadata.Name {
					t.Errorf("--k8s-scale=%s targets %s, not the base's deployment/%s", s, st.Target(), dep.Metadata.Name)
				}
			}
		})
	}
}

// TestIndexedJobSegments: N pods with segments i/N:(i+1)/N that, parsed by
// spread's own executor, cover the test exactly once.
func TestIndexedJobSegments(t *testing.T) {
	m := readManifest(t, "loadtest/indexed/job-indexed.yaml")
	args := jobArgs(t, m)
	if len(args["execution-segment-count"]) != 1 {
		t.Fatalf("--execution-segment-count: %v", args["execution-segment-count"])
	}
	n, err := strconv.Atoi(args["execution-segment-count"][0])
	if err != nil || m.Spec.Completions == nil || *m.Spec.Completions != n {
		t.Fatalf("completions %v, --execution-segment-count %v: keep them equal", m.Spec.Completions, args["execution-segment-count"])
	}
	var segs []executor.Segment
	for i := 0; i < n; i++ {
		s, err := SegmentFor(i, n)
		if err != nil {
			t.Fatal(err)
		}
		seg, err := executor.ParseSegment(s)
		if err != nil {
			t.Fatalf("index %d: %s: %v", i, s, err)
		}
		segs = append(segs, seg)
	}
	// Every element (VU, iteration) of the test belongs to exactly one pod.
	for g := int64(0); g < 1000; g++ {
		owners := 0
		for _, s := range segs {
			if s.Owns(g) {
				owners++
			}
		}
		if owners != 1 {
			t.Fatalf("element %d owned by %d pods", g, owners)
		}
	}
	for _, total := range []int64{1, 3, 4, 1000, 1001} {
		var sum int64
		for _, s := range segs {
			sum += s.Scale(total)
		}
		if sum != total {
			t.Errorf("%d pods share %d of %d", n, sum, total)
		}
	}
}
