/*
 * hub.js: holds one EventSource per channel and relays its events to the
 * tabs that show that channel.  The same file runs in two places:
 *
 *  - as a SharedWorker script (new SharedWorker('hub.js')): every tab of the
 *    site connects a MessagePort to the one worker, so ten tabs share one
 *    stream per channel;
 *  - as a plain <script> in a page (browsers without SharedWorker): then it
 *    only defines self.SseHub, and app.js runs it in the one tab that won
 *    the leader election, relaying over a BroadcastChannel.
 *
 * Messages from a tab (client) to the hub:
 *   {type:'subscribe', channel, url}   show this channel (replaces any other)
 *   {type:'kick'}                      the browser is back online: reconnect now
 *   {type:'ping'}                      I am still here
 *   {type:'bye'}                       the tab is going away
 * Messages from the hub to a tab:
 *   {type:'replay', channel, events, state}  what the hub holds, on subscribe
 *   {type:'event', channel, ev}              ev = {kind:'message'|'reset', id, data}
 *   {type:'state', channel, state}           'connecting' | 'live' | 'reconnecting'
 *                                            | 'signed-out' | 'polling' (the slower mode, below)
 *
 * 'signed-out': the stream's channel is private and the server answered 401
 * or 403 (no token, an expired one, one for other channels: docs/PROTOCOL.md,
 * "Private channels and tokens").  An EventSource does not say which status
 * ended it, so on any non-200 end the hub asks with a HEAD of the same URL;
 * a poll (below) sees the status itself.  After 401 or 403 it stops
 * retrying and polling (retrying cannot sign anyone in) until
 * a tab subscribes again (a reload after signing in) or the browser comes
 * back online.
 *
 * Only 'message' (chat messages and plain published text) and 'reset' are
 * listened for: an EventSource drops events of other names by itself, which
 * is what the page wants for names it does not know.
 *
 * When streaming is blocked (docs/PROTOCOL.md, "Polling"): streams are
 * opened with hello=1, so the server sends an event named hello right
 * after its first frame.  A path that buffers (a corporate proxy, an
 * HTTP/2 front holding mod_fcgid's output) lets the connection open and
 * then holds everything; when no hello has come FIRST_FRAME_MS after a
 * stream (re)started, or there is no EventSource at all, the hub polls:
 * it fetches poll=1 one-shot answers, parses their event-stream text, and
 * asks again after their retry:.  Every STREAM_AGAIN_MS it tries a real
 * stream again, polling on until that stream's hello arrives.  Ids are
 * the same both ways: each poll and each stream resumes after the last id
 * read (since=), and receive() drops an id it has already relayed, so
 * nothing is lost or doubled across the switches.
 */
