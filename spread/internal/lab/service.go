package lab

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"spread.dev/spread/internal/lab/conntrack"
	"spread.dev/spread/internal/lab/kubeproxy"
	"spread.dev/spread/internal/lab/link"
	"spread.dev/spread/internal/lab/netns"
	"spread.dev/spread/internal/lab/pods"
	"spread.dev/spread/internal/lab/userspace"
)

// Proxy modes.
const (
	ModeIPTables  = "iptables"
	ModeNFTables  = "nftables"
	ModeUserspace = "userspace"
)

// Addresses of the emulated cluster (iptables mode).
const (
	ClusterIP   = "10.96.0.10"
	ServiceCIDR = "10.96.0.0/12" // kube-apiserver's default --service-cluster-ip-range
	PodCIDR     = "10.244.0.0/16"
	podIPPrefix = "10.244.0."
	NodeIP      = "10.200.0.1" // lab side of the veth (NodePort mode)
	ClientIP    = "10.200.0.2" // client side of the veth
	NodePortTCP = 30080
	NodePortTLS = 30443
	// NodePortGRPC exposes the pods' cleartext gRPC port (5090).
	NodePortGRPC = 30090
)

// Service ports: as the write-up's Service (80 -> 5080, 443 -> 5443 tcp+udp).
const (
	podHTTPPort    = 5080
	podHTTPSPort   = 5443
	podMetricsPort = 9090
	podGRPCPort    = 5090 // echo-server's --grpc-bind default; the Service's port too
)

// LabService is the Service the iptables mode programs.
func LabService() kubeproxy.Service {
	return kubeproxy.Service{Namespace: "default", Name: "echo-server", ClusterIP: ClusterIP, ClusterCIDR: PodCIDR,
		Ports: []kubeproxy.ServicePort{
			{Name: "http", Protocol: "tcp", Port: 80, TargetPort: podHTTPPort, NodePort: NodePortTCP},
			{Name: "https", Protocol: "tcp", Port: 443, TargetPort: podHTTPSPort, NodePort: NodePortTLS},
			{Name: "quic", Protocol: "udp", Port: 443, TargetPort: podHTTPSPort, NodePort: NodePortTLS},
			{Name: "grpc", Protocol: "tcp", Port: podGRPCPort, TargetPort: podGRPCPort, NodePort: NodePortGRPC},
		}}
}

// service is one way of emulating the Service: addresses for pods, how to
// reach them, how to program endpoints, how to run the script.
type service interface {
	nextSpec(name string) (pods.Spec, error)
	wrapPod(name string, argv []string) []string
	podGone(name string) error
	// newFlows is how many flows (TCP connections, UDP 5-tuples) the
	// Service has sent to each pod so far, by pod name.
	newFlows(ctx context.Context) (map[string]int64, error)
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
	case ModeNFTables:
		if missing := toolsMissing("nft"); missing != "" {
			return "", "", fmt.Errorf("lab: --proxy nftables: %s", missing)
		}
		return ModeNFTables, "requested", nil
	case ModeUserspace:
		if nodePort {
			return "", "", errors.New("lab: --nodeport needs --proxy iptables or nftables")
		}
		return ModeUserspace, "requested", nil
	}
	return "", "", fmt.Errorf("lab: unknown proxy %q (want auto, iptables, nftables or userspace)", want)
}

// iptablesMissing says what prevents the iptables mode ("" = nothing).
func iptablesMissing() string { return toolsMissing("iptables-restore") }

// toolsMissing says what prevents a kernel mode using the rule tool ("" =
// nothing): root, and ip, conntrack, unshare and the tool in PATH.
func toolsMissing(ruleTool string) string {
	if os.Geteuid() != 0 {
		return fmt.Sprintf("not root (uid %d)", os.Geteuid())
	}
	var miss []string
	for _, tool := range []string{"ip", ruleTool, "conntrack", "unshare", "sysctl"} {
		if _, err := exec.LookPath(tool); err != nil {
			miss = append(miss, tool)
		}
	}
	if len(miss) > 0 {
		return "not found in PATH: " + strings.Join(miss, ", ")
	}
	return ""
}

