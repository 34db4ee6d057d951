// Package http3 is the k6/x/http3 module of spread: HTTP/3 load requests
// with an explicit connection policy, on spread's extension API.
//
//	import http3 from 'k6/x/http3';
//	const client = new http3.Client({ mode: 'per-request', socket: 'fresh', caCerts: __ENV.CA_CERT });
//	export default function () { const res = client.get(__ENV.TARGET_H3); }
//
// The policies and the requests live in the goja-free package
// spread.dev/xk6-http3/client; this package parses the JS options (bad
// ones throw a TypeError in the init context), turns results into k6-shaped
// response objects and samples (http_req_* with proto HTTP/3.0 and the
// extra tag mode, data_sent/data_received, http3_connections_opened,
// http3_handshake_duration), keeps the multiplexed pools shared by every
// VU of the process, and closes each VU's connections when its context
// ends. README.md documents every option, the timings and the error codes.
package http3
