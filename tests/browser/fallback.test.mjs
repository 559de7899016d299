// When streaming is blocked (issue 21; docs/PROTOCOL.md, "Polling" and "A page
// for visitors without script"): the chat page behind a proxy that holds
// response bodies until the response ends (holding-proxy.mjs, in front of
// run.sh's Apache, started and stopped by PID here), in a browser without
// EventSource, and without script at all.
import { test, before, after, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import {
	env, room, launch, newContext, waitState, shown, waitText, send, postHttp,
	ssectl, until, sleep, closeAll, mintToken,
} from './lib.mjs';

let browser;
before(async () => { browser = await launch(); });
after(async () => { await browser?.close(); });
afterEach(closeAll);

const proxies = new Set();
afterEach(() => {
	for (const p of [...proxies])
		p.stop();
});

/** Starts holding-proxy.mjs in front of Apache; stopped by its PID. */
async function startProxy() {
	const child = spawn(process.execPath,
		[join(env.repo, 'tests/browser/holding-proxy.mjs'), env.port,
		 process.env.SSE_BROWSER_PROXY_PORT || '0'],
		{ stdio: ['ignore', 'pipe', 'pipe'] });
	const log = [];
	child.stderr.setEncoding('utf8');
	child.stderr.on('data', (d) => log.push(...d.split('\n').filter(Boolean)));
	const port = await new Promise((resolve, reject) => {
		let out = '';
		child.stdout.setEncoding('utf8');
		child.stdout.on('data', (d) => {
			out += d;
			const m = /listening (\d+)/.exec(out);
			if (m)
				resolve(m[1]);
		});
		child.on('exit', (code) => reject(new Error(`holding-proxy exited ${code}: ${log.join(' | ')}`)));
	});
	const p = {
		base: `http://127.0.0.1:${port}/`,
		log,
		pass() { process.kill(child.pid, 'SIGUSR2'); },
		stop() {
			proxies.delete(p);
			if (child.exitCode === null && child.signalCode === null)
				process.kill(child.pid, 'SIGTERM');
		},
	};
	proxies.add(p);
	return p;
}

function noErrors(ctx) {
	assert.deepEqual(ctx.pageErrors, [], 'the page threw');
}

function assertOnceInOrder(seen, texts) {
	assert.deepEqual(seen.map((m) => m.text), texts);
	const ids = seen.map((m) => m.id);
	assert.deepEqual(ids, [...ids].sort((x, y) => x - y), 'in id order');
	assert.equal(new Set(ids).size, ids.length, 'no id twice');
}

/** The access log's requests to the stream endpoint for one room. */
function accessLines(roomName) {
	const log = join(env.site, 'logs', 'access.log');
	if (!existsSync(log))
		return [];
	return readFileSync(log, 'utf8').split('\n')
		.filter((l) => l.includes(`/cgi-bin/events.fcgi?channel=${roomName}&`) ||
		               l.includes(`/cgi-bin/events.fcgi?channel=${roomName} `));
}

async function slowerModeShown(page) {
	assert.equal(await page.locator('#conn-label').textContent(), 'Slower mode');
	const note = page.locator('#slow-note');
	assert.equal(await note.isVisible(), true, 'the slower mode is said in words');
	assert.match(await note.textContent(), /fetched every few seconds/);
}

test('behind a proxy that holds bodies: the page polls, says so, loses and doubles nothing',
	{ timeout: 60000 }, async () => {
		const r = room('held');
		await postHttp(r, 'early', 'history through the proxy');
		const proxy = await startProxy();
		const ctx = await newContext(browser, { user: 'held' });
		const page = await ctx.newPage();
		const t0 = Date.now();
		await page.goto(`${proxy.base}#${r}`);
		await waitState(page, 'polling', 15000);
		const took = Date.now() - t0;
		assert.ok(took >= 3500, `polling only once the first frame is overdue (${took} ms)`);
		await slowerModeShown(page);
		await waitText(page, 'history through the proxy');
		assert.equal(await page.evaluate(() => window.sseChat.mode), 'shared-worker');

		await postHttp(r, 'other', 'posted while polling');
		await waitText(page, 'posted while polling', 10000);
		await send(page, 'sent from the polling page');
		await waitText(page, 'sent from the polling page', 10000);
		await page.evaluate(() => document.activeElement?.blur());
		await page.screenshot({ path: join(env.shots, 'desktop-slower-mode.png') });
		await sleep(3000);   // more polls: nothing comes twice
		assertOnceInOrder(await shown(page),
			['history through the proxy', 'posted while polling', 'sent from the polling page']);
		assert.equal(await page.locator('#messages li.note').count(), 0, 'no reset on the way');
		await slowerModeShown(page);

		// What went through the proxy: streams it held (opened, never passed
		// on), and polls, each a whole answer, each resuming by id.
		const streams = proxy.log.filter((l) => l.startsWith(`open GET /cgi-bin/events.fcgi?channel=${r}&hello=1`));
		assert.ok(streams.length >= 1, `a stream was tried: ${proxy.log.join(' | ')}`);
		assert.ok(!proxy.log.some((l) => l.startsWith('passed')), 'the proxy passed nothing on');
		const polls = proxy.log.filter((l) => l.startsWith(`held GET /cgi-bin/events.fcgi?channel=${r}&poll=1`));
		assert.ok(polls.length >= 3, `polls: ${proxy.log.join(' | ')}`);
		assert.ok(polls.slice(1).every((l) => /&since=\d+ /.test(l)), 'each poll resumes by id');
		noErrors(ctx);
		await ctx.close();
	});

test('when the path stops holding, the page goes back to a live stream by itself',
	{ timeout: 60000 }, async () => {
		const r = room('unheld');
		await postHttp(r, 'early', 'before the switches');
		const proxy = await startProxy();
		const ctx = await newContext(browser, { user: 'switcher' });
		// The hub in the page (transport=single), trying a stream every 3 s
		// instead of every 60 s.
		await ctx.addInitScript(() => { window.sseStreamAgainMs = 3000; });
		const page = await ctx.newPage();
		await page.goto(`${proxy.base}?transport=single#${r}`);
		await waitState(page, 'polling', 15000);
		await waitText(page, 'before the switches');
		await postHttp(r, 'other', 'while held');
		await waitText(page, 'while held', 10000);
		// Still held: the tries at streaming fail and polling goes on.
		await sleep(8000);
		assert.equal(await page.evaluate(() => window.sseChat.state), 'polling');
		const tries = proxy.log.filter((l) => l.startsWith(`open GET /cgi-bin/events.fcgi?channel=${r}&hello=1&since=`));
		assert.ok(tries.length >= 1, `tried a stream again while polling: ${proxy.log.join(' | ')}`);

		proxy.pass();
		await postHttp(r, 'other', 'as the path clears');
		await waitState(page, 'live', 20000);
		assert.equal(await page.locator('#slow-note').isHidden(), true, 'the notice goes');
		assert.equal(await page.locator('#conn-label').textContent(), 'Live');
		await postHttp(r, 'other', 'live again');
		await waitText(page, 'live again', 5000);
		await sleep(2500);
		assertOnceInOrder(await shown(page),
			['before the switches', 'while held', 'as the path clears', 'live again']);
		noErrors(ctx);
		await ctx.close();
	});

test('without EventSource: the page polls from the start and says so', { timeout: 40000 }, async () => {
	const r = room('noes');
	await postHttp(r, 'early', 'history without EventSource');
	const ctx = await newContext(browser, { user: 'oldbrowser' });
	// A SharedWorker has an EventSource of its own: keep the hub in the page.
	await ctx.addInitScript(() => { delete window.EventSource; });
	const page = await ctx.newPage();
	await page.goto(`${env.base}?transport=single#${r}`);
	assert.equal(await page.evaluate(() => typeof window.EventSource), 'undefined');
	await waitState(page, 'polling', 5000);
	await slowerModeShown(page);
	await waitText(page, 'history without EventSource');
	await send(page, 'sent without EventSource');
	await waitText(page, 'sent without EventSource', 10000);
	await postHttp(r, 'other', 'reply to the old browser');
	await waitText(page, 'reply to the old browser', 10000);
	await sleep(2500);
	assertOnceInOrder(await shown(page),
		['history without EventSource', 'sent without EventSource', 'reply to the old browser']);
	noErrors(ctx);
	await ctx.close();
	// Only polls reached the server for this room, each a one-shot answer.
	const lines = await until(() => accessLines(r).length >= 3 && accessLines(r), 5000, 'polls in the log');
	assert.ok(lines.every((l) => l.includes('&poll=1')), lines.join('\n'));
});

test('polling a private room: a 401 says signed out and stops the polls; a token brings them back',
	{ timeout: 40000 }, async () => {
		const r = room('noes-private');
		const ctx = await newContext(browser, { user: 'oldbrowser' });
		await ctx.addInitScript(() => { delete window.EventSource; });
		const page = await ctx.newPage();
		await page.goto(`${env.base}?transport=single#${r}`);
		await waitState(page, 'signed-out', 10000);
		assert.equal(await page.locator('#conn-label').textContent(), 'Signed out');
		const polls = accessLines(r).length;
		assert.ok(polls >= 1, 'the refused poll is in the log');
		await sleep(4000);   /* two polls' worth at retry_ms = 2000 */
		assert.equal(accessLines(r).length, polls, 'signed out, the page stops polling');

		// The site's login code sets the cookie; a reload signs the page in.
		const exp = Math.floor(Date.now() / 1000) + 600;
		await ctx.addCookies([{
			name: 'sse_token', url: env.base, httpOnly: true, sameSite: 'Lax',
			value: mintToken({ exp, mercure: { subscribe: [r] } }),
		}]);
		await page.reload();
		await waitState(page, 'polling', 10000);
		ssectl('publish', '--channel', r, JSON.stringify({ id: 0, channel: r, user: 'cron',
			text: 'for the signed-in poller', time: new Date().toISOString() }));
		await waitText(page, 'for the signed-in poller', 10000);
		noErrors(ctx);
		await ctx.close();
	});

test('without script: the recent messages, escaped, refreshed, with the form that posts',
	{ timeout: 60000 }, async () => {
		const r = room('nojs');
		await postHttp(r, '<b>mallory</b>', 'look: <script>window.__pwned=1</script> & "quotes" \'too\'');
		ssectl('publish', '--channel', r, 'maintenance at 22:00 <i>UTC</i>');
		const ctx = await newContext(browser, { javaScriptEnabled: false });
		const page = await ctx.newPage();
		// The chat page's noscript part links to the page of its room.
		await page.goto(env.base);
		const link = page.locator('.noscript a', { hasText: 'read the recent messages' });
		assert.equal(await link.getAttribute('href'), '/cgi-bin/events.fcgi?channel=chat&format=html');
		await Promise.all([page.waitForNavigation(), link.click()]);
		assert.equal(await page.locator('h1').textContent(), 'Chat #chat');

		await page.goto(`${env.base}cgi-bin/events.fcgi?channel=${r}&format=html`);
		assert.equal(await page.title(), `#${r} · Chat`);
		const refresh = await page.locator('meta[http-equiv="refresh"]').getAttribute('content');
		assert.equal(refresh, '5');
		// Newest first; markup in names and text is text.
		const items = page.locator('ol li');
		assert.deepEqual(await items.allTextContents(), [
			'maintenance at 22:00 <i>UTC</i>',
			`<b>mallory</b> ${await items.nth(1).locator('time').textContent()}` +
				'look: <script>window.__pwned=1</script> & "quotes" \'too\'',
		]);
		assert.equal(await page.locator('ol script, ol b, ol i').count(), 0, 'no markup got through');
		assert.match(await items.nth(1).locator('time').getAttribute('datetime'), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
		await page.screenshot({ path: join(env.shots, 'nojs-page.png') });

		// The plain form posts, and the 303 comes back to this page.
		await page.locator('input[name="user"]').fill('nojs');
		await page.locator('textarea[name="text"]').fill('posted from the page without script');
		await Promise.all([page.waitForNavigation(), page.locator('button[type="submit"]').click()]);
		assert.equal(new URL(page.url()).search, `?channel=${r}&format=html`);
		assert.equal(await items.first().locator('.text').textContent(), 'posted from the page without script');

		// Someone else posts: the page shows it after it reloads itself.
		await postHttp(r, 'other', 'seen after the refresh');
		await page.locator('ol li .text', { hasText: 'seen after the refresh' }).waitFor({ timeout: 12000 });
		assert.equal(await items.count(), 4);
		await ctx.close();
	});
