package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"spread.dev/spread/internal/lab/conntrack"
	"spread.dev/spread/internal/lab/kubeproxy"
	"spread.dev/spread/internal/lab/netns"
	"spread.dev/spread/internal/lab/pods"
	"spread.dev/spread/internal/lab/userspace"
)

// Proxy modes.
const (
	ModeIPTables  = "iptables"
	ModeUserspace = "userspace"
)

// Addresses of the emulated cluster (iptables mode).
const (
	ClusterIP   = "10.96.0.10"
	PodCIDR     = "10.244.0.0/16"
	podIPPrefix = "10.244.0."
	NodeIP      = "10.200.0.1" // lab side of the veth (NodePort mode)
	ClientIP    = "10.200.0.2" // client side of the veth
	NodePortTCP = 30080
	NodePortTLS = 30443
)

// Service ports: as the write-up's Service (80 -> 5080, 443 -> 5443 tcp+udp).
const (
	podHTTPPort    = 5080
	podHTTPSPort   = 5443
	podMetricsPort = 9090
)

// LabService is the Service the iptables mode programs.
func LabService() kubeproxy.Service {
	return kubeproxy.Service{Namespace: "default", Name: "echo-server", ClusterIP: ClusterIP, ClusterCIDR: PodCIDR,
		Ports: []kubeproxy.ServicePort{
			{Name: "http", Protocol: "tcp", Port: 80, TargetPort: podHTTPPort, NodePort: NodePortTCP},
			{Name: "https", Protocol: "tcp", Port: 443, TargetPort: podHTTPSPort, NodePort: NodePortTLS},
			{Name: "quic", Protocol: "udp", Port: 443, TargetPort: podHTTPSPort, NodePort: NodePortTLS},
		}}
}

// service is one way of emulating the Service: addresses for pods, how to
// reach them, how to program endpoints, how to run the script.
type service interface {
	nextSpec(name string) (pods.Spec, error)
	wrapPod(name string, argv []string) []string
	httpClient() *http.Client
	setEndpoints(ctx context.Context, ready []pods.Spec, removed []pods.Spec) error
	targets() map[string]string
	wrapScript(argv []string) []string
	certHosts() []string
	close() error
}

// ChooseProxy resolves "auto" and checks that the requested mode can run,
// saying why it chose what it chose.
func ChooseProxy(want string, nodePort bool) (mode, reason string, err error) {
	missing := iptablesMissing()
	switch want {
	case "", "auto":
		if missing == "" {
			return ModeIPTables, "auto: running as root with ip, iptables-restore, conntrack and unshare available", nil
		}
		if nodePort {
			return "", "", fmt.Errorf("lab: --nodeport needs the iptables proxy, which cannot run: %s", missing)
		}
		return ModeUserspace, "auto: iptables proxy unavailable (" + missing + "), using the Go L4 proxy", nil
	case ModeIPTables:
		if missing != "" {
			return "", "", fmt.Errorf("lab: --proxy iptables: %s", missing)
		}
		return ModeIPTables, "requested", nil
	case ModeUserspace:
		if nodePort {
			return "", "", errors.New("lab: --nodeport needs --proxy iptables")
		}
		return ModeUserspace, "requested", nil
	}
	return "", "", fmt.Errorf("lab: unknown proxy %q (want auto, iptables or userspace)", want)
}

// iptablesMissing says what prevents the iptables mode ("" = nothing).
func iptablesMissing() string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("not root (uid %d)", os.Geteuid())
	}
	var miss []string
	for _, tool := range []string{"ip", "iptables-restore", "conntrack", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil {
			miss = append(miss, tool)
		}
	}
	if len(miss) > 0 {
		return "not found in PATH: " + strings.Join(miss, ", ")
	}
	return ""
}

// iptablesService: a namespace holding pods and kube-proxy's rules.
type iptablesService struct {
	ns, client *netns.NS // client is nil unless NodePort
	svc        kubeproxy.Service
	chains     []string
	nextIP     int
	hc         *http.Client
}

