// The chat page (htdocs/) in a real headless Chromium, behind the real Apache
// started by run.sh (scripts/apache.sh, mod_fcgid).  The tests run one after
// another: one of them stops and restarts Apache.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import {
	env, room, launch, newContext, openChat, waitState, shown, waitText, send,
	postHttp, ssectl, liveStreams, apache, streamRequests, until, sleep, closeAll,
	mintToken,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
afterEach(closeAll);

function noErrors(ctx) {
	assert.deepEqual(ctx.pageErrors, [], 'the page threw');
}

test('screenshots: desktop and phone, light and dark', { timeout: 60000 }, async () => {
	const r = 'chat';
	const convo = [
		['alice', 'Morning! Is the new build on staging yet?'],
		['bob', 'Yes, deployed at 9:40.\nRelease notes: https://example.org/releases/1.4'],
		['bob', 'Smoke tests are green, error rate flat.'],
		['carol', 'Nice. I’ll run the migration after lunch:\n1. back up the database\n2. ssectl prune --keep 1000\n3. watch the logs'],
		['alice', 'Sounds good, ping me if anything looks off.'],
	];
	for (const [u, t] of convo)
		await postHttp(r, u, t);
	ssectl('publish', '--channel', r, 'Maintenance window tonight, 22:00 to 22:30 UTC');
	await postHttp(r, 'dave', 'Heads-up: <b>tags</b> and <script>alert(1)</script> show up as plain text here, as they should.');
	for (const [name, viewport, colorScheme] of [
		['desktop-light', { width: 1280, height: 800 }, 'light'],
		['desktop-dark', { width: 1280, height: 800 }, 'dark'],
		['phone-light', { width: 390, height: 844 }, 'light'],
		['phone-dark', { width: 390, height: 844 }, 'dark'],
	]) {
		const ctx = await newContext(browser, { viewport, colorScheme, user: 'alice' });
		const page = await openChat(ctx, r);
		await waitText(page, convo[0][1]);
		await page.locator('#message').fill('Shall we do the retro on Friday?');
		await page.evaluate(() => document.activeElement?.blur());
		await sleep(200);
		await page.screenshot({ path: join(env.shots, `${name}.png`) });
		// No sideways scrolling at any width.
		const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth - innerWidth);
		assert.ok(overflow <= 0, `${name}: page is ${overflow}px wider than the window`);
		noErrors(ctx);
		await ctx.close();
	}
	// The narrowest common phone, with an error showing.
	const ctx = await newContext(browser, { viewport: { width: 360, height: 740 }, user: 'alice' });
	const page = await openChat(ctx, r);
	await page.evaluate(() => {
		const e = document.getElementById('error');
		e.textContent = 'Not sent: too many posts: wait a minute. Your message is still in the box.';
		e.hidden = false;
	});
	await page.screenshot({ path: join(env.shots, 'phone-360-error.png') });
	const overflow = await page.evaluate(() => document.scrollingElement.scrollWidth - innerWidth);
	assert.ok(overflow <= 0, `360px: page is ${overflow}px wider than the window`);
	await ctx.close();
});

const QUIET_MS = 1600;  // app.js QUIET_MS (1500) and a little

