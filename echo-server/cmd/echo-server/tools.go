package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"spread.dev/echo-server/certs"
	"spread.dev/echo-server/quickeys"
)

// runCerts is `echo-server certs`: a CA and a server certificate signed by it.
func runCerts(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo-server certs", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "certs", "directory to write ca.pem, ca.key, cert.crt and cert.key into (an existing CA there is reused)")
	hosts := fs.String("hosts", "localhost,127.0.0.1,::1", "comma-separated DNS names and IP addresses the server certificate is valid for")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: echo-server certs [--dir DIR] [--hosts a,b,...]\n\nWrites a private CA and a server certificate signed by it (ECDSA P-256, valid 1 year).\nTrust DIR/ca.pem in clients; serve with --certfile DIR/cert.crt --keyfile DIR/cert.key.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	p, err := certs.Write(*dir, certs.SplitHosts(*hosts))
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "wrote %s %s %s %s\n", p.CA, p.CAKey, p.Cert, p.Key)
	return 0
}

// runKeys is `echo-server keys`: a fresh --quic-keys file.
func runKeys(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("echo-server keys", flag.ContinueOnError)
	fs.SetOutput(stderr)
	out := fs.String("out", "", "file to write (JSON: stateless_reset_key, token_key, session_ticket_keys; base64 32-byte values)")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: echo-server keys --out FILE\n\nWrites random QUIC stateless-reset, address-token and TLS session-ticket keys.\nGive the same file to every replica with --quic-keys FILE.\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" {
		fs.Usage()
		return fail(stderr, errors.New("keys: --out FILE is required"))
	}
	k, err := quickeys.Generate()
	if err == nil {
		err = k.Save(*out)
	}
	if err != nil {
		return fail(stderr, err)
	}
	fmt.Fprintf(stdout, "wrote %s\n", *out)
	return 0
}