func newIPTablesService(ctx context.Context, cfg Config) (_ *iptablesService, err error) {
	s := &iptablesService{svc: LabService(), nextIP: 2}
	s.ns, err = netns.Create(ctx, netns.NewName(""))
	if err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	defer func() {
		if err != nil {
			s.close()
		}
	}()
	// The ClusterIP lives on lo so locally generated packets to it are
	// routable; OUTPUT's DNAT then reroutes them to the pod address.
	if _, err := s.ns.Output(ctx, "ip", "addr", "add", ClusterIP+"/32", "dev", "lo"); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	if cfg.NodePort {
		if err := s.addClient(ctx); err != nil {
			return nil, err
		}
	}
	if err := s.ns.Input(ctx, kubeproxy.Bootstrap(), "iptables-restore", "--noflush"); err != nil {
		return nil, fmt.Errorf("lab: bootstrap rules: %w", err)
	}
	if err := s.setEndpoints(ctx, nil, nil); err != nil {
		return nil, err
	}
	// The nat rules switched conntrack on in the namespace, so its
	// sysctls exist now.
	if err := conntrack.SetUDPTimeouts(ctx, s.ns.Output, cfg.ConntrackUDPTimeout, cfg.ConntrackUDPStreamTimeout); err != nil {
		return nil, fmt.Errorf("lab: %w", err)
	}
	s.hc = &http.Client{Transport: &http.Transport{DialContext: s.ns.DialContext, DisableKeepAlives: true}}
	return s, nil
}

// addClient makes the client namespace and joins it to the lab's with a veth
// pair; the lab side address plays the node IP.
func (s *iptablesService) addClient(ctx context.Context) error {
	var err error
	s.client, err = netns.Create(ctx, netns.NewName("client"))
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	steps := [][]string{
		{"ip", "link", "add", "node0", "type", "veth", "peer", "name", "eth0", "netns", s.client.Name},
		{"ip", "addr", "add", NodeIP + "/24", "dev", "node0"},
		{"ip", "link", "set", "node0", "up"},
	}
	for _, st := range steps {
		if _, err := s.ns.Output(ctx, st...); err != nil {
			return fmt.Errorf("lab: client link: %w", err)
		}
	}
	for _, st := range [][]string{
		{"ip", "addr", "add", ClientIP + "/24", "dev", "eth0"},
		{"ip", "link", "set", "eth0", "up"},
	} {
		if _, err := s.client.Output(ctx, st...); err != nil {
			return fmt.Errorf("lab: client link: %w", err)
		}
	}
	return nil
}

func (s *iptablesService) nextSpec(name string) (pods.Spec, error) {
	if s.nextIP > 254 {
		return pods.Spec{}, errors.New("lab: out of pod addresses (253 pods per run)")
	}
	ip := podIPPrefix + strconv.Itoa(s.nextIP)
	s.nextIP++
	// Pod addresses are never reused within a run, so conntrack entries of a
	// removed pod can never be mistaken for a new pod's.
	if _, err := s.ns.Output(context.Background(), "ip", "addr", "add", ip+"/32", "dev", "lo"); err != nil {
		return pods.Spec{}, fmt.Errorf("lab: pod address: %w", err)
	}
	return pods.Spec{Name: name, IP: ip, HTTPPort: podHTTPPort, HTTPSPort: podHTTPSPort, H3Port: podHTTPSPort, MetricsPort: podMetricsPort}, nil
}

func (s *iptablesService) wrapPod(name string, argv []string) []string {
	return s.ns.Wrap(pods.WithHostname(name, argv))
}

func (s *iptablesService) httpClient() *http.Client { return s.hc }

