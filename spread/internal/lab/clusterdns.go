package lab

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"spread.dev/spread/internal/lab/dns"
	"spread.dev/spread/internal/lab/pods"
)

// Names the lab's cluster DNS answers, as a cluster's DNS would for the
// Services of namespace "spread" (k8s/base has the same two Services).
const (
	DNSServiceName  = "echo-server.spread.svc.cluster.local"          // the ClusterIP
	DNSHeadlessName = "echo-server-headless.spread.svc.cluster.local" // ready pods' IPs
	dnsSearch       = "spread.svc.cluster.local svc.cluster.local cluster.local"
	// nodeDNSIP is where the DNS listens inside the node namespace
	// (kube-dns has a ClusterIP; a loopback address needs no route).
	nodeDNSIP = "127.0.0.53"
)

// clusterDNS is the lab's DNS server and the resolv.conf that makes it the
// script's default resolver.
type clusterDNS struct {
	srv     *dns.Server
	confDir string // /etc/netns/<ns>: `ip netns exec` mounts its resolv.conf over /etc/resolv.conf
	grpc    string // the gRPC port of the pods, for the headless target
}

// startDNS serves the cluster's DNS for the script: in the kernel modes
// inside the script's namespace, where a resolv.conf (search domains as a
// pod's) makes it the default resolver of everything the script runs, so
// "dns:///echo-server-headless...:5090" and http://echo-server/ resolve
// with no option; in userspace mode on 127.0.0.1 (TARGET_DNS only: pods all
// share 127.0.0.1 there, so a headless name cannot tell them apart).
func (l *lab) startDNS() error {
	ttl := l.cfg.DNSTTL
	if ttl == 0 {
		ttl = dns.DefaultTTL
	}
	var pc net.PacketConn
	var ln net.Listener
	listen := func(addr string) func() error {
		return func() error {
			var err error
			if pc, err = net.ListenPacket("udp", addr); err != nil {
				return err
			}
			if ln, err = net.Listen("tcp", pc.LocalAddr().String()); err != nil {
				pc.Close()
				return err
			}
			return nil
		}
	}
	d := &clusterDNS{}
	var err error
	ns, kernel := l.svc.(*nodeService)
	if kernel {
		ip := nodeDNSIP
		script := ns.ns
		if ns.client != nil {
			ip, script = NodeIP, ns.client // the client namespace reaches the node at NodeIP
		}
		if err = ns.ns.Do(listen(net.JoinHostPort(ip, "53"))); err == nil {
			d.confDir = filepath.Join("/etc/netns", script.Name)
			err = writeResolvConf(d.confDir, ip)
		}
		d.grpc = strconv.Itoa(podGRPCPort)
	} else {
		// A kernel-chosen UDP port may be taken on TCP: try a few.
		for range 10 {
			if err = listen("127.0.0.1:0")(); err == nil {
				break
			}
		}
	}
	if err != nil {
		return errors.Join(fmt.Errorf("lab: dns: %w", err), d.close())
	}
	if d.srv, err = dns.Serve(pc, ln, ttl, "cluster.local"); err != nil {
		pc.Close()
		ln.Close()
		return errors.Join(fmt.Errorf("lab: %w", err), d.close())
	}
	_ = d.srv.Set(DNSServiceName, []string{ClusterIP})
	_ = d.srv.Set(DNSHeadlessName, nil)
	l.dns = d
	l.res.Targets["TARGET_DNS"] = d.srv.Addr()
	if kernel {
		l.res.Targets["TARGET_GRPC_HEADLESS"] = "dns:///" + DNSHeadlessName + ":" + d.grpc
	}
	fmt.Fprintf(l.cfg.Progress, "lab: dns %s (ttl %s): %s, %s\n", d.srv.Addr(), ttl, DNSServiceName, DNSHeadlessName)
	return nil
}

// writeResolvConf makes dir/resolv.conf name the lab's DNS, with a pod's
// search path and ndots, so short Service names resolve as in a pod.
func writeResolvConf(dir, ip string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	conf := "# spread lab: the cluster DNS of this lab run\nnameserver " + ip + "\nsearch " + dnsSearch + "\noptions ndots:5 timeout:1 attempts:2\n"
	return os.WriteFile(filepath.Join(dir, "resolv.conf"), []byte(conf), 0o644)
}

// dnsEndpoints points the headless name at the ready pods (called on every
// endpoint change, after the Service rules).
func (l *lab) dnsEndpoints(ready []pods.Spec) {
	if l.dns == nil || l.dns.srv == nil {
		return
	}
	ips := make([]string, 0, len(ready))
	for _, p := range ready {
		ips = append(ips, p.IP)
	}
	if err := l.dns.srv.Set(DNSHeadlessName, ips); err != nil {
		l.record("error", "", err.Error())
	}
}

func (d *clusterDNS) close() error {
	if d == nil {
		return nil
	}
	var errs []error
	if d.srv != nil {
		errs = append(errs, d.srv.Close())
	}
	if d.confDir != "" {
		errs = append(errs, os.RemoveAll(d.confDir))
	}
	return errors.Join(errs...)
}