// nodeService is the lab's node: a network namespace holding the Service's
// kernel rules (kube-proxy's iptables or nftables ones) and a bridge, and one
// more namespace per pod joined to the bridge by a veth pair, as a CNI
// bridge plugin wires a node. A pod's namespace is deleted as soon as its
// process is gone, so its address vanishes: packets to it are lost (ARP
// finds nobody), as for a deleted pod, instead of being reset.
type nodeService struct {
	mode       string
	ns, client *netns.NS // client is nil unless NodePort
	svc        kubeproxy.Service
	chains     []string
	nextIP     int
	hc         *http.Client

	podMu sync.Mutex
	podNS map[string]*netns.NS // by pod name

	flowMu   sync.Mutex
	ipToPod  map[string]string // pod IP -> pod name
	flowBase map[string]int64  // by pod IP: counted before the last rule replacement

	nodePort            bool      // the client targets NodePorts
	clientLink, podLink link.Spec // emulated impairments (zero = plain veth)
	emulator            string    // EmulatorTUN or EmulatorNetem, when a link is emulated
	clientRelay         *link.Relay
	podRelays           map[string]*link.Relay // by pod name (TUN emulator)
}

// Link emulators.
const (
	EmulatorTUN   = "userspace-tun" // TUN pair + relay in the lab process
	EmulatorNetem = "netem"         // veth pair + sch_netem on both ends
)

// Node-side names of the pod network.
const (
	bridgeName = "cbr0"
	bridgeIP   = podIPPrefix + "1" // pods' default gateway
)