func (s *iptablesService) setEndpoints(ctx context.Context, ready []pods.Spec, removed []pods.Spec) error {
	ips := make([]string, len(ready))
	for i, p := range ready {
		ips[i] = p.IP
	}
	text, chains, err := kubeproxy.Rules(s.svc, ips, s.chains)
	if err != nil {
		return fmt.Errorf("lab: rules: %w", err)
	}
	if err := s.ns.Input(ctx, text, "iptables-restore", "--noflush"); err != nil {
		return fmt.Errorf("lab: apply rules: %w", err)
	}
	s.chains = chains
	// kube-proxy's cleanup: UDP flows to a gone endpoint would otherwise
	// stay pinned to it until they idle out.
	var errs []error
	for _, p := range removed {
		for _, port := range s.svc.Ports {
			if port.Protocol != "udp" {
				continue
			}
			if _, err := conntrack.DeleteUDP(ctx, s.ns.Output, ClusterIP, port.Port, p.IP); err != nil {
				errs = append(errs, err)
			}
			if s.client != nil && port.NodePort > 0 {
				if _, err := conntrack.DeleteUDP(ctx, s.ns.Output, NodeIP, port.NodePort, p.IP); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

func (s *iptablesService) targets() map[string]string {
	host, httpPort, tlsPort := ClusterIP, 80, 443
	if s.client != nil {
		host, httpPort, tlsPort = NodeIP, NodePortTCP, NodePortTLS
	}
	return map[string]string{
		"TARGET_HTTP":  "http://" + host + ":" + strconv.Itoa(httpPort),
		"TARGET_HTTPS": "https://" + host + ":" + strconv.Itoa(tlsPort),
		"TARGET_H3":    "https://" + host + ":" + strconv.Itoa(tlsPort),
	}
}

func (s *iptablesService) wrapScript(argv []string) []string {
	if s.client != nil {
		return s.client.Wrap(argv)
	}
	return s.ns.Wrap(argv)
}

func (s *iptablesService) certHosts() []string {
	hosts := []string{ClusterIP, NodeIP, "127.0.0.1", "localhost"}
	for i := 2; i < 34; i++ {
		hosts = append(hosts, podIPPrefix+strconv.Itoa(i))
	}
	return hosts
}

func (s *iptablesService) close() error {
	var errs []error
	if s.client != nil {
		errs = append(errs, s.client.Delete())
	}
	if s.ns != nil {
		errs = append(errs, s.ns.Delete())
	}
	return errors.Join(errs...)
}

// userspaceService: pods on 127.0.0.1 with ports of their own, behind the
// Go proxy.
type userspaceService struct {
	proxy             *userspace.Proxy
	httpAddr, tlsAddr string
	hc                *http.Client
}

func newUserspaceService(cfg Config) (*userspaceService, error) {
	httpL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("lab: proxy: %w", err)
	}
	tlsL, quicC, err := userspace.ListenPair("127.0.0.1")
	if err != nil {
		httpL.Close()
		return nil, fmt.Errorf("lab: proxy: %w", err)
	}
	udpTimeout, streamTimeout := cfg.ConntrackUDPTimeout, cfg.ConntrackUDPStreamTimeout
	p, err := userspace.Start(userspace.Config{
		Ports:      []userspace.Port{{Name: "http", Listener: httpL}, {Name: "https", Listener: tlsL}, {Name: "quic", Packet: quicC}},
		UDPTimeout: udpTimeout, UDPStreamTimeout: streamTimeout,
	})
	if err != nil {
		httpL.Close()
		tlsL.Close()
		quicC.Close()
		return nil, fmt.Errorf("lab: proxy: %w", err)
	}
	return &userspaceService{
		proxy: p, httpAddr: httpL.Addr().String(), tlsAddr: tlsL.Addr().String(),
		hc: &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second},
	}, nil
}

func (s *userspaceService) nextSpec(name string) (pods.Spec, error) {
	httpPort, err := userspace.FreePort("127.0.0.1")
	if err != nil {
		return pods.Spec{}, err
	}
	tlsPort, err := userspace.FreePort("127.0.0.1")
	if err != nil {
		return pods.Spec{}, err
	}
	metricsPort, err := userspace.FreePort("127.0.0.1")
	if err != nil {
		return pods.Spec{}, err
	}
	return pods.Spec{Name: name, IP: "127.0.0.1", HTTPPort: httpPort, HTTPSPort: tlsPort, H3Port: tlsPort, MetricsPort: metricsPort}, nil
}

func (s *userspaceService) wrapPod(_ string, argv []string) []string { return argv }

func (s *userspaceService) httpClient() *http.Client { return s.hc }

func (s *userspaceService) setEndpoints(_ context.Context, ready []pods.Spec, _ []pods.Spec) error {
	eps := make([]userspace.Endpoint, len(ready))
	for i, p := range ready {
		eps[i] = userspace.Endpoint{Pod: p.Name, Addrs: map[string]string{
			"http":  net.JoinHostPort(p.IP, strconv.Itoa(p.HTTPPort)),
			"https": net.JoinHostPort(p.IP, strconv.Itoa(p.HTTPSPort)),
			"quic":  net.JoinHostPort(p.IP, strconv.Itoa(p.H3Port)),
		}}
	}
	s.proxy.SetEndpoints(eps)
	return nil
}

func (s *userspaceService) targets() map[string]string {
	return map[string]string{
		"TARGET_HTTP":  "http://" + s.httpAddr,
		"TARGET_HTTPS": "https://" + s.tlsAddr,
		"TARGET_H3":    "https://" + s.tlsAddr,
	}
}

func (s *userspaceService) wrapScript(argv []string) []string { return argv }

func (s *userspaceService) certHosts() []string { return []string{"127.0.0.1", "localhost"} }

func (s *userspaceService) close() error { return s.proxy.Close() }