test('two browsers chat both ways; name remembered; local time', { timeout: 60000 }, async () => {
	const r = room('duo');
	const a = await newContext(browser, { user: 'alice', timezoneId: 'Asia/Tokyo' });
	const b = await newContext(browser, { timezoneId: 'America/New_York' });
	const pa = await openChat(a, r);
	const paLiveAt = Date.now();
	const pb = await openChat(b, r);
	// Bob types his name once; it is remembered across a reload.
	await pb.locator('#user').fill('bob');
	await pb.reload();
	await waitState(pb, 'live');
	assert.equal(await pb.locator('#user').inputValue(), 'bob');

	await send(pa, 'hello from alice');
	await waitText(pb, 'hello from alice');
	await waitText(pa, 'hello from alice');
	await pa.waitForFunction(() => document.getElementById('message').value === '');  // cleared on 201

	// What arrives in the first moments after a page opens is history, not
	// news (app.js: QUIET_MS after the stream opened at the most): wait that out.
	await sleep(Math.max(0, paLiveAt + QUIET_MS - Date.now()));
	await send(pb, 'hi alice, bob here');
	await waitText(pa, 'hi alice, bob here');
	await waitText(pb, 'hi alice, bob here');
	const seenA = await shown(pa), seenB = await shown(pb);
	assert.deepEqual(seenA.map((m) => [m.user, m.text]),
		[['alice', 'hello from alice'], ['bob', 'hi alice, bob here']]);
	assert.deepEqual(seenA, seenB, 'both see the same messages, same ids, same order');

	// Alice's own message is marked as hers; time is shown in each reader's zone.
	assert.equal(await pa.locator('#messages li.msg.own').count(), 1);
	for (const [page, tz] of [[pa, 'Asia/Tokyo'], [pb, 'America/New_York']]) {
		const { iso, text } = await page.$eval('#messages li.msg time.time',
			(t) => ({ iso: t.dateTime, text: t.textContent }));
		const want = new Date(iso).toLocaleTimeString('en-US', { hour: 'numeric', minute: '2-digit', timeZone: tz });
		assert.equal(text, want, `time in ${tz}`);
	}
	// New messages are announced to screen readers, the history is not.
	assert.match(await pa.locator('#announce').textContent(), /bob: hi alice, bob here/);
	const c = await newContext(browser, { user: 'carol' });
	const pc = await openChat(c, r);
	await waitText(pc, 'hi alice, bob here');
	await sleep(QUIET_MS);
	assert.equal(await pc.locator('#announce').textContent(), '', 'history is not read out');
	await send(pa, 'welcome, carol');
	await waitText(pc, 'welcome, carol');
	assert.equal(await pc.locator('#announce').textContent(), 'alice: welcome, carol');
	noErrors(c);
	await c.close();
	noErrors(a); noErrors(b);
	await a.close(); await b.close();
});

test('HTML and script in a message are shown as text, never run', { timeout: 30000 }, async () => {
	const r = room('xss');
	const ctx = await newContext(browser, { user: '<img src=x onerror=__pwned=1>' });
	const page = await openChat(ctx, r);
	const evil = '<script>window.__pwned=2</script><img src=x onerror="window.__pwned=3">' +
		'<b>bold</b> <a href="javascript:window.__pwned=4">click</a> javascript:window.__pwned=5 ' +
		'https://example.org/a_(b)?q=1&r=<i>.';
	await send(page, evil);
	await waitText(page, evil);
	const li = page.locator('#messages li.msg').last();
	assert.equal(await li.locator('.user').textContent(), '<img src=x onerror=__pwned=1>');
	assert.equal(await page.locator('#messages script, #messages img, #messages b, #messages i').count(), 0);
	// The one http(s) URL is a safe link; javascript: is not.
	const links = await li.locator('.text a').evaluateAll((as) => as.map((a) => ({
		href: a.getAttribute('href'), rel: a.rel, target: a.target, text: a.textContent })));
	assert.deepEqual(links, [{ href: 'https://example.org/a_(b)?q=1&r=', rel: 'noopener noreferrer nofollow',
		target: '_blank', text: 'https://example.org/a_(b)?q=1&r=' }]);
	await sleep(300);
	assert.equal(await page.evaluate(() => window.__pwned), undefined, 'no script ran');
	noErrors(ctx);
	await ctx.close();
});

