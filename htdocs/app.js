/*
 * app.js: the chat page.
 *
 * Listening: one EventSource per channel for all tabs of the site, held by
 * hub.js in a SharedWorker, else (no SharedWorker) by the one tab that holds
 * the leader lock, relayed to the others over a BroadcastChannel, else (no
 * BroadcastChannel either) by this tab alone.  See hub.js for the messages.
 *
 * Posting: fetch() with a JSON body; the message then comes back through the
 * stream like anyone else's, so every tab shows the same thing in the same
 * order.
 *
 * Everything a user or the server sends is put on the page as text
 * (textContent, createTextNode); links are built as <a> elements.
 */
(function () {
	'use strict';

	var root = document.documentElement;
	var EVENTS_URL = root.getAttribute('data-events') || '/cgi-bin/events.fcgi';
	var POST_URL = root.getAttribute('data-post') || '/cgi-bin/post.fcgi';
	var HUB_URL = 'hub.js';
	var HUB_VERSION = '2';   /* bump when the tab<->hub messages change */
	var CHANNEL_RE = /^[A-Za-z0-9_.\-]{1,64}$/;
	var DEFAULT_CHANNEL = 'chat';
	var MAX_SHOWN = 500;            /* messages kept on the page */
	var GROUP_MS = 5 * 60 * 1000;   /* one header for a run of messages */
	var QUIET_MS = 1500;            /* the longest a history burst is taken to last */
	var SETTLE_MS = 500;            /* a pause this long after it ends the history */
	var GRACE_MS = 3000;            /* a planned reconnect is not worth showing */
	var TEXT_MAX = 2000;
	var KEY_USER = 'sse-cgi.user', KEY_ROOMS = 'sse-cgi.rooms';

	function $(id) { return document.getElementById(id); }
	var el = {
		app: $('app'), conn: $('conn'), connLabel: $('conn-label'),
		slowNote: $('slow-note'), roomTitle: $('room-title'), roomList: $('room-list'),
		roomForm: $('room-form'), roomInput: $('room-input'),
		log: $('log'), messages: $('messages'), empty: $('empty'),
		marker: $('new-marker'), newCount: $('new-count'), announce: $('announce'),
		composer: $('composer'), channelField: $('channel-field'),
		user: $('user'), message: $('message'), send: $('send'),
		hint: $('hint'), error: $('error'),
	};

	/* ---- storage (may be unavailable: private modes, disabled cookies) ---- */

	function load(key) {
		try { return window.localStorage.getItem(key); } catch (e) { return null; }
	}
	function save(key, value) {
		try { window.localStorage.setItem(key, value); } catch (e) { /* ignore */ }
	}

	/* ---- state ---- */

	var channel = null;      /* the room shown */
	var lastId = 0;          /* highest message id shown (0 after a reset) */
	var prev = null;         /* the last message shown, for grouping */
	var lastDay = '';        /* the day of the last date line */
	var shown = 0;           /* messages on the page */
	var unseen = 0;          /* arrived while scrolled up */
	var unreadTitle = 0;     /* arrived while the tab was hidden */
	var quietUntil = 0;      /* announce nothing before this (history) */
	var quietCap = 0;        /* ... nor after this while history keeps coming */
	var hubState = 'connecting';
	var lostAt = 0;          /* when the stream stopped being live */
	var everLive = false;
	var stateTimer = null;
	var sending = false;

	/* ---- transport: how this tab reaches the one stream ---- */

	var transport = null;
	var lastSubscribe = null;

	function streamUrl(name) {
		var u = new URL(EVENTS_URL, location.href);
		u.searchParams.set('channel', name);
		return u.href;
	}

	function deliver(msg) {
		if (!msg || typeof msg !== 'object' || msg.channel !== channel)
			return;
		switch (msg.type) {
		case 'replay':
			beQuiet();
			for (var i = 0; i < msg.events.length; i++)
				onEvent(msg.events[i]);
			/* A hub still connecting sends the history when its stream opens. */
			if (msg.state !== 'connecting')
				quietFromNow();
			setHubState(msg.state);
			updateEmpty();
			break;
		case 'event':
			onEvent(msg.ev);
			break;
		case 'state':
			setHubState(msg.state);
			break;
		}
	}

	/* This tab alone (no SharedWorker, no BroadcastChannel): a private hub. */
	function localTransport(mode) {
		var hub = new window.SseHub();
		hub.attach('self', function (m) { setTimeout(function () { deliver(m); }, 0); });
		return {
			mode: mode,
			send: function (m) { hub.handle('self', m); },
		};
	}

	function sharedWorkerTransport(fallback) {
		var worker = new SharedWorker(HUB_URL, { name: 'sse-cgi-hub-' + HUB_VERSION });
		var heard = false;
		var t = {
			mode: 'shared-worker',
			send: function (m) { worker.port.postMessage(m); },
		};
		worker.port.onmessage = function (e) {
			heard = true;
			deliver(e.data);
		};
		worker.onerror = function () {
			/* The worker script did not load: take the next way. */
			if (heard || transport !== t)
				return;
			transport = fallback();
			if (lastSubscribe)
				transport.send(lastSubscribe);
		};
		worker.port.start();
		return t;
	}

	/*
	 * Leader election among tabs: the holder of a Web Lock (held until the
	 * tab closes) runs the hub; without Web Locks, a lease in localStorage
	 * that the leader renews.  Either way only one tab at a time opens
	 * streams, and when it goes another takes over and says so, and every
	 * tab subscribes again.
	 */
	function broadcastTransport() {
		var me = 't' + Math.random().toString(36).slice(2) + Date.now().toString(36);
		var bc = new BroadcastChannel('sse-cgi-hub-' + HUB_VERSION);
		var hub = null;
		var t = {
			mode: 'broadcast-follower',
			send: function (m) {
				if (hub)
					hub.handle(me, m);
				else
					bc.postMessage({ from: me, to: 'leader', msg: m });
			},
		};
		function lead() {
			if (hub)
				return;
			hub = new window.SseHub();
			t.mode = 'broadcast-leader';
			hub.attach(me, function (m) { setTimeout(function () { deliver(m); }, 0); });
			if (lastSubscribe)
				hub.handle(me, lastSubscribe);
			bc.postMessage({ from: me, to: '*', leader: true });
		}
		function stepDown() {
			if (!hub)
				return;
			hub.destroy();
			hub = null;
			t.mode = 'broadcast-follower';
			if (lastSubscribe)
				t.send(lastSubscribe);
		}
		bc.onmessage = function (e) {
			var d = e.data;
			if (!d || typeof d !== 'object')
				return;
			if (d.to === 'leader' && hub) {
				if (!hub.clients[d.from]) {
					var from = d.from;
					hub.attach(from, function (m) { bc.postMessage({ to: from, msg: m }); });
				}
				hub.handle(d.from, d.msg);
			} else if (d.to === me) {
				deliver(d.msg);
			} else if (d.leader && d.from !== me) {
				/* A new leader: tell it what we show. */
				if (hub)
					stepDown();
				else if (lastSubscribe)
					t.send(lastSubscribe);
			}
		};
		if (navigator.locks && navigator.locks.request) {
			navigator.locks.request('sse-cgi-hub-leader-' + HUB_VERSION, function () {
				lead();
				return new Promise(function () { /* held until the tab closes */ });
			});
		} else {
			var LEASE = 'sse-cgi.leader', TERM = 6000;
			var tick = function () {
				var cur = null;
				try { cur = JSON.parse(load(LEASE) || 'null'); } catch (e) { cur = null; }
				var now = Date.now();
				if (!cur || cur.id === me || cur.until < now) {
					save(LEASE, JSON.stringify({ id: me, until: now + TERM }));
					lead();
				} else if (hub) {
					stepDown();
				}
			};
			tick();
			setInterval(tick, TERM / 3);
			window.addEventListener('pagehide', function () {
				if (hub)
					save(LEASE, 'null');
			});
		}
		return t;
	}

	function chooseTransport() {
		var forced = new URLSearchParams(location.search).get('transport');
		var canShared = typeof SharedWorker === 'function' && forced !== 'broadcast' &&
		                forced !== 'single';
		var canBroadcast = typeof BroadcastChannel === 'function' && forced !== 'single';
		var fallback = function () {
			return canBroadcast ? broadcastTransport() : localTransport('single');
		};
		if (canShared) {
			try {
				return sharedWorkerTransport(fallback);
			} catch (e) { /* a file: page, a blocked worker */ }
		}
		return fallback();
	}

	function subscribe(name) {
		lastSubscribe = { type: 'subscribe', channel: name, url: streamUrl(name) };
		transport.send(lastSubscribe);
	}

	/* ---- connection state ---- */

	var STATE_LABELS = {
		connecting: 'Connecting…',
		live: 'Live',
		polling: 'Slower mode',
		reconnecting: 'Reconnecting…',
		offline: 'Offline',
		'signed-out': 'Signed out',
	};

	function setHubState(state) {
		if (!STATE_LABELS[state])
			return;
		if (state === 'live')
			everLive = true;
		if ((state === 'live' || state === 'polling') && quietUntil === Infinity)
			quietFromNow();   /* the history follows the stream's opening */
		if (hubState === 'live' && state !== 'live')
			lostAt = Date.now();
		hubState = state;
		renderState();
		updateEmpty();
	}

	function renderState() {
		clearTimeout(stateTimer);
		var state = hubState, label;
		if (navigator.onLine === false) {
			state = 'offline';
		} else if (state === 'reconnecting' && everLive && Date.now() - lostAt < GRACE_MS) {
			/* The server ends streams now and then; the browser is back in 2 s. */
			state = 'live';
			stateTimer = setTimeout(renderState, GRACE_MS - (Date.now() - lostAt) + 50);
		}
		label = STATE_LABELS[state];
		if (state === 'reconnecting' && Date.now() - lostAt > 30000)
			label = 'Still reconnecting…';
		if (state === 'reconnecting')
			stateTimer = setTimeout(renderState, 5000);
		if (el.conn.getAttribute('data-state') !== state)
			el.conn.setAttribute('data-state', state);
		if (el.connLabel.textContent !== label)
			el.connLabel.textContent = label;
		/* The slower mode says why, in words, where everyone sees it. */
		el.slowNote.hidden = state !== 'polling';
	}

	window.addEventListener('online', function () {
		renderState();
		if (transport)
			transport.send({ type: 'kick' });
	});
	window.addEventListener('offline', renderState);

	/* ---- messages ---- */

	function parseChat(data) {
		var o;
		try { o = JSON.parse(data); } catch (e) { return null; }
		if (!o || typeof o !== 'object' || typeof o.user !== 'string' ||
		    typeof o.text !== 'string')
			return null;
		return o;
	}

	function onEvent(ev) {
		if (!ev)
			return;
		if (ev.kind === 'reset') {
			clearView();
			var info = null;
			try { info = JSON.parse(ev.data); } catch (e) { info = null; }
			addSystem(info && info.reason === 'unknown-id'
				? 'The server’s message store was replaced; showing what it has now.'
				: 'Some messages were missed while you were away; showing the latest.', 'note');
			beQuiet();
			quietFromNow();
			return;
		}
		if (ev.id > 0 && ev.id <= lastId)
			return;  /* already shown: a reconnect or a second relay */
		var atBottom = isAtBottom();
		var chat = parseChat(ev.data);
		var item = chat ? renderChat(chat, ev.id) : addSystem(ev.data, 'sys');
		if (ev.id > 0)
			lastId = ev.id;
		trim();
		updateEmpty();
		var live = Date.now() > quietUntil;
		if (!live && quietUntil !== Infinity)   /* history is still coming */
			quietFromNow();
		if (atBottom) {
			scrollToBottom();
		} else {
			unseen++;
			showMarker();
		}
		if (live && chat) {
			announce(chat.user + ': ' + chat.text);
			if (document.hidden) {
				unreadTitle++;
				renderTitle();
			}
		}
		return item;
	}

	function dayKey(d) {
		return d.getFullYear() + '-' + d.getMonth() + '-' + d.getDate();
	}

	function dayLabel(d) {
		var today = new Date();
		var yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
		if (dayKey(d) === dayKey(today))
			return 'Today';
		if (dayKey(d) === dayKey(yesterday))
			return 'Yesterday';
		return d.toLocaleDateString(undefined, {
			weekday: 'long', year: 'numeric', month: 'long', day: 'numeric',
		});
	}

	function hueOf(name) {
		var h = 0x811c9dc5;  /* FNV-1a, then mixed so "u1" and "u2" differ */
		for (var i = 0; i < name.length; i++)
			h = Math.imul(h ^ name.charCodeAt(i), 0x01000193);
		h = Math.imul(h ^ (h >>> 15), 0x2c1b3c6d);
		h ^= h >>> 12;
		return (h >>> 0) % 360;
	}

	function initialOf(name) {
		var s = name.trim();
		var cp = s.codePointAt(0);
		return cp === undefined ? '?' : String.fromCodePoint(cp).toUpperCase();
	}

	function addDay(d) {
		var li = document.createElement('li');
		li.className = 'day';
		var span = document.createElement('span');
		span.textContent = dayLabel(d);
		li.appendChild(span);
		el.messages.appendChild(li);
	}

	function renderChat(m, id) {
		var t = typeof m.time === 'string' ? new Date(m.time) : null;
		if (t && isNaN(t.getTime()))
			t = null;
		if (t && dayKey(t) !== lastDay) {
			addDay(t);
			lastDay = dayKey(t);
			prev = null;
		}
		var signed = m.signed === true;   /* the name came from a token */
		var cont = prev !== null && prev.user === m.user &&
		           prev.signed === signed && t && prev.time &&
		           t - prev.time < GROUP_MS && t >= prev.time;
		var me = el.user.value.trim();

		var li = document.createElement('li');
		li.className = 'msg' + (cont ? ' cont' : '') + (me && m.user === me ? ' own' : '');
		if (id > 0)
			li.setAttribute('data-id', String(id));

		var avatar = document.createElement('span');
		avatar.className = 'avatar';
		avatar.setAttribute('aria-hidden', 'true');
		avatar.style.setProperty('--hue', String(hueOf(m.user)));
		avatar.textContent = initialOf(m.user);
		li.appendChild(avatar);

		var body = document.createElement('div');
		body.className = 'body';
		var meta = document.createElement('p');
		meta.className = 'meta';
		var who = document.createElement('span');
		who.className = 'user';
		who.textContent = m.user;
		meta.appendChild(who);
		if (signed) {
			var mark = document.createElement('span');
			mark.className = 'signed';
			mark.textContent = '✓';
			mark.title = 'Signed: this name was vouched for by the site';
			mark.setAttribute('aria-label', 'signed');
			meta.appendChild(document.createTextNode(' '));
			meta.appendChild(mark);
		}
		if (me && m.user === me) {
			var you = document.createElement('span');
			you.className = 'you';
			you.textContent = 'you';
			meta.appendChild(document.createTextNode(' '));
			meta.appendChild(you);
		}
		if (t) {
			meta.appendChild(document.createTextNode(' '));
			meta.appendChild(timeElement(t, 'time'));
		}
		body.appendChild(meta);
		var text = document.createElement('p');
		text.className = 'text';
		appendLinkified(text, m.text);
		body.appendChild(text);
		li.appendChild(body);
		if (cont && t) {
			var side = timeElement(t, 'side-time');
			side.setAttribute('aria-hidden', 'true');
			li.appendChild(side);
		}
		el.messages.appendChild(li);
		shown++;
		prev = { user: m.user, time: t, signed: signed };
		return li;
	}

	function timeElement(t, cls) {
		var e = document.createElement('time');
		e.className = cls;
		e.dateTime = t.toISOString();
		e.title = t.toLocaleString(undefined, { dateStyle: 'full', timeStyle: 'short' });
		e.textContent = t.toLocaleTimeString(undefined, { hour: 'numeric', minute: '2-digit' });
		return e;
	}

	/* An event that is not a chat message: shown as a plain line. */
	function addSystem(text, cls) {
		var li = document.createElement('li');
		li.className = cls;
		var p = document.createElement('p');
		appendLinkified(p, String(text));
		li.appendChild(p);
		el.messages.appendChild(li);
		prev = null;
		if (cls === 'sys')
			shown++;
		return li;
	}

	/* http(s) links become <a> elements; everything else stays text. */
	var URL_RE = /\bhttps?:\/\/[^\s<>"'`]+/gi;
	function appendLinkified(parent, text) {
		var last = 0, m;
		URL_RE.lastIndex = 0;
		while ((m = URL_RE.exec(text)) !== null) {
			var raw = trimUrl(m[0]);
			var url = null;
			try { url = new URL(raw); } catch (e) { url = null; }
			if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:'))
				continue;
			if (m.index > last)
				parent.appendChild(document.createTextNode(text.slice(last, m.index)));
			var a = document.createElement('a');
			a.href = url.href;
			a.target = '_blank';
			a.rel = 'noopener noreferrer nofollow';
			a.textContent = raw;
			parent.appendChild(a);
			last = m.index + raw.length;
			URL_RE.lastIndex = last;
		}
		if (last < text.length)
			parent.appendChild(document.createTextNode(text.slice(last)));
	}

	/* Drops what ends a sentence rather than the link: "see http://x.org." */
	function trimUrl(s) {
		for (;;) {
			var c = s.charAt(s.length - 1);
			if (/[.,!?;:*]/.test(c)) {
				s = s.slice(0, -1);
				continue;
			}
			var pairs = { ')': '(', ']': '[', '}': '{' };
			if (pairs[c] && count(s, c) > count(s, pairs[c])) {
				s = s.slice(0, -1);
				continue;
			}
			return s;
		}
	}

	function count(s, c) {
		return s.split(c).length - 1;
	}

	function trim() {
		while (shown > MAX_SHOWN && el.messages.firstChild) {
			var first = el.messages.firstChild;
			if (/\b(msg|sys)\b/.test(first.className))
				shown--;
			el.messages.removeChild(first);
		}
	}

	function clearView() {
		while (el.messages.firstChild)
			el.messages.removeChild(el.messages.firstChild);
		lastId = 0;
		prev = null;
		lastDay = '';
		shown = 0;
		unseen = 0;
		hideMarker();
		updateEmpty();
	}

	function updateEmpty() {
		var none = shown === 0;
		el.empty.hidden = !none;
		if (none) {
			el.empty.textContent = hubState === 'live' || hubState === 'polling'
				? 'No messages in #' + channel + ' yet. Say hello!'
				: hubState === 'signed-out'
				? '#' + channel + ' is private: sign in to read it.'
				: 'Loading messages…';
		}
	}

	/* ---- scrolling and the "new messages" marker ---- */

	function isAtBottom() {
		var l = el.log;
		return l.scrollHeight - l.scrollTop - l.clientHeight < 48;
	}

	function scrollToBottom() {
		el.log.scrollTop = el.log.scrollHeight;
	}

	function showMarker() {
		el.newCount.textContent = unseen === 1 ? '1 new message' : unseen + ' new messages';
		el.marker.hidden = false;
	}

	function hideMarker() {
		el.marker.hidden = true;
	}

	el.log.addEventListener('scroll', function () {
		if (isAtBottom()) {
			unseen = 0;
			hideMarker();
		}
	}, { passive: true });

	el.marker.addEventListener('click', function () {
		el.log.scrollTo({ top: el.log.scrollHeight, behavior: 'smooth' });
		unseen = 0;
		hideMarker();
	});

	/* Keeps the view pinned to the bottom when the layout changes size. */
	if (typeof ResizeObserver === 'function') {
		var pinned = true;
		el.log.addEventListener('scroll', function () { pinned = isAtBottom(); }, { passive: true });
		new ResizeObserver(function () {
			if (pinned)
				scrollToBottom();
		}).observe(el.log);
	}

	/* ---- screen readers: new messages, not the history ---- */

	/*
	 * What a stream sends first after a (re)subscription or a reset is
	 * history, which a screen reader should not read out.  Nothing marks its
	 * end, but it comes in one burst right after the stream opens: so the
	 * quiet lasts until the stream is open, then until SETTLE_MS pass
	 * without an event, and never longer than QUIET_MS after the opening.
	 * A message posted a moment after the page opened is news.
	 */
	function beQuiet() {
		quietUntil = Infinity;
		quietCap = Infinity;
	}

	function quietFromNow() {
		var now = Date.now();
		if (quietCap === Infinity)
			quietCap = now + QUIET_MS;
		quietUntil = Math.min(now + SETTLE_MS, quietCap);
	}

	function announce(text) {
		if (text.length > 300)
			text = text.slice(0, 300) + '…';
		var d = document.createElement('div');
		d.textContent = text;
		el.announce.appendChild(d);
		while (el.announce.childNodes.length > 5)
			el.announce.removeChild(el.announce.firstChild);
	}

	/* ---- title: the room, and unread messages while the tab is hidden ---- */

	function renderTitle() {
		document.title = (unreadTitle > 0 ? '(' + unreadTitle + ') ' : '') + '#' + channel + ' · Chat';
	}

	document.addEventListener('visibilitychange', function () {
		if (!document.hidden && unreadTitle > 0) {
			unreadTitle = 0;
			renderTitle();
		}
	});

	/* ---- rooms ---- */

	function roomFromHash() {
		var h = location.hash.replace(/^#/, '');
		try { h = decodeURIComponent(h); } catch (e) { return null; }
		if (h === '')
			return DEFAULT_CHANNEL;
		return CHANNEL_RE.test(h) ? h : null;
	}

	function recentRooms() {
		var list;
		try { list = JSON.parse(load(KEY_ROOMS) || '[]'); } catch (e) { list = []; }
		if (!Array.isArray(list))
			list = [];
		list = list.filter(function (r) { return typeof r === 'string' && CHANNEL_RE.test(r); });
		if (list.indexOf(DEFAULT_CHANNEL) < 0)
			list.unshift(DEFAULT_CHANNEL);
		return list;
	}

	function rememberRoom(name) {
		var list = recentRooms().filter(function (r) { return r !== name && r !== DEFAULT_CHANNEL; });
		list.unshift(name);
		if (name !== DEFAULT_CHANNEL)
			list.unshift(DEFAULT_CHANNEL);
		list = list.filter(function (r, i) { return list.indexOf(r) === i; }).slice(0, 8);
		save(KEY_ROOMS, JSON.stringify(list));
		renderRooms(list);
	}

	function renderRooms(list) {
		while (el.roomList.firstChild)
			el.roomList.removeChild(el.roomList.firstChild);
		list.forEach(function (r) {
			var li = document.createElement('li');
			var a = document.createElement('a');
			a.href = '#' + r;
			a.textContent = '#' + r;
			if (r === channel)
				a.setAttribute('aria-current', 'page');
			li.appendChild(a);
			el.roomList.appendChild(li);
		});
	}

	function showChannel(name) {
		if (name === channel)
			return;
		channel = name;
		clearView();
		hubState = 'connecting';
		everLive = false;
		beQuiet();
		unreadTitle = 0;
		el.roomTitle.textContent = '#' + name;
		el.channelField.value = name;
		el.message.placeholder = 'Message #' + name;
		renderTitle();
		rememberRoom(name);
		renderState();
		updateEmpty();
		subscribe(name);
	}

	function onHash() {
		var name = roomFromHash();
		if (name === null) {
			showError('“' + location.hash.slice(1) + '” is not a room name: use 1 to 64 letters, digits, _ . or -.');
			name = channel || DEFAULT_CHANNEL;
			history.replaceState(null, '', '#' + name);
		}
		showChannel(name);
	}

	window.addEventListener('hashchange', onHash);

	el.roomForm.addEventListener('submit', function (e) {
		e.preventDefault();
		var name = el.roomInput.value.trim().replace(/^#/, '');
		if (!CHANNEL_RE.test(name)) {
			el.roomInput.setCustomValidity('Use 1 to 64 letters, digits, _ . or -');
			el.roomInput.reportValidity();
			return;
		}
		el.roomInput.setCustomValidity('');
		el.roomInput.value = '';
		location.hash = name;   /* hashchange switches the room */
	});
	el.roomInput.addEventListener('input', function () {
		el.roomInput.setCustomValidity('');
	});

	/* ---- composing and posting ---- */

	function showError(text) {
		el.error.textContent = text;
		el.error.hidden = false;
	}

	function clearError() {
		el.error.textContent = '';
		el.error.hidden = true;
	}

	function autosize() {
		var m = el.message;
		m.style.height = 'auto';
		m.style.height = Math.min(m.scrollHeight + 2, 180) + 'px';
		var n = Array.from(m.value.trim()).length;
		if (n > TEXT_MAX * 0.9)
			el.hint.textContent = n + ' / ' + TEXT_MAX + ' characters';
		else
			el.hint.textContent = 'Enter sends · Shift+Enter adds a line';
		el.hint.classList.toggle('over', n > TEXT_MAX);
	}

	var REASONS = {
		400: 'the server refused the message',
		403: 'posting from this address is not allowed',
		413: 'the message is too large',
		415: 'the server did not accept the format',
		429: 'too many messages: wait a moment',
		503: 'the server is busy: try again shortly',
	};

	function errorText(status, body, retryAfter) {
		var text = body && typeof body.error === 'string' && body.error !== ''
			? body.error
			: REASONS[status] || 'the server answered ' + status;
		var out = 'Not sent: ' + text.replace(/[.\s]+$/, '');
		if ((status === 429 || status === 503) && /^\d+$/.test(retryAfter || ''))
			out += ' (try again in ' + retryAfter + ' s)';
		else if (status === 413)
			out += ' (try a shorter message)';
		return out + '. Your message is still in the box.';
	}

	function post() {
		if (sending)
			return;
		var user = el.user.value.trim();
		var text = el.message.value;
		if (user === '') {
			showError('Enter your name first.');
			el.user.focus();
			return;
		}
		if (text.trim() === '') {
			el.message.focus();
			return;
		}
		sending = true;
		el.send.disabled = true;
		el.composer.setAttribute('aria-busy', 'true');
		fetch(POST_URL, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json', 'Accept': 'application/json' },
			body: JSON.stringify({ channel: channel, user: user, text: text }),
			credentials: 'same-origin',
			cache: 'no-store',
		}).then(function (res) {
			return res.text().then(function (raw) {
				var body = null;
				try { body = JSON.parse(raw); } catch (e) { body = null; }
				if (res.status === 201 || (res.ok && body && body.id)) {
					clearError();
					if (el.message.value === text)
						el.message.value = '';
					autosize();
				} else {
					showError(errorText(res.status, body, res.headers.get('Retry-After')));
				}
			});
		}, function () {
			showError('Not sent: the server could not be reached (are you offline?). ' +
			          'Your message is still in the box.');
		}).then(function () {
			sending = false;
			el.send.disabled = false;
			el.composer.removeAttribute('aria-busy');
		});
	}

	el.composer.addEventListener('submit', function (e) {
		e.preventDefault();
		post();
	});

	el.message.addEventListener('keydown', function (e) {
		if (e.key === 'Enter' && !e.shiftKey && !e.isComposing && e.keyCode !== 229) {
			e.preventDefault();
			post();
		}
	});
	el.message.addEventListener('input', autosize);

	el.user.addEventListener('input', function () {
		save(KEY_USER, el.user.value.trim());
		if (el.user.value.trim() !== '' && /name/i.test(el.error.textContent))
			clearError();
	});

	/* The skip link must not touch the hash: the hash names the room. */
	var skip = document.querySelector('.skip');
	if (skip) {
		skip.addEventListener('click', function (e) {
			e.preventDefault();
			el.message.focus();
		});
	}

	/* ---- start ---- */

	el.user.value = load(KEY_USER) || '';
	autosize();
	transport = chooseTransport();
	onHash();

	setInterval(function () {
		if (transport)
			transport.send({ type: 'ping' });
	}, 30000);

	window.addEventListener('pagehide', function () {
		if (transport)
			transport.send({ type: 'bye' });
	});
	window.addEventListener('pageshow', function (e) {
		if (e.persisted && lastSubscribe) {
			var name = channel;
			channel = null;
			showChannel(name);
		}
	});

	if (window.matchMedia && window.matchMedia('(pointer: fine)').matches)
		(el.user.value ? el.message : el.user).focus({ preventScroll: true });

	/* For the tests and the curious: how this tab listens. */
	window.sseChat = {
		get mode() { return transport && transport.mode; },
		get channel() { return channel; },
		get lastId() { return lastId; },
		get state() { return el.conn.getAttribute('data-state'); },
	};
})();
