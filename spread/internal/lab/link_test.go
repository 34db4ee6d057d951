package lab

import (
	"context"
	"os"
	"testing"
	"time"

	"spread.dev/spread/internal/lab/link"
	"spread.dev/spread/internal/lab/pods"
)

// TestLinkRTT builds the node with an emulated client link (and pod link),
// starts a pod, and measures TCP connect times from the client namespace
// through the Service: the median must be the RTT asked for, for the 2 ms
// and 20 ms links the fixes and 0-RTT benchmarks use.
func TestLinkRTT(t *testing.T) {
	requireIPTables(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	labpod, _, _ := bins(t)
	for _, tc := range []struct {
		name             string
		client, pod      string
		wantMin, wantMax time.Duration
	}{
		{"rtt=2ms", "rtt=2ms", "", 1900 * time.Microsecond, 3 * time.Millisecond},
		{"rtt=20ms split", "rtt=16ms", "rtt=4ms", 19500 * time.Microsecond, 22 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cl, err := link.Parse(tc.client)
			if err != nil {
				t.Fatal(err)
			}
			pl, err := link.Parse(tc.pod)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			s, err := newNodeService(ctx, Config{ClientLink: cl, PodLink: pl}, ModeIPTables)
			if err != nil {
				t.Fatal(err)
			}
			defer func() {
				if err := s.close(); err != nil {
					t.Error(err)
				}
			}()
			t.Logf("emulator %s", s.emulator)
			spec, err := s.nextSpec("echo-server-1")
			if err != nil {
				t.Fatal(err)
			}
			argv, _ := pods.TemplateArgs(podTemplate(labpod), spec)
			p, err := pods.Start(spec, s.wrapPod(spec.Name, argv), nil, os.Stderr)
			if err != nil {
				t.Fatal(err)
			}
			defer p.Stop(time.Second, true)
			deadline := time.Now().Add(15 * time.Second)
			for {
				pctx, pcancel := context.WithTimeout(ctx, time.Second)
				err := pods.Probe(pctx, s.httpClient(), "http://"+spec.IP+":5080/readyz")
				pcancel()
				if err == nil {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("pod not ready over its link: %v", err)
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := s.setEndpoints(ctx, []pods.Spec{spec}, nil); err != nil {
				t.Fatal(err)
			}
			rtt, err := s.measureRTT(ctx, 15)
			if err != nil {
				t.Fatal(err)
			}
			li := s.linkInfo()
			t.Logf("%s: expected %.2f ms, measured %s", tc.name, li.ExpectedRTTms, rtt)
			if rtt < tc.wantMin || rtt > tc.wantMax {
				t.Errorf("measured RTT %s, want [%s, %s]", rtt, tc.wantMin, tc.wantMax)
			}
		})
	}
}

// A whole lab run over emulated links (client rtt 2 ms, pods rtt 1 ms, 1%
// loss on the client link) keeps kube-proxy's per-flow semantics, and
// events.json reports the emulator and the measured RTT.
func TestLabOverLinks(t *testing.T) {
	requireNFTables(t)
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		t.Skip("no /dev/net/tun")
	}
	res, hits := runPlan(t, ModeNFTables, 2, nil, `{
 "tcp-new":       [{"do":"tcp-new","n":40}],
 "tcp-keepalive": [{"do":"tcp-keepalive","n":20}],
 "udp-same":      [{"do":"udp-same","n":20}]
}`, func(c *Config) {
		c.ClientLink = link.Spec{Delay: time.Millisecond, Loss: 0.01}
		c.PodLink = link.Spec{Delay: 500 * time.Microsecond}
	})
	if res.Link == nil || res.Link.Emulator == "" || res.Link.ExpectedRTTms != 3 {
		t.Fatalf("link info %+v", res.Link)
	}
	if m := res.Link.MeasuredRTTms; m < 2.9 || m > 5 {
		t.Errorf("measured RTT %.2f ms, want about 3", m)
	}
	c := count(hits["tcp-new"])
	if c["echo-server-1"] < 5 || c["echo-server-2"] < 5 {
		t.Errorf("new connections over the links: %v", c)
	}
	if k := count(hits["tcp-keepalive"]); len(k) != 1 {
		t.Errorf("keep-alive connection moved: %v", k)
	}
}