test('multi-line text keeps its lines; long words wrap; other events', { timeout: 30000 }, async () => {
	const r = room('lines');
	const ctx = await newContext(browser, { user: 'poet', viewport: { width: 390, height: 700 } });
	const page = await openChat(ctx, r);
	const box = page.locator('#message');
	await box.click();
	await box.type('first line');
	await box.press('Shift+Enter');
	await box.type('second line');
	await box.press('Shift+Enter');
	await box.press('Shift+Enter');
	await box.type('after a blank');
	assert.equal(await box.inputValue(), 'first line\nsecond line\n\nafter a blank', 'Shift+Enter adds lines');
	await box.press('Enter');
	await waitText(page, 'first line\nsecond line\n\nafter a blank');
	const text = page.locator('#messages li.msg .text').last();
	assert.equal(await text.evaluate((e) => getComputedStyle(e).whiteSpace), 'pre-wrap');
	const lineHeight = await text.evaluate((e) => parseFloat(getComputedStyle(e).lineHeight));
	const h = (await text.boundingBox()).height;
	assert.ok(h > lineHeight * 3.5, `four lines tall (${h}px, line ${lineHeight}px)`);

	const long = 'x'.repeat(300);
	await send(page, long);
	await waitText(page, long);
	const wide = await page.locator('#messages li.msg .text').last()
		.evaluate((e) => e.scrollWidth <= e.clientWidth + 1);
	assert.ok(wide, 'a long word wraps inside the message');

	// A published event that is not chat JSON is a plain line; unknown
	// event names are ignored; the page carries on.
	ssectl('publish', '--channel', r, 'deploy finished\nall green');
	ssectl('publish', '--channel', r, '--event', 'typing', '{"user":"bob"}');
	await postHttp(r, 'bob', 'after the events');
	await waitText(page, 'after the events');
	const sys = await page.locator('#messages li.sys').allTextContents();
	assert.deepEqual(sys, ['deploy finished\nall green']);
	assert.equal(await page.locator('#messages li.msg').count(), 3);
	noErrors(ctx);
	await ctx.close();
});

test('room switching by hash and by the room box, without a reload', { timeout: 30000 }, async () => {
	const r1 = room('one'), r2 = room('two'), r3 = room('three');
	await postHttp(r1, 'ann', 'only in one');
	await postHttp(r2, 'ben', 'only in two');
	await postHttp(r3, 'cat', 'only in three');
	const ctx = await newContext(browser, { user: 'dan' });
	const page = await openChat(ctx, r1);
	await waitText(page, 'only in one');
	await page.evaluate(() => { window.__sameDocument = true; });

	await page.evaluate((h) => { location.hash = h; }, r2);
	await waitText(page, 'only in two');
	await waitState(page, 'live');
	assert.deepEqual((await shown(page)).map((m) => m.text), ['only in two']);
	assert.equal(await page.locator('#room-title').textContent(), `#${r2}`);
	await send(page, 'posted in two');
	await waitText(page, 'posted in two');

	await page.locator('#room-input').fill(r3);
	await page.locator('#room-input').press('Enter');
	await waitText(page, 'only in three');
	assert.equal(new URL(page.url()).hash, `#${r3}`);
	assert.deepEqual((await shown(page)).map((m) => m.text), ['only in three']);

	// The recent-rooms list links back; the post stayed in its room.
	await page.locator('#room-list a', { hasText: `#${r2}` }).click();
	await waitText(page, 'posted in two');
	assert.deepEqual((await shown(page)).map((m) => m.text), ['only in two', 'posted in two']);
	assert.equal(await page.locator('#room-list a[aria-current="page"]').textContent(), `#${r2}`);
	assert.equal(await page.evaluate(() => window.__sameDocument), true, 'no reload');
	assert.equal(await page.evaluate(() => document.title), `#${r2} · Chat`);

	// A bad room name in the hash is refused, not requested.
	await page.evaluate(() => { location.hash = 'no spaces here'; });
	await page.waitForSelector('#error:not([hidden])');
	assert.equal(await page.evaluate(() => window.sseChat.channel), r2);
	noErrors(ctx);
	await ctx.close();
});

test('a failed post shows the server error and keeps the text', { timeout: 30000 }, async () => {
	const r = room('err');
	const ctx = await newContext(browser, {});
	const page = await openChat(ctx, r);
	// No name yet: asked for, nothing sent.
	await send(page, 'who am I');
	await page.waitForSelector('#error:not([hidden])');
	assert.match(await page.locator('#error').textContent(), /name/i);
	assert.equal(await page.locator('#message').inputValue(), 'who am I');
	await page.locator('#user').fill('verbose');

	// Over max_body (1024 bytes in this site's config): 413 from the server.
	const big = 'too long '.repeat(170).trim();
	await send(page, big);
	await page.waitForFunction(() => /body too large/.test(document.getElementById('error').textContent));
	assert.equal(await page.locator('#message').inputValue(), big, 'text kept after 413');
	assert.equal(await page.locator('#messages li.msg').count(), 0);
	assert.equal(await page.locator('#error').getAttribute('role'), 'alert');
	await page.screenshot({ path: join(env.shots, 'desktop-error-413.png') });

	// Shortened, it goes through and the error goes away.
	await send(page, 'short now');
	await waitText(page, 'short now');
	await page.waitForFunction(() => document.getElementById('message').value === '' &&
		document.getElementById('error').hidden);
	noErrors(ctx);
	await ctx.close();
});

