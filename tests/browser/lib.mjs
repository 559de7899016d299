// Helpers for the browser tests: the Apache site that run.sh started, the
// browser, and a few ways to look at the chat page.
import { execFileSync } from 'node:child_process';
import { createHmac } from 'node:crypto';
import { existsSync, readFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

function need(name) {
	const v = process.env[name];
	if (!v)
		throw new Error(`${name} is not set: run these tests through tests/browser/run.sh`);
	return v;
}

export const env = {
	repo: need('SSE_REPO'),
	site: need('SSE_SITE'),
	port: need('SSE_PORT'),
	base: `http://127.0.0.1:${need('SSE_PORT')}/`,
	apacheSh: need('SSE_APACHE_SH'),
	chromium: process.env.CHROMIUM || '/usr/bin/chromium',
	out: need('SSE_OUT'),
};
env.accessLog = join(env.site, 'logs', 'access.log');
env.shots = join(env.out, 'screenshots');
mkdirSync(env.shots, { recursive: true });

export { sleep };

const RUN = Date.now().toString(36).slice(-5);
/** A room name of its own for each test, so tests never see each other. */
export function room(name) {
	return `t${RUN}-${name}`;
}

export async function launch() {
	if (!existsSync(env.chromium))
		throw new Error(`chromium not found at ${env.chromium}`);
	return chromium.launch({
		executablePath: env.chromium,
		args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic',
		       '--no-first-run', '--disable-background-networking',
		       '--disable-component-update', '--disable-sync'],
	});
}

const openContexts = new Set();
/** Closes what a failed test left open, so its streams do not linger. */
export async function closeAll() {
	for (const ctx of [...openContexts])
		await ctx.close().catch(() => {});
}

/** A context whose pages report script errors to the test. */
export async function newContext(browser, opts = {}) {
	const { user, ...rest } = opts;
	const ctx = await browser.newContext({ locale: 'en-US', ...rest });
	if (user !== undefined) {
		await ctx.addInitScript((u) => {
			try {
				if (!localStorage.getItem('sse-cgi.user'))
					localStorage.setItem('sse-cgi.user', u);
			} catch (e) { /* about:blank has no storage */ }
		}, user);
	}
	ctx.pageErrors = [];
	openContexts.add(ctx);
	ctx.on('close', () => openContexts.delete(ctx));
	ctx.on('page', (p) => p.on('pageerror', (e) => ctx.pageErrors.push(e.message)));
	return ctx;
}

/** Opens the page on a room and waits until its stream is live. */
export async function openChat(ctx, roomName, { query = '', live = true } = {}) {
	const page = await ctx.newPage();
	await page.goto(`${env.base}${query}#${roomName}`);
	if (live)
		await waitState(page, 'live');
	return page;
}

export async function waitState(page, state, timeout = 15000) {
	await page.waitForSelector(`#conn[data-state="${state}"]`, { timeout, state: 'attached' });
}

/** What the page shows: chat messages (id, user, text) in order. */
export function shown(page) {
	return page.$$eval('#messages li.msg', (lis) => lis.map((li) => ({
		id: Number(li.dataset.id),
		user: li.querySelector('.user').textContent,
		text: li.querySelector('.text').textContent,
	})));
}

/** Waits until a message with this text is on the page; returns its <li>. */
export async function waitText(page, text, timeout = 10000) {
	await page.waitForFunction((t) => Array.from(document.querySelectorAll('#messages .text'))
		.some((e) => e.textContent === t), text, { timeout });
}

/** Types a message into the page's box and sends it with Enter. */
export async function send(page, text) {
	const box = page.locator('#message');
	await box.click();
	await box.fill(text);
	await box.press('Enter');
}

/** Posts a chat message over HTTP, as another client would. */
export async function postHttp(roomName, user, text) {
	const res = await fetch(`${env.base}cgi-bin/post.fcgi`, {
		method: 'POST',
		headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
		body: JSON.stringify({ channel: roomName, user, text }),
	});
	const body = await res.json();
	if (res.status !== 201)
		throw new Error(`post failed: ${res.status} ${JSON.stringify(body)}`);
	return body.id;
}

/** ssectl on the site's database, as the user Apache serves as. */
export function ssectl(...args) {
	return execFileSync(env.apacheSh, ['ssectl', env.site, ...args], { encoding: 'utf8' });
}

/** Live streams of the database, as `ssectl stats` counts them. */
export function liveStreams() {
	const m = /streams: (\d+) of/.exec(ssectl('stats'));
	return m ? Number(m[1]) : NaN;
}

export function apache(cmd) {
	const args = cmd === 'start' ? ['start', env.site, env.port, 'fcgid'] : [cmd, env.site];
	return execFileSync(env.apacheSh, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** GET requests to the stream endpoint for one room in Apache's access log. */
export function streamRequests(roomName) {
	if (!existsSync(env.accessLog))
		return 0;
	const needle = `GET /cgi-bin/events.fcgi?channel=${roomName}`;
	return readFileSync(env.accessLog, 'utf8').split('\n')
		.filter((l) => l.includes(needle) && (l.includes(`${needle} `) || l.includes(`${needle}&`))).length;
}

/** A token for the site's secret (run.sh's SSE_TOKEN_SECRET), as login code mints it. */
export function mintToken(claims) {
	const b64 = (s) => Buffer.from(s).toString('base64url');
	const head = b64(JSON.stringify({ alg: 'HS256', typ: 'JWT' }));
	const body = b64(JSON.stringify(claims));
	const sig = createHmac('sha256', need('SSE_TOKEN_SECRET')).update(`${head}.${body}`)
		.digest('base64url');
	return `${head}.${body}.${sig}`;
}

/** Polls fn until it returns a truthy value, or throws after timeout ms. */
export async function until(fn, timeout = 10000, what = 'condition') {
	const end = Date.now() + timeout;
	let last;
	while (Date.now() < end) {
		last = await fn();
		if (last)
			return last;
		await sleep(100);
	}
	throw new Error(`timed out waiting for ${what} (last: ${JSON.stringify(last)})`);
}