(function (global) {
	'use strict';

	var BUFFER_MAX = 500;        /* events kept per channel for late tabs */
	var IDLE_CLOSE_MS = 5000;    /* keep a channel open this long with no tab */
	var CLIENT_TIMEOUT_MS = 180000; /* a tab silent this long is gone */
	var RETRY_MIN_MS = 1000, RETRY_MAX_MS = 15000;
	var FIRST_FRAME_MS = 4000;   /* no hello this long after a (re)start: blocked */
	var RECONNECT_GUESS_MS = 2000; /* the browser's wait before it reconnects (retry:) */
	var ONE_SHOT_GUESS_MS = 30000; /* ... after a one-shot answer (at most 30 s) */
	/* While polling, try a real stream this often (a test may shorten it). */
	var STREAM_AGAIN_MS = global.sseStreamAgainMs > 0 ? global.sseStreamAgainMs : 60000;
	var POLL_TIMEOUT_MS = 20000; /* a poll unanswered this long has failed */
	var POLL_DEFAULT_MS = 2000;  /* until an answer's retry: says otherwise */

	/*
	 * Channels are keyed by their stream URL, so two chat pages of one site
	 * that listen to different endpoints never share a stream by mistake.
	 */
	function Hub() {
		this.channels = Object.create(null);  /* stream URL -> channel state */
		this.clients = Object.create(null);   /* id -> {send, key, seen} */
		var hub = this;
		this.sweeper = setInterval(function () { hub.sweep(); }, 30000);
	}

	Hub.prototype.attach = function (id, send) {
		this.clients[id] = { send: send, key: null, seen: Date.now() };
	};

	Hub.prototype.detach = function (id) {
		var c = this.clients[id];
		if (!c)
			return;
		delete this.clients[id];
		if (c.key)
			this.release(c.key);
	};

	Hub.prototype.handle = function (id, msg) {
		var c = this.clients[id];
		if (!c || !msg || typeof msg !== 'object')
			return;
		c.seen = Date.now();
		switch (msg.type) {
		case 'subscribe':
			if (c.key)
				this.release(c.key);
			c.key = null;
			var ch = this.acquire(String(msg.channel), String(msg.url));
			c.key = ch.key;
			c.send({ type: 'replay', channel: ch.name, events: ch.buffer.slice(),
			         state: ch.state });
			break;
		case 'kick':
			for (var key in this.channels)
				this.kick(this.channels[key]);
			break;
		case 'bye':
			/*
			 * Only the channel is let go: a page kept in the back/forward
			 * cache says bye and may come back on the same port.  A tab
			 * that is really gone stops pinging and is swept.
			 */
			if (c.key)
				this.release(c.key);
			c.key = null;
			break;
		}
	};

	/* Drops tabs that stopped talking (closed without a goodbye). */
	Hub.prototype.sweep = function () {
		var now = Date.now();
		for (var id in this.clients)
			if (now - this.clients[id].seen > CLIENT_TIMEOUT_MS)
				this.detach(id);
	};

	Hub.prototype.acquire = function (name, url) {
		var ch = this.channels[url];
		if (!ch) {
			ch = this.channels[url] = {
				key: url, name: name, url: url, es: null, state: 'connecting',
				buffer: [], lastId: 0, resumeId: 0, users: 0, failures: 0,
				retryTimer: null, closeTimer: null, helloTimer: null,
				oneShot: false, polling: false, pollTimer: null, pollAbort: null,
				pollEvery: POLL_DEFAULT_MS, probeTimer: null,
			};
			this.open(ch, false);
		} else if (ch.state === 'signed-out' && !ch.es) {
			this.open(ch, true);   /* signed in since, perhaps: try again */
		}
		ch.users++;
		if (ch.closeTimer) {
			clearTimeout(ch.closeTimer);
			ch.closeTimer = null;
		}
		return ch;
	};

	Hub.prototype.release = function (key) {
		var ch = this.channels[key], hub = this;
		if (!ch)
			return;
		ch.users--;
		if (ch.users <= 0 && !ch.closeTimer) {
			ch.closeTimer = setTimeout(function () {
				if (ch.users > 0)
					return;
				hub.shut(ch);
				delete hub.channels[key];
			}, IDLE_CLOSE_MS);
		}
	};

	Hub.prototype.shut = function (ch) {
		if (ch.retryTimer)
			clearTimeout(ch.retryTimer);
		ch.retryTimer = null;
		this.closeStream(ch);
		this.stopPolling(ch);
	};

	Hub.prototype.closeStream = function (ch) {
		clearTimeout(ch.helloTimer);
		ch.helloTimer = null;
		if (ch.es)
			ch.es.close();
		ch.es = null;
	};

	Hub.prototype.broadcast = function (ch, msg) {
		for (var id in this.clients) {
			var c = this.clients[id];
			if (c.key === ch.key) {
				try {
					c.send(msg);
				} catch (e) {
					this.detach(id);
				}
			}
		}
	};

	Hub.prototype.setState = function (ch, state) {
		if (ch.state === state)
			return;
		ch.state = state;
		this.broadcast(ch, { type: 'state', channel: ch.name, state: state });
	};

	/*
	 * Opens the stream.  The first time, no resume point: the server sends
	 * the recent history.  After the browser gave up on a stream (it does on
	 * any non-200 answer), the new one resumes after the last id seen.
	 */
	Hub.prototype.open = function (ch, resume) {
		var hub = this;
		if (typeof EventSource !== 'function') {
			this.startPolling(ch);
			return;
		}
		var url = withParam(ch.url, 'hello', '1');
		if (resume && ch.resumeId > 0)
			url = withParam(url, 'since', ch.resumeId);
		var es;
		try {
			es = new EventSource(url);
		} catch (e) {
			if (ch.polling) {
				this.probeLater(ch);
				return;
			}
			this.setState(ch, 'reconnecting');
			this.retryLater(ch);
			return;
		}
		ch.es = es;
		this.awaitHello(ch, es, FIRST_FRAME_MS);
		/* Headers came: the first frame must follow at once. */
		es.onopen = function () {
			if (ch.es === es)
				hub.awaitHello(ch, es, FIRST_FRAME_MS);
		};
		es.addEventListener('hello', function (e) {
			if (ch.es !== es)
				return;
			clearTimeout(ch.helloTimer);
			ch.helloTimer = null;
			ch.failures = 0;
			ch.oneShot = e.data === 'one-shot';
			if (ch.polling)
				hub.stopPolling(ch);   /* streams get through again */
			hub.setState(ch, 'live');
		});
		es.onerror = function () {
			if (ch.es !== es)
				return;
			if (ch.polling) {
				/* A try at streaming again failed: keep polling. */
				hub.closeStream(ch);
				hub.probeLater(ch);
				return;
			}
			if (es.readyState === EventSource.CLOSED) {
				/* A non-200 answer: the browser will not retry, so we do,
				 * unless the channel refused us (signed out). */
				hub.closeStream(ch);
				hub.whyClosed(ch, es.url);
				return;
			} else {
				/*
				 * The browser reconnects after retry: and says nothing more
				 * unless that fails too (then this runs again, and waits
				 * again): a reconnect that goes silent is a blocked one.
				 */
				hub.awaitHello(ch, es, FIRST_FRAME_MS +
					(ch.oneShot ? ONE_SHOT_GUESS_MS : RECONNECT_GUESS_MS));
			}
			hub.setState(ch, ch.lastId > 0 || ch.state !== 'connecting'
				? 'reconnecting' : 'connecting');
		};
		es.onmessage = function (e) {
			if (ch.es === es)
				hub.receive(ch, 'message', e);
		};
		es.addEventListener('reset', function (e) {
			if (ch.es === es)
				hub.receive(ch, 'reset', e);
		});
	};

	/* After a non-200 end: 401 or 403 means signed out, else retry. */
	Hub.prototype.whyClosed = function (ch, url) {
		var hub = this;
		var retry = function () {
			hub.setState(ch, ch.lastId > 0 || ch.state !== 'connecting'
				? 'reconnecting' : 'connecting');
			hub.retryLater(ch);
		};
		if (typeof fetch !== 'function')
			return retry();
		fetch(url, { method: 'HEAD', credentials: 'same-origin', cache: 'no-store' })
			.then(function (r) {
				if (hub.channels[ch.key] !== ch || ch.es)
					return;
				if (r.status === 401 || r.status === 403)
					hub.setState(ch, 'signed-out');
				else
					retry();
			}, function () {
				if (hub.channels[ch.key] === ch && !ch.es)
					retry();
			});
	};

	/* No hello within ms: the stream is held on the way; poll instead. */
	Hub.prototype.awaitHello = function (ch, es, ms) {
		var hub = this;
		clearTimeout(ch.helloTimer);
		ch.helloTimer = setTimeout(function () {
			ch.helloTimer = null;
			if (ch.es !== es || hub.channels[ch.key] !== ch)
				return;
			hub.closeStream(ch);
			if (ch.polling)
				hub.probeLater(ch);
			else
				hub.startPolling(ch);
		}, ms);
	};

	Hub.prototype.startPolling = function (ch) {
		if (ch.polling)
			return;
		ch.polling = true;
		ch.failures = 0;
		this.setState(ch, 'polling');
		this.poll(ch);
		this.probeLater(ch);
	};

	Hub.prototype.stopPolling = function (ch) {
		ch.polling = false;
		clearTimeout(ch.pollTimer);
		clearTimeout(ch.probeTimer);
		ch.pollTimer = ch.probeTimer = null;
		if (ch.pollAbort)
			ch.pollAbort();
		ch.pollAbort = null;
	};

	/* While polling: a real stream again, later (never without EventSource). */
	Hub.prototype.probeLater = function (ch) {
		var hub = this;
		clearTimeout(ch.probeTimer);
		ch.probeTimer = null;
		if (typeof EventSource !== 'function')
			return;
		ch.probeTimer = setTimeout(function () {
			ch.probeTimer = null;
			if (hub.channels[ch.key] === ch && ch.polling && !ch.es)
				hub.open(ch, true);
		}, STREAM_AGAIN_MS);
	};

	/* What a poll's fetch gives finish() for a 401 or 403 answer. */
	var REFUSED = {};

	/*
	 * One poll=1 answer: its events, then the next poll after its retry:.
	 * A 401 or 403 is the private channel's refusal, as for a stream
	 * (whyClosed): signed out, and no more polls or stream tries.
	 */
	Hub.prototype.poll = function (ch) {
		var hub = this;
		ch.pollTimer = null;
		var url = withParam(ch.url, 'poll', '1');
		if (ch.resumeId > 0)
			url = withParam(url, 'since', ch.resumeId);
		var ctl = typeof AbortController === 'function' ? new AbortController() : null;
		var done = false;
		var timer = setTimeout(function () {
			if (ctl)
				ctl.abort();
			finish(null);
		}, POLL_TIMEOUT_MS);
		ch.pollAbort = function () {
			done = true;
			clearTimeout(timer);
			if (ctl)
				ctl.abort();
		};
		function finish(text) {
			if (done)
				return;
			done = true;
			clearTimeout(timer);
			ch.pollAbort = null;
			if (!ch.polling || hub.channels[ch.key] !== ch)
				return;
			if (text === REFUSED) {
				hub.shut(ch);
				hub.setState(ch, 'signed-out');
				return;
			}
			var delay;
			if (text === null) {
				ch.failures++;
				delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * Math.pow(2, ch.failures - 1));
				if (!ch.es)
					hub.setState(ch, 'reconnecting');
			} else {
				var answer = parseEventStream(text);
				for (var i = 0; i < answer.events.length; i++) {
					var ev = answer.events[i];
					if (ev.type === 'message' || ev.type === 'reset')
						hub.receive(ch, ev.type, { lastEventId: ev.id, data: ev.data });
				}
				ch.failures = 0;
				if (answer.retry > 0)
					ch.pollEvery = answer.retry;
				delay = ch.pollEvery;
				if (ch.polling)
					hub.setState(ch, 'polling');
			}
			if (ch.polling)
				ch.pollTimer = setTimeout(function () { hub.poll(ch); }, delay);
		}
		fetch(url, {
			cache: 'no-store', credentials: 'same-origin',
			headers: { Accept: 'text/event-stream' },
			signal: ctl ? ctl.signal : undefined,
		}).then(function (res) {
			if (res.status === 401 || res.status === 403)
				return REFUSED;
			return res.status === 200 ? res.text() : null;
		}).then(finish, function () { finish(null); });
	};

	Hub.prototype.retryLater = function (ch) {
		var hub = this;
		if (ch.retryTimer)
			return;
		ch.failures++;
		var delay = Math.min(RETRY_MAX_MS, RETRY_MIN_MS * Math.pow(2, ch.failures - 1));
		delay = delay * (0.75 + Math.random() * 0.5);
		ch.retryTimer = setTimeout(function () {
			ch.retryTimer = null;
			if (hub.channels[ch.key] === ch && !ch.es)
				hub.open(ch, true);
		}, delay);
	};

	/* Back online: do not wait for the browser's or our back-off. */
	Hub.prototype.kick = function (ch) {
		if (ch.es && ch.es.readyState === EventSource.OPEN)
			return;
		this.shut(ch);
		ch.failures = 0;
		this.open(ch, true);
	};

	Hub.prototype.receive = function (ch, kind, e) {
		var id = parseInt(e.lastEventId, 10);
		if (!(id > 0))
			id = 0;
		var ev = { kind: kind, id: id, data: String(e.data) };
		/* resumeId: where the next poll or stream starts (a Last-Event-ID). */
		if (kind === 'reset') {
			/* What follows may have lower ids (a replaced database). */
			ch.buffer = [];
			ch.lastId = 0;
			ch.resumeId = id;
		} else {
			if (id > 0 && id <= ch.lastId)
				return;  /* never relay a message twice */
			if (id > 0)
				ch.lastId = ch.resumeId = id;
			ch.buffer.push(ev);
			if (ch.buffer.length > BUFFER_MAX)
				ch.buffer.splice(0, ch.buffer.length - BUFFER_MAX);
		}
		this.broadcast(ch, { type: 'event', channel: ch.name, ev: ev });
	};

	Hub.prototype.destroy = function () {
		clearInterval(this.sweeper);
		for (var key in this.channels)
			this.shut(this.channels[key]);
		this.channels = Object.create(null);
		this.clients = Object.create(null);
	};

	function withParam(url, name, value) {
		return url + (url.indexOf('?') < 0 ? '?' : '&') + name + '=' +
			encodeURIComponent(String(value));
	}

	/*
	 * A whole text/event-stream answer as WHATWG HTML's "Parsing an event
	 * stream" reads it: lines end in CRLF, LF or CR; a line left without an
	 * ending is dropped; ':' starts a comment; data lines join with LF; an
	 * id persists to the events after it; an event with no data is none.
	 */
	function parseEventStream(text) {
		var out = { events: [], retry: 0 };
		var data = null, type = '', lastId = '';
		if (text.charCodeAt(0) === 0xFEFF)
			text = text.slice(1);
		var lines = text.split(/\r\n|\n|\r/);
		lines.pop();   /* what follows the last line ending */
		for (var i = 0; i < lines.length; i++) {
			var line = lines[i];
			if (line === '') {
				if (data !== null)
					out.events.push({ type: type || 'message', id: lastId, data: data });
				data = null;
				type = '';
				continue;
			}
			if (line.charAt(0) === ':')
				continue;
			var colon = line.indexOf(':');
			var field = colon < 0 ? line : line.slice(0, colon);
			var value = colon < 0 ? '' : line.slice(colon + 1);
			if (value.charAt(0) === ' ')
				value = value.slice(1);
			if (field === 'data')
				data = data === null ? value : data + '\n' + value;
			else if (field === 'event')
				type = value;
			else if (field === 'id' && value.indexOf('\0') < 0)
				lastId = value;
			else if (field === 'retry' && /^[0-9]+$/.test(value))
				out.retry = parseInt(value, 10);
		}
		return out;
	}

	global.SseHub = Hub;
	global.SseHub.parseEventStream = parseEventStream;

	/* Running as the SharedWorker: one hub, one client per connected port. */
	if (typeof SharedWorkerGlobalScope !== 'undefined' &&
	    global instanceof SharedWorkerGlobalScope) {
		var hub = new Hub(), next = 0;
		global.onconnect = function (e) {
			var port = e.ports[0], id = 'p' + (++next);
			hub.attach(id, function (m) { port.postMessage(m); });
			port.onmessage = function (ev) { hub.handle(id, ev.data); };
			/* Newer browsers tell us when a tab's port is gone. */
			port.addEventListener('close', function () { hub.detach(id); });
			port.start();
		};
	}
})(self);