test('the "new messages" marker when scrolled up', { timeout: 30000 }, async () => {
	const r = room('scroll');
	for (let i = 1; i <= 30; i++)
		await postHttp(r, i % 2 ? 'odd' : 'even', `filler ${i}`);
	const ctx = await newContext(browser, { user: 'reader', viewport: { width: 800, height: 600 } });
	const page = await openChat(ctx, r);
	await waitText(page, 'filler 30');
	const atBottom = () => page.$eval('#log', (l) => l.scrollHeight - l.scrollTop - l.clientHeight < 48);
	await until(atBottom, 3000, 'history scrolled to the end');
	await postHttp(r, 'odd', 'followed live');
	await waitText(page, 'followed live');
	await until(atBottom, 3000, 'still following');
	assert.equal(await page.locator('#new-marker').isHidden(), true);

	await page.$eval('#log', (l) => { l.scrollTop = 0; });
	await sleep(100);
	await postHttp(r, 'even', 'arrived while reading');
	await page.waitForSelector('#new-marker:not([hidden])');
	assert.equal(await page.locator('#new-count').textContent(), '1 new message');
	await page.screenshot({ path: join(env.shots, 'desktop-new-messages.png') });
	assert.equal(await page.$eval('#log', (l) => l.scrollTop), 0, 'did not jump');
	await page.locator('#new-marker').click();
	await until(atBottom, 3000, 'scrolled down by the marker');
	await page.waitForSelector('#new-marker', { state: 'hidden' });
	noErrors(ctx);
	await ctx.close();
});

test('five tabs share one stream (SharedWorker), and without it (BroadcastChannel)', { timeout: 60000 }, async () => {
	for (const [label, query, modes] of [
		['shared-worker', '', ['shared-worker']],
		['broadcast', '?transport=broadcast', ['broadcast-leader', 'broadcast-follower']],
	]) {
		const r = room(`tabs-${label}`);
		await postHttp(r, 'seed', `history for ${label}`);
		const ctx = await newContext(browser, { user: 'tabby' });
		// Five tabs opened at once: they race for the one stream.
		const pages = await Promise.all([0, 1, 2, 3, 4].map(() => openChat(ctx, r, { query })));
		await Promise.all(pages.map((p) => waitText(p, `history for ${label}`)));
		const got = await Promise.all(pages.map((p) => p.evaluate(() => window.sseChat.mode)));
		for (const m of got)
			assert.ok(modes.includes(m), `${label}: mode ${m}`);
		if (label === 'broadcast')
			assert.equal(got.filter((m) => m === 'broadcast-leader').length, 1, 'one leader');
		// A message posted in one tab reaches all five.
		await send(pages[2], `from tab 3 (${label})`);
		await Promise.all(pages.map((p) => waitText(p, `from tab 3 (${label})`)));
		await sleep(500);
		for (const p of pages)
			assert.equal((await shown(p)).length, 2, 'each tab shows each message once');
		// While open: the access log has nothing yet (a stream is logged when
		// it ends) and ssectl counts live streams; after closing, the log
		// shows how many GETs there were.
		assert.equal(streamRequests(r), 0, 'no stream has ended yet');
		noErrors(ctx);
		await ctx.close();
		const n = await until(() => streamRequests(r), 15000, `the ${label} stream to end and be logged`);
		await sleep(500);
		assert.equal(streamRequests(r), 1, `${label}: five tabs made ${streamRequests(r)} stream requests`);
		assert.equal(n, 1);
	}
});