func newNodeService(ctx context.Context, cfg Config, mode string) (_ *nodeService, err error) {
	s := &nodeService{mode: mode, svc: LabService(), nextIP: 2, podNS: map[string]*netns.NS{},
		ipToPod: map[string]string{}, flowBase: map[string]int64{}, podRelays: map[string]*link.Relay{},
		nodePort: cfg.NodePort, clientLink: cfg.ClientLink, podLink: cfg.PodLink}
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
	if err := s.ns.IP(ctx,
		"addr add "+ClusterIP+"/32 dev lo",
		"link add "+bridgeName+" type bridge",
		"addr add "+bridgeIP+"/24 dev "+bridgeName,
		"link set "+bridgeName+" up",
	); err != nil {
		return nil, fmt.Errorf("lab: node network: %w", err)
	}
	// NodePort traffic from the client namespace is forwarded to the pods.
	if _, err := s.ns.Output(ctx, "sysctl", "-q", "-w", "net.ipv4.ip_forward=1"); err != nil {
		return nil, fmt.Errorf("lab: node network: %w", err)
	}
	if !s.clientLink.Zero() || !s.podLink.Zero() {
		s.emulator, err = chooseEmulator(ctx, s.ns, cfg.LinkEmulator)
		if err != nil {
			return nil, err
		}
	}
	// An emulated client link needs the client in a namespace of its own.
	if cfg.NodePort || !s.clientLink.Zero() {
		if err := s.addClient(ctx); err != nil {
			return nil, err
		}
	}
	switch mode {
	case ModeIPTables:
		if err := s.ns.Input(ctx, kubeproxy.Bootstrap(), "iptables-restore", "--noflush"); err != nil {
			return nil, fmt.Errorf("lab: bootstrap rules: %w", err)
		}
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

// addClient makes the client namespace and joins it to the node's: a veth
// pair, or the emulated client link; the node side address plays the node
// IP (NodePort traffic goes to it).
func (s *nodeService) addClient(ctx context.Context) error {
	var err error
	s.client, err = netns.Create(ctx, netns.NewName("client"))
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if !s.clientLink.Zero() && s.emulator == EmulatorTUN {
		s.clientRelay, err = s.tunLink(ctx, s.client, "client0", NodeIP, ClientIP, s.clientLink)
		if err != nil {
			return fmt.Errorf("lab: client link: %w", err)
		}
		return nil
	}
	if err := s.ns.IP(ctx,
		"link add node0 type veth peer name eth0 netns "+s.client.Name,
		"addr add "+NodeIP+"/24 dev node0",
		"link set node0 up",
	); err != nil {
		return fmt.Errorf("lab: client link: %w", err)
	}
	if err := s.client.IP(ctx,
		"addr add "+ClientIP+"/24 dev eth0",
		"link set eth0 up",
		"route add default via "+NodeIP,
	); err != nil {
		return fmt.Errorf("lab: client link: %w", err)
	}
	if !s.clientLink.Zero() { // netem on both ends
		if err := netemBoth(ctx, s.ns, "node0", s.client, "eth0", s.clientLink); err != nil {
			return fmt.Errorf("lab: client link: %w", err)
		}
	}
	return nil
}

// tunLink joins other to the node with a TUN device on each side (node
// side nodeDev with nodeAddr, other side eth0 with otherAddr, point to
// point) relayed with spec's delay, jitter and loss.
func (s *nodeService) tunLink(ctx context.Context, other *netns.NS, nodeDev, nodeAddr, otherAddr string, spec link.Spec) (*link.Relay, error) {
	var a, b int
	if err := s.ns.Do(func() (err error) { a, err = link.OpenTUN(nodeDev); return }); err != nil {
		return nil, err
	}
	if err := other.Do(func() (err error) { b, err = link.OpenTUN("eth0"); return }); err != nil {
		unix.Close(a)
		return nil, err
	}
	r, err := link.NewRelay(a, b, spec)
	if err != nil {
		return nil, err
	}
	err = s.ns.IP(ctx, "addr add "+nodeAddr+" peer "+otherAddr+" dev "+nodeDev, "link set "+nodeDev+" up")
	if err == nil {
		err = other.IP(ctx, "addr add "+otherAddr+" peer "+nodeAddr+" dev eth0", "link set eth0 up", "route add default dev eth0")
	}
	if err != nil {
		r.Close()
		return nil, err
	}
	return r, nil
}

// netemBoth puts spec on the egress of both ends of a veth pair.
func netemBoth(ctx context.Context, a *netns.NS, devA string, b *netns.NS, devB string, spec link.Spec) error {
	for _, end := range []struct {
		ns  *netns.NS
		dev string
	}{{a, devA}, {b, devB}} {
		if _, err := end.ns.Output(ctx, append([]string{"tc", "qdisc", "add", "dev", end.dev, "root"}, spec.NetemArgs()...)...); err != nil {
			return err
		}
	}
	return nil
}

// chooseEmulator resolves the link emulator: netem where this kernel has
// sch_netem (tried on a dummy device in the node namespace), else the TUN
// relay.
func chooseEmulator(ctx context.Context, node *netns.NS, want string) (string, error) {
	netemErr := func() error {
		if _, err := exec.LookPath("tc"); err != nil {
			return err
		}
		if err := node.IP(ctx, "link add netemprobe type dummy"); err != nil {
			return err
		}
		defer node.IP(ctx, "link del netemprobe")
		_, err := node.Output(ctx, "tc", "qdisc", "add", "dev", "netemprobe", "root", "netem", "delay", "1ms")
		return err
	}
	switch want {
	case "", "auto":
		if netemErr() == nil {
			return EmulatorNetem, nil
		}
		return EmulatorTUN, nil
	case "netem":
		if err := netemErr(); err != nil {
			return "", fmt.Errorf("lab: --link-emulator netem: this kernel cannot run sch_netem: %w", err)
		}
		return EmulatorNetem, nil
	case "userspace", EmulatorTUN:
		return EmulatorTUN, nil
	}
	return "", fmt.Errorf("lab: --link-emulator %q (want auto, netem or userspace)", want)
}

// nextSpec gives the pod an address and a namespace of its own, wired to
// the node's bridge.
func (s *nodeService) nextSpec(name string) (pods.Spec, error) {
	if s.nextIP > 254 {
		return pods.Spec{}, errors.New("lab: out of pod addresses (253 pods per run)")
	}
	n := s.nextIP
	ip := podIPPrefix + strconv.Itoa(n)
	s.nextIP++
	// Pod addresses are never reused within a run, so conntrack entries of a
	// removed pod can never be mistaken for a new pod's.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	pns, err := netns.Create(ctx, netns.NewName("pod"+strconv.Itoa(n)))
	if err != nil {
		return pods.Spec{}, fmt.Errorf("lab: pod %s: %w", name, err)
	}
	veth := "veth" + strconv.Itoa(n)
	if !s.podLink.Zero() && s.emulator == EmulatorTUN {
		// A point-to-point TUN link instead of a bridge port: the node
		// routes the pod's /32 to it; when it goes, the bridge's /24 is
		// what is left, where nobody answers ARP (timeouts, as with veths).
		var r *link.Relay
		r, err = s.tunLink(ctx, pns, veth, bridgeIP, ip, s.podLink)
		if err == nil {
			s.podMu.Lock()
			s.podRelays[name] = r
			s.podMu.Unlock()
		}
	} else {
		err = s.ns.IP(ctx,
			"link add "+veth+" type veth peer name eth0 netns "+pns.Name,
			"link set "+veth+" master "+bridgeName,
			"link set "+veth+" up",
		)
		if err == nil {
			err = pns.IP(ctx,
				"addr add "+ip+"/24 dev eth0",
				"link set eth0 up",
				"route add default via "+bridgeIP,
			)
		}
		if err == nil && !s.podLink.Zero() {
			err = netemBoth(ctx, s.ns, veth, pns, "eth0", s.podLink)
		}
	}
	if err != nil {
		_ = pns.Delete()
		return pods.Spec{}, fmt.Errorf("lab: pod %s link: %w", name, err)
	}
	s.podMu.Lock()
	s.podNS[name] = pns
	s.podMu.Unlock()
	s.flowMu.Lock()
	s.ipToPod[ip] = name
	s.flowMu.Unlock()
	return pods.Spec{Name: name, IP: ip, HTTPPort: podHTTPPort, HTTPSPort: podHTTPSPort, H3Port: podHTTPSPort, MetricsPort: podMetricsPort, GRPCPort: podGRPCPort}, nil
}

func (s *nodeService) wrapPod(name string, argv []string) []string {
	s.podMu.Lock()
	pns := s.podNS[name]
	s.podMu.Unlock()
	return pns.Wrap(pods.WithHostname(name, argv))
}

// podGone deletes the pod's namespace (and with it its veth and address)
// once its process has exited.
func (s *nodeService) podGone(name string) error {
	s.podMu.Lock()
	pns := s.podNS[name]
	delete(s.podNS, name)
	relay := s.podRelays[name]
	delete(s.podRelays, name)
	s.podMu.Unlock()
	if relay != nil {
		// Closing the TUN devices removes them, and the pod's route.
		_ = relay.Close()
	}
	if pns == nil {
		return nil
	}
	// Deleting a namespace tears its devices down asynchronously, and until
	// then the pod's kernel would still reset connections: unplug the veth
	// first (that is synchronous and takes both ends with it).
	s.flowMu.Lock()
	veth := ""
	for ip, n := range s.ipToPod {
		if n == name {
			veth = "veth" + strings.TrimPrefix(ip, podIPPrefix)
		}
	}
	s.flowMu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var errs []error
	if veth != "" && relay == nil {
		if err := s.ns.IP(ctx, "link del "+veth); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(append(errs, pns.Delete())...)
}

func (s *nodeService) httpClient() *http.Client { return s.hc }

func (s *nodeService) setEndpoints(ctx context.Context, ready []pods.Spec, removed []pods.Spec) error {
	ips := make([]string, len(ready))
	for i, p := range ready {
		ips[i] = p.IP
	}
	// Replacing the rules resets their counters: bank them first.
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	if now, err := s.readCounters(ctx); err == nil {
		for ip, n := range now {
			s.flowBase[ip] += n
		}
	}
	switch s.mode {
	case ModeNFTables:
		text, err := kubeproxy.NFTRules(s.svc, ips, kubeproxy.NFTOptions{ServiceCIDR: ServiceCIDR, NodePortIPs: s.nodePortIPs(), Counters: true})
		if err != nil {
			return fmt.Errorf("lab: rules: %w", err)
		}
		// One nft transaction: the table is replaced whole or not at all.
		if err := s.ns.Input(ctx, text, "nft", "-f", "-"); err != nil {
			return fmt.Errorf("lab: apply nft rules: %w", err)
		}
	default:
		text, chains, err := kubeproxy.Rules(s.svc, ips, s.chains)
		if err != nil {
			return fmt.Errorf("lab: rules: %w", err)
		}
		if err := s.ns.Input(ctx, text, "iptables-restore", "--noflush"); err != nil {
			return fmt.Errorf("lab: apply rules: %w", err)
		}
		s.chains = chains
	}
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
			if s.nodePort && port.NodePort > 0 {
				if _, err := conntrack.DeleteUDP(ctx, s.ns.Output, NodeIP, port.NodePort, p.IP); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	return errors.Join(errs...)
}

// Counters of the endpoints' DNAT rules: the nat table sees only the first
// packet of a connection (or UDP 5-tuple), so packets = new flows.
var (
	iptCounterRe = regexp.MustCompile(`(?m)^\[(\d+):\d+\] -A KUBE-SEP-\S+ .*-j DNAT --to-destination ([0-9.]+):\d+`)
	nftCounterRe = regexp.MustCompile(`counter packets (\d+) bytes \d+ dnat to ([0-9.]+):\d+`)
)

// readCounters returns the new-flow counts of the rules now loaded, by
// endpoint IP.
func (s *nodeService) readCounters(ctx context.Context) (map[string]int64, error) {
	var out []byte
	var err error
	re := iptCounterRe
	if s.mode == ModeNFTables {
		re = nftCounterRe
		out, err = s.ns.Output(ctx, "nft", "list", "table", "ip", kubeproxy.NFTTable)
	} else {
		out, err = s.ns.Output(ctx, "iptables-save", "-c", "-t", "nat")
	}
	if err != nil {
		return nil, fmt.Errorf("lab: rule counters: %w", err)
	}
	m := map[string]int64{}
	for _, sub := range re.FindAllStringSubmatch(string(out), -1) {
		n, _ := strconv.ParseInt(sub[1], 10, 64)
		m[sub[2]] += n
	}
	return m, nil
}

func (s *nodeService) newFlows(ctx context.Context) (map[string]int64, error) {
	s.flowMu.Lock()
	defer s.flowMu.Unlock()
	now, err := s.readCounters(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for ip, name := range s.ipToPod {
		out[name] = s.flowBase[ip] + now[ip]
	}
	return out, nil
}

// LinkInfo says how links were emulated and what round-trip time the
// client measured to the Service.
type LinkInfo struct {
	Emulator      string  `json:"emulator"` // userspace-tun, netem, or "" (plain veths)
	Client        string  `json:"client"`   // the client link's spec
	Pods          string  `json:"pods"`     // each pod link's spec
	ExpectedRTTms float64 `json:"expected_rtt_ms"`
	MeasuredRTTms float64 `json:"measured_rtt_ms"` // median TCP connect time to the Service (0 = not measured)
	LostPackets   uint64  `json:"lost_packets"`    // dropped by the TUN relays so far
	RealTime      bool    `json:"realtime"`        // the relays' threads run SCHED_FIFO
}

// measureRTT times n TCP connects from the client's side to the Service's
// HTTP port and returns the median: a SYN/SYN-ACK round trip through every
// emulated link (client and pod side).
func (s *nodeService) measureRTT(ctx context.Context, n int) (time.Duration, error) {
	u := s.targets()["TARGET_HTTP"]
	addr := strings.TrimPrefix(u, "http://")
	from := s.ns
	if s.client != nil {
		from = s.client
	}
	var times []time.Duration
	// All connects from one thread already in the namespace, timing only
	// connect(2): entering the namespace is not part of the path.
	err := from.Do(func() error {
		for i := 0; i < n; i++ {
			d := net.Dialer{Timeout: 5 * time.Second}
			start := time.Now()
			c, err := d.DialContext(ctx, "tcp", addr)
			el := time.Since(start)
			if err != nil {
				return err
			}
			c.Close()
			times = append(times, el)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("lab: measure rtt to %s: %w", addr, err)
	}
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	return times[len(times)/2], nil
}

// linkInfo describes the links (measured RTT filled in by the caller).
func (s *nodeService) linkInfo() LinkInfo {
	li := LinkInfo{Emulator: s.emulator, Client: s.clientLink.String(), Pods: s.podLink.String(),
		ExpectedRTTms: float64(s.clientLink.RTT()+s.podLink.RTT()) / 1e6}
	s.podMu.Lock()
	relays := []*link.Relay{s.clientRelay}
	for _, r := range s.podRelays {
		relays = append(relays, r)
	}
	s.podMu.Unlock()
	li.RealTime = true
	for _, r := range relays {
		if r != nil {
			st := r.Stats()
			li.LostPackets += st.Lost
			li.RealTime = li.RealTime && st.RealTime
		}
	}
	if s.emulator != EmulatorTUN {
		li.RealTime = false
	}
	return li
}

// nodePortIPs are the node addresses that accept NodePort traffic.
func (s *nodeService) nodePortIPs() []string {
	if s.nodePort {
		return []string{NodeIP}
	}
	return nil
}

func (s *nodeService) targets() map[string]string {
	host, httpPort, tlsPort, grpcPort := ClusterIP, 80, 443, podGRPCPort
	if s.nodePort {
		host, httpPort, tlsPort, grpcPort = NodeIP, NodePortTCP, NodePortTLS, NodePortGRPC
	}
	return map[string]string{
		"TARGET_HTTP":  "http://" + host + ":" + strconv.Itoa(httpPort),
		"TARGET_HTTPS": "https://" + host + ":" + strconv.Itoa(tlsPort),
		"TARGET_H3":    "https://" + host + ":" + strconv.Itoa(tlsPort),
		// k6/net/grpc's address form (no scheme): cleartext h2c.
		"TARGET_GRPC": host + ":" + strconv.Itoa(grpcPort),
	}
}

func (s *nodeService) wrapScript(argv []string) []string {
	if s.client != nil {
		return s.client.Wrap(argv)
	}
	return s.ns.Wrap(argv)
}

func (s *nodeService) certHosts() []string {
	hosts := []string{ClusterIP, NodeIP, "127.0.0.1", "localhost"}
	for i := 2; i < 34; i++ {
		hosts = append(hosts, podIPPrefix+strconv.Itoa(i))
	}
	return hosts
}

func (s *nodeService) close() error {
	var errs []error
	s.podMu.Lock()
	left := s.podNS
	s.podNS = map[string]*netns.NS{}
	relays := s.podRelays
	s.podRelays = map[string]*link.Relay{}
	s.podMu.Unlock()
	for _, r := range relays {
		errs = append(errs, r.Close())
	}
	for _, pns := range left {
		errs = append(errs, pns.Delete())
	}
	if s.clientRelay != nil {
		errs = append(errs, s.clientRelay.Close())
	}
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
	proxy                       *userspace.Proxy
	httpAddr, tlsAddr, grpcAddr string
	hc                          *http.Client
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
	grpcL, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		httpL.Close()
		tlsL.Close()
		quicC.Close()
		return nil, fmt.Errorf("lab: proxy: %w", err)
	}
	udpTimeout, streamTimeout := cfg.ConntrackUDPTimeout, cfg.ConntrackUDPStreamTimeout
	p, err := userspace.Start(userspace.Config{
		Ports:      []userspace.Port{{Name: "http", Listener: httpL}, {Name: "https", Listener: tlsL}, {Name: "quic", Packet: quicC}, {Name: "grpc", Listener: grpcL}},
		Scheduler:  cfg.Scheduler,
		UDPTimeout: udpTimeout, UDPStreamTimeout: streamTimeout,
	})
	if err != nil {
		httpL.Close()
		tlsL.Close()
		quicC.Close()
		grpcL.Close()
		return nil, fmt.Errorf("lab: proxy: %w", err)
	}
	return &userspaceService{
		proxy: p, httpAddr: httpL.Addr().String(), tlsAddr: tlsL.Addr().String(), grpcAddr: grpcL.Addr().String(),
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
	grpcPort, err := userspace.FreePort("127.0.0.1")
	if err != nil {
		return pods.Spec{}, err
	}
	return pods.Spec{Name: name, IP: "127.0.0.1", HTTPPort: httpPort, HTTPSPort: tlsPort, H3Port: tlsPort, MetricsPort: metricsPort, GRPCPort: grpcPort}, nil
}

func (s *userspaceService) wrapPod(_ string, argv []string) []string { return argv }

func (s *userspaceService) podGone(string) error { return nil }

func (s *userspaceService) newFlows(context.Context) (map[string]int64, error) {
	return s.proxy.NewFlows(), nil
}

func (s *userspaceService) httpClient() *http.Client { return s.hc }

func (s *userspaceService) setEndpoints(_ context.Context, ready []pods.Spec, _ []pods.Spec) error {
	eps := make([]userspace.Endpoint, len(ready))
	for i, p := range ready {
		eps[i] = userspace.Endpoint{Pod: p.Name, Addrs: map[string]string{
			"http":  net.JoinHostPort(p.IP, strconv.Itoa(p.HTTPPort)),
			"https": net.JoinHostPort(p.IP, strconv.Itoa(p.HTTPSPort)),
			"quic":  net.JoinHostPort(p.IP, strconv.Itoa(p.H3Port)),
			"grpc":  net.JoinHostPort(p.IP, strconv.Itoa(p.GRPCPort)),
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
		"TARGET_GRPC":  s.grpcAddr,
	}
}

func (s *userspaceService) wrapScript(argv []string) []string { return argv }

func (s *userspaceService) certHosts() []string { return []string{"127.0.0.1", "localhost"} }

func (s *userspaceService) close() error { return s.proxy.Close() }
