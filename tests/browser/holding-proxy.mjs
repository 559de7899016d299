// A buffering path for the browser tests: an HTTP proxy on a loopback port
// in front of the test's Apache that passes each response's status and
// headers on at once and holds its body until the upstream response ends,
// as a corporate proxy or an HTTP/2 front holding mod_fcgid's output does.
// A stream's connection then opens (EventSource fires open) and nothing
// more arrives; one-shot answers arrive whole.
//
//   node holding-proxy.mjs UPSTREAM_PORT [LISTEN_PORT]
//
// Prints "listening PORT" once it listens (LISTEN_PORT 0 or none: a free
// port).  SIGUSR2: pass bodies through as they come from now on (the path
// got fixed); SIGUSR1: hold them again.  SIGTERM ends it.  On stderr, a
// line "open METHOD URL" as a request arrives, and "held"/"passed", method,
// URL and body bytes when its upstream answer has ended.
import http from 'node:http';

const upstreamPort = Number(process.argv[2]);
const listenPort = Number(process.argv[3] || 0);
if (!(upstreamPort > 0)) {
	console.error('usage: node holding-proxy.mjs UPSTREAM_PORT [LISTEN_PORT]');
	process.exit(2);
}
let hold = true;
process.on('SIGUSR2', () => { hold = false; });
process.on('SIGUSR1', () => { hold = true; });
process.on('SIGTERM', () => process.exit(0));

const HOP = ['connection', 'keep-alive', 'proxy-connection', 'transfer-encoding', 'upgrade'];

const server = http.createServer((req, res) => {
	console.error(`open ${req.method} ${req.url}`);
	const headers = { ...req.headers };
	for (const h of HOP)
		delete headers[h];
	const up = http.request({
		host: '127.0.0.1', port: upstreamPort, method: req.method, path: req.url, headers,
	}, (ur) => {
		const out = { ...ur.headers };
		for (const h of HOP)
			delete out[h];
		res.writeHead(ur.statusCode, out);
		res.flushHeaders();
		const holding = hold;
		const chunks = [];
		let bytes = 0;
		ur.on('data', (c) => {
			bytes += c.length;
			if (holding)
				chunks.push(c);
			else
				res.write(c);
		});
		ur.on('end', () => {
			console.error(`${holding ? 'held' : 'passed'} ${req.method} ${req.url} ${bytes}`);
			res.end(holding ? Buffer.concat(chunks) : undefined);
		});
		ur.on('error', () => res.destroy());
	});
	up.on('error', () => {
		if (!res.headersSent)
			res.writeHead(502, { 'Content-Type': 'text/plain' });
		res.end('bad gateway');
	});
	// The browser went away: so does the upstream request (its stream ends).
	res.on('close', () => up.destroy());
	req.pipe(up);
});
server.listen(listenPort, '127.0.0.1', () => {
	console.log(`listening ${server.address().port}`);
});