test('without SharedWorker: when the tab holding the stream closes, another takes over', { timeout: 40000 }, async () => {
	const r = room('handover');
	await postHttp(r, 'seed', 'before the handover');
	const ctx = await newContext(browser, { user: 'relay' });
	const pages = await Promise.all([0, 1, 2].map(() => openChat(ctx, r, { query: '?transport=broadcast' })));
	await Promise.all(pages.map((p) => waitText(p, 'before the handover')));
	const modes = await Promise.all(pages.map((p) => p.evaluate(() => window.sseChat.mode)));
	const leader = modes.indexOf('broadcast-leader');
	assert.ok(leader >= 0, `a leader among ${modes}`);
	await pages[leader].close();
	const rest = pages.filter((p, i) => i !== leader);
	await until(async () => (await Promise.all(rest.map((p) => p.evaluate(() => window.sseChat.mode))))
		.filter((m) => m === 'broadcast-leader').length === 1, 10000, 'a new leader');
	await postHttp(r, 'seed', 'after the handover');
	await Promise.all(rest.map((p) => waitText(p, 'after the handover')));
	for (const p of rest)
		assert.deepEqual((await shown(p)).map((m) => m.text), ['before the handover', 'after the handover']);
	// The skip link focuses the message box without changing the room.
	await rest[0].focus('.skip');
	await rest[0].keyboard.press('Enter');
	assert.equal(await rest[0].evaluate(() => document.activeElement.id), 'message');
	assert.equal(await rest[0].evaluate(() => window.sseChat.channel), r);
	noErrors(ctx);
	await ctx.close();
});

test('the stream counts: one SharedWorker stream per room, seen by ssectl', { timeout: 30000 }, async () => {
	const r = room('count');
	await until(() => liveStreams() === 0, 15000, 'earlier streams to end');
	const ctx = await newContext(browser, { user: 'counter' });
	await Promise.all([0, 1, 2, 3, 4].map(() => openChat(ctx, r)));
	await sleep(500);
	assert.equal(liveStreams(), 1, 'five tabs, one live stream');
	await ctx.close();
});

test('Apache restart: reconnecting, then live; nothing lost or doubled; then a gap reset', { timeout: 90000 }, async (t) => {
	const r = room('restart');
	const ctx = await newContext(browser, { user: 'steady' });
	const page = await openChat(ctx, r);
	// If this fails, say what the page went through.
	const watched = [];
	t.after(async () => {
		if (page.isClosed())
			return;
		t.diagnostic(`states seen: ${watched.join(' ')}`);
		t.diagnostic(`shown: ${JSON.stringify(await shown(page).catch(() => []))}`);
		t.diagnostic(`error box: ${await page.locator('#error').textContent().catch(() => '?')}`);
	});
	await send(page, 'before the restart');
	await waitText(page, 'before the restart');
	await page.exposeFunction('__stateSeen', (s) => watched.push(s));
	await page.evaluate(() => {
		new MutationObserver(() => window.__stateSeen(document.getElementById('conn').dataset.state))
			.observe(document.getElementById('conn'), { attributes: true, attributeFilter: ['data-state'] });
	});

	apache('stop');
	await waitState(page, 'reconnecting', 15000);
	assert.match(await page.locator('#conn-label').textContent(), /Reconnecting/);
	await page.screenshot({ path: join(env.shots, 'desktop-reconnecting.png') });
	// A post while the server is down fails visibly and keeps the text.
	await send(page, 'sent while down');
	await page.waitForFunction(() => /could not be reached/.test(document.getElementById('error').textContent));
	assert.equal(await page.locator('#message').inputValue(), 'sent while down');
	// Another program publishes while Apache is down.
	ssectl('publish', '--channel', r, JSON.stringify({ id: 0, channel: r, user: 'cron', text: 'published while down', time: new Date().toISOString() }));
	apache('start');
	await waitState(page, 'live', 20000);
	await waitText(page, 'published while down', 10000);
	await page.locator('#send').click();   // the kept text, sent again
	await waitText(page, 'sent while down');
	await postHttp(r, 'other', 'right after the restart');
	await waitText(page, 'right after the restart');
	await sleep(500);
	const after = await shown(page);
	assert.deepEqual(after.map((m) => m.text),
		['before the restart', 'published while down', 'sent while down', 'right after the restart']);
	const ids = after.map((m) => m.id);
	assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in id order');
	assert.equal(new Set(ids).size, ids.length, 'no id twice');
	assert.ok(watched.includes('reconnecting') && watched.at(-1) === 'live', `states: ${watched}`);

	// A gap: while the page is cut off, messages it never saw are pruned.
	apache('stop');
	await waitState(page, 'reconnecting', 15000);
	for (let i = 1; i <= 4; i++)
		await ssectl('publish', '--channel', r, JSON.stringify({ channel: r, user: 'flood', text: `missed ${i}`, time: new Date().toISOString() }));
	ssectl('prune', '--keep', '2');
	apache('start');
	await waitState(page, 'live', 20000);
	await waitText(page, 'missed 4');
	await page.waitForSelector('#messages li.note');
	assert.deepEqual((await shown(page)).map((m) => m.text), ['missed 3', 'missed 4'], 'redrawn after the reset');
	noErrors(ctx);
	await ctx.close();
});

test('offline, and a stream refused with an error status, are shown and retried', { timeout: 40000 }, async () => {
	const r = room('retry');
	await postHttp(r, 'early', 'history survives the refusals');
	// The browser gives up on an EventSource answered 503; the page must not.
	// (?transport=single keeps the stream in the page, where routes apply.)
	const ctx = await newContext(browser, { user: 'patient' });
	let refused = 0;
	await ctx.route('**/cgi-bin/events.fcgi*', (route) => {
		// Streams only: the page asks with a HEAD why one closed (a 401 or
		// 403 would mean signed out), and that is not a stream.
		if (refused < 2 && route.request().method() === 'GET') {
			refused++;
			return route.fulfill({ status: 503, contentType: 'text/html', body: 'busy' });
		}
		return route.continue();
	});
	const page = await openChat(ctx, r, { query: '?transport=single', live: false });
	assert.equal(await page.evaluate(() => window.sseChat.mode), 'single');
	await waitState(page, 'live', 20000);
	assert.equal(refused, 2);
	await waitText(page, 'history survives the refusals');

	await ctx.setOffline(true);
	await waitState(page, 'offline');
	assert.equal(await page.locator('#conn-label').textContent(), 'Offline');
	await ctx.setOffline(false);
	await waitState(page, 'live', 20000);
	await postHttp(r, 'later', 'back online');
	await waitText(page, 'back online');
	assert.deepEqual((await shown(page)).map((m) => m.text), ['history survives the refusals', 'back online']);
	noErrors(ctx);
	await ctx.close();
});

test('a private room: signed out without a token; with one, live, and names signed', { timeout: 40000 }, async () => {
	const r = room('private');
	const ctx = await newContext(browser, { user: 'typed-name' });
	const page = await openChat(ctx, r, { live: false });
	await waitState(page, 'signed-out');
	assert.equal(await page.locator('#conn-label').textContent(), 'Signed out');
	assert.match(await page.locator('#empty').textContent(), /is private: sign in/);
	await page.screenshot({ path: join(env.shots, 'signed-out.png') });
	const tries = streamRequests(r);
	await sleep(4000);
	assert.equal(streamRequests(r), tries, 'signed out, the page stops retrying');

	// The site's login code sets the cookie; a reload signs the page in.
	const exp = Math.floor(Date.now() / 1000) + 600;
	await ctx.addCookies([{
		name: 'sse_token', url: env.base, httpOnly: true, sameSite: 'Lax',
		value: mintToken({ exp, name: 'Alice', mercure: { subscribe: [r], publish: [r] } }),
	}]);
	await page.reload();
	await waitState(page, 'live');
	await send(page, 'signed hello');
	await waitText(page, 'signed hello');
	const m = (await shown(page)).find((x) => x.text === 'signed hello');
	assert.equal(m.user, 'Alice', 'the token names the speaker, not the form');
	assert.equal(await page.locator('#messages li.msg .signed').count(), 1);
	await page.screenshot({ path: join(env.shots, 'signed-name.png') });
	noErrors(ctx);
	await ctx.close();
});

test('without JavaScript: the plain form posts and comes back to the page', { timeout: 30000 }, async () => {
	const ctx = await newContext(browser, { javaScriptEnabled: false });
	const page = await ctx.newPage();
	await page.goto(env.base);
	assert.match(await page.locator('.noscript').textContent(), /Live updates need JavaScript/);
	assert.equal(await page.locator('#app').isHidden(), true, 'the script-only page is hidden');
	await page.locator('.noscript input[name="user"]').fill('nojs');
	await page.locator('.noscript textarea[name="text"]').fill('posted without script');
	await Promise.all([
		page.waitForNavigation(),
		page.locator('.noscript button[type="submit"]').click(),
	]);
	assert.equal(new URL(page.url()).pathname, '/');
	await ctx.close();
	const js = await newContext(browser, { user: 'check' });
	const p = await openChat(js, 'chat');
	await waitText(p, 'posted without script');
	await js.close();
});

/** The lowest text contrast among the page's main kinds of text. */
function worstContrast(page) {
	return page.evaluate(() => {
		const rgb = (c) => {
			const m = /rgba?\(([\d.]+),? ([\d.]+),? ([\d.]+)(?:,? \/? ?([\d.]+))?/.exec(c);
			return m ? [+m[1], +m[2], +m[3], m[4] === undefined ? 1 : +m[4]] : null;
		};
		const lum = ([r, g, b]) => {
			const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
			return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
		};
		const background = (e) => {
			for (; e; e = e.parentElement) {
				const c = rgb(getComputedStyle(e).backgroundColor);
				if (c && c[3] > 0.5)
					return c;
			}
			return [255, 255, 255, 1];
		};
		const sel = '.title, .room-name, .conn-label, #room-list a, .user, .you, .meta time, .msg .text, ' +
			'.sys p, .day span, .field label, #user, #message, .btn-send, .hint, .error, .empty, .new-marker';
		let worst = { ratio: 99 };
		for (const e of document.querySelectorAll(sel)) {
			if (!e.getClientRects().length)
				continue;
			const fg = rgb(getComputedStyle(e).color), bg = background(e);
			if (!fg)
				continue;
			const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
			const ratio = (a + 0.05) / (b + 0.05);
			if (ratio < worst.ratio)
				worst = { ratio: Math.round(ratio * 100) / 100, what: e.className || e.id, fg: String(fg), bg: String(bg) };
		}
		return worst;
	});
}

test('contrast of the text, light and dark', { timeout: 30000 }, async (t) => {
	const r = room('contrast');
	await postHttp(r, 'alice', 'mine, see https://example.org/');
	await postHttp(r, 'bob', 'theirs');
	ssectl('publish', '--channel', r, 'a system line');
	for (const colorScheme of ['light', 'dark']) {
		const ctx = await newContext(browser, { colorScheme, user: 'alice' });
		const page = await openChat(ctx, r);
		await page.waitForSelector('#messages li.sys');
		await page.evaluate(() => {
			const e = document.getElementById('error');
			e.textContent = 'Not sent: example.';
			e.hidden = false;
		});
		const worst = await worstContrast(page);
		t.diagnostic(`${colorScheme}: lowest contrast ${JSON.stringify(worst)}`);
		assert.ok(worst.ratio >= 4.5, `${colorScheme}: ${JSON.stringify(worst)}`);
		await ctx.close();
	}
});

test('accessible names and landmarks', { timeout: 30000 }, async () => {
	const ctx = await newContext(browser, { user: 'a11y' });
	const page = await openChat(ctx, room('a11y'));
	for (const label of ['Name', 'Message', 'Go to room'])
		assert.equal(await page.getByLabel(label, { exact: true }).count(), 1, `a field labelled ${label}`);
	assert.equal(await page.getByRole('button', { name: 'Send' }).count(), 1);
	assert.equal(await page.getByRole('log').count(), 1);
	assert.equal(await page.getByRole('status').count(), 1);
	assert.equal(await page.locator('[aria-live="polite"]').count(), 1);
	assert.equal(await page.getByRole('navigation', { name: 'Rooms' }).count(), 1);
	// Focus order: room links, room box, log, name, message, send.
	const order = [];
	await page.focus('.skip');
	for (let i = 0; i < 12; i++) {
		await page.keyboard.press('Tab');
		order.push(await page.evaluate(() => document.activeElement.id || document.activeElement.textContent.trim()));
	}
	const want = ['room-input', 'log', 'user', 'message', 'send'];
	const idx = want.map((w) => order.indexOf(w));
	assert.ok(idx.every((v) => v >= 0) && idx.every((v, k) => k === 0 || v > idx[k - 1]), `focus order: ${order}`);
	noErrors(ctx);
	await ctx.close();
});
