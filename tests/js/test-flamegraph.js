#!/usr/bin/env node
// SPDX-License-Identifier: MIT
//
// Browser test of a flame graph SVG written by report/flamegraph.c:
//
//   node tests/js/test-flamegraph.js FILE.svg OUTDIR
//
// Checks that FILE is well-formed XML (python3's minidom), then opens it in headless Chromium
// with every network request blocked and checks: no script error, no request left the file,
// nothing from the data executed (window.PWNED), labels fit their frames, hovering fills the
// details line, clicking zooms and "Reset zoom" restores, Search (button and Ctrl-F, through
// the prompt dialog) highlights and reports the matched share. When FILE is the sample profile
// of tests/unit/test-flamegraph.c (it has a frame "handle"), the exact expected values are
// checked too. Screenshots go to OUTDIR/<name>-{before,zoomed,searched}.png.
//
// Exit: 0 all checks passed, 1 a check failed (a "FAIL: ..." line says which), 77 skipped
// (no /usr/bin/chromium, or playwright-core missing from tests/js/node_modules).
'use strict';

const fs = require('fs');
const os = require('os');
const path = require('path');
const { spawnSync } = require('child_process');
const { pathToFileURL } = require('url');

// CHROMIUM may point elsewhere (e.g. to check the skip path).
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const HIT = 'rgb(230,0,230)';
const MAX_FRAMES_CLICKED = 200;   // a recorded profile can have thousands: a sample suffices

class CheckError extends Error {}

function check(cond, msg) {
        if (!cond)
                throw new CheckError(msg);
}

function ok(msg) {
        console.log(`ok ${msg}`);
}

function near(a, b, eps = 0.6) {
        return typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) <= eps;
}

function usage() {
        console.error('usage: node tests/js/test-flamegraph.js FILE.svg OUTDIR');
        process.exit(2);
}

async function main() {
        const [svgArg, outArg] = process.argv.slice(2);
        if (!svgArg || !outArg)
                usage();
        const svgPath = path.resolve(svgArg);
        const outDir = path.resolve(outArg);
        const name = path.basename(svgPath, '.svg');
        check(fs.existsSync(svgPath), `${svgPath} does not exist (run build/tests/test-flamegraph first)`);

        // Well-formed whatever the names are: a strict XML parser must accept it.
        const xml = spawnSync('python3', ['-c', 'import xml.dom.minidom,sys; xml.dom.minidom.parse(sys.argv[1])', svgPath],
                              { encoding: 'utf8' });
        check(xml.status === 0, `${svgPath} is not well-formed XML: ${(xml.stderr || xml.error || '').toString().trim()}`);
        ok('well-formed XML (python3 xml.dom.minidom)');

        if (!fs.existsSync(CHROMIUM)) {
                console.log('skip: chromium not installed');
                process.exit(77);
        }
        let chromium;
        try {
                chromium = require('playwright-core').chromium;
        } catch (e) {
                console.log('skip: playwright-core not installed (cd tests/js && npm ci)');
                process.exit(77);
        }

        fs.mkdirSync(outDir, { recursive: true });
        const profileDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyspy-watch-chromium-'));
        let context;
        try {
                context = await chromium.launchPersistentContext(profileDir, {
                        executablePath: CHROMIUM,
                        headless: true,
                        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
                               '--disable-background-networking', '--disable-component-update', '--disable-sync'],
                        viewport: { width: 1280, height: 900 },
                        offline: true,
                });
                await run(context, svgPath, outDir, name);
        } finally {
                if (context)
                        await context.close().catch(() => {});
                fs.rmSync(profileDir, { recursive: true, force: true });
        }
}

async function run(context, svgPath, outDir, name) {
        const fileUrl = pathToFileURL(svgPath).href;
        const attempted = [], pageErrors = [], consoleErrors = [];

        // Nothing but the file itself may be fetched: a self-contained SVG needs no network.
        await context.route('**', route => {
                const u = route.request().url();
                if (u.startsWith('file:') || u.startsWith('data:'))
                        return route.continue();
                attempted.push(u);
                return route.abort();
        });
        context.on('request', req => {
                const u = req.url();
                if (!u.startsWith('file:') && !u.startsWith('data:') && !attempted.includes(u))
                        attempted.push(u);
        });

        const page = context.pages()[0] || await context.newPage();
        page.setDefaultTimeout(10000);
        page.on('pageerror', err => pageErrors.push(String(err)));
        page.on('console', msg => {
                if (msg.type() === 'error')
                        consoleErrors.push(msg.text());
        });
        // Any dialog we did not ask for (alert() from injected code...) is a failure.
        let dialogAnswer = null, unexpectedDialogs = [], prompts = 0;
        page.on('dialog', async d => {
                if (d.type() === 'prompt' && dialogAnswer !== null) {
                        prompts++;
                        const a = dialogAnswer;
                        dialogAnswer = null;
                        await d.accept(a);
                } else {
                        unexpectedDialogs.push(`${d.type()}: ${d.message()}`);
                        await d.dismiss();
                }
        });

        await page.goto(fileUrl, { waitUntil: 'load' });
        // Screenshots of the viewport (fullPage cannot measure an SVG document): fit it to
        // the image, so one picture shows the whole graph.
        const size = await page.evaluate(() => ({
                w: +document.documentElement.getAttribute('width'),
                h: +document.documentElement.getAttribute('height'),
        }));
        await page.setViewportSize({ width: Math.max(400, Math.min(size.w || 1280, 4000)),
                                     height: Math.max(100, Math.min(size.h || 900, 4000)) });
        await page.waitForTimeout(100);

        const noErrors = what => {
                check(pageErrors.length === 0, `JavaScript errors ${what}: ${pageErrors.join(' | ')}`);
                check(consoleErrors.length === 0, `console errors ${what}: ${consoleErrors.join(' | ')}`);
                check(unexpectedDialogs.length === 0, `unexpected dialogs ${what}: ${unexpectedDialogs.join(' | ')}`);
        };
        const notPwned = async what => {
                const pwned = await page.evaluate(() => typeof window.PWNED);
                check(pwned === 'undefined', `script from the profile's data executed ${what} (window.PWNED is set)`);
        };

        noErrors('on load');
        await notPwned('on load');
        ok('loads without JavaScript errors; no injected script ran');

        // The document: one script (ours), no markup from the data.
        const doc = await page.evaluate(() => ({
                root: document.documentElement.localName,
                scripts: document.getElementsByTagName('script').length,
                foreign: Array.from(document.querySelectorAll('*')).filter(e =>
                        !['svg', 'style', 'defs', 'linearGradient', 'stop', 'rect', 'text', 'g', 'title', 'script']
                                .includes(e.localName)).map(e => e.localName),
                handlers: Array.from(document.querySelectorAll('*')).filter(e =>
                        Array.from(e.attributes).some(a => a.name.toLowerCase().startsWith('on'))).length,
                frames: document.querySelectorAll('g.f').length,
                area: +document.documentElement.getAttribute('data-area'),
                xpad: +document.documentElement.getAttribute('data-xpad'),
                total: +document.documentElement.getAttribute('data-total'),
        }));
        check(doc.root === 'svg', `root element is <${doc.root}>, not <svg>`);
        check(doc.scripts === 1, `${doc.scripts} <script> elements, expected 1`);
        check(doc.foreign.length === 0, `unexpected elements from the data: ${doc.foreign.slice(0, 5).join(', ')}`);
        check(doc.handlers === 0, `${doc.handlers} elements with on* attributes`);
        check(doc.frames >= 1, 'no frames');
        ok(`document holds ${doc.frames} frames, one script, no foreign markup`);

        await labelsFit(page, 'on load');
        ok('every label fits its frame');
        await page.screenshot({ path: path.join(outDir, `${name}-before.png`) });

        // The root spans everything and its tooltip says so.
        const rootTitle = await page.locator('g.f[data-d="0"] > title').textContent();
        check(/^all\n\d+ samples? \(100\.00%\)$/.test(rootTitle), `root tooltip is ${JSON.stringify(rootTitle)}`);
        check(near(await rectWidth(page, 'g.f[data-d="0"]'), doc.area), 'the root frame does not span the full width');
        ok('root frame "all" spans the full width');

        // Hover, click and search on every frame (bounded): the data must stay inert.
        const frameCount = Math.min(doc.frames, MAX_FRAMES_CLICKED);
        for (let i = 0; i < frameCount; i++) {
                const rect = page.locator('g.f').nth(i).locator('rect');
                if (!(await rect.isVisible()))
                        continue;
                const box = await rect.boundingBox();
                if (!box || box.width < 1)
                        continue;
                await rect.hover({ force: true });
                await rect.click({ force: true });
                await page.locator('#unzoom').isVisible() && await page.locator('#unzoom').click();
        }
        noErrors('after hovering and clicking frames');
        await notPwned('after hovering and clicking frames');
        ok(`hovered and clicked ${frameCount} frames: no errors, nothing injected ran`);

        // Search "." matches everything, the root included: 100%.
        await search(page, () => page.locator('#search').click(), '.', prompt => { dialogAnswer = prompt; }, () => prompts);
        const all = await page.locator('#matched').textContent();
        check(all === 'Matched: 100.0%', `search "." shows ${JSON.stringify(all)}, expected "Matched: 100.0%"`);
        await page.keyboard.press('Escape');
        check((await page.locator('#matched').textContent()).trim() === '', 'Escape did not clear the search');
        noErrors('after searching');
        await notPwned('after searching');
        ok('search "." matches 100.0%, Escape clears it');

        const isSample = await page.locator('g.f[data-fn="handle"]').count() > 0;
        if (isSample)
                await sampleChecks(page, doc, outDir, name, p => { dialogAnswer = p; }, () => prompts);
        else
                await genericChecks(page, doc, outDir, name, p => { dialogAnswer = p; }, () => prompts);

        noErrors('at the end');
        await notPwned('at the end');
        check(attempted.length === 0, `network requests were attempted: ${attempted.slice(0, 5).join(', ')}`);
        ok('no network request was attempted');
        console.log(`ok all checks passed for ${svgPath}`);
        console.log(`screenshots: ${['before', 'zoomed', 'searched'].map(s => path.join(outDir, `${name}-${s}.png`)).join(' ')}`);
}

async function rectWidth(page, gSelector) {
        return +(await page.locator(`${gSelector} > rect`).first().getAttribute('width'));
}

async function rectFill(page, gSelector) {
        return await page.locator(`${gSelector} > rect`).first().getAttribute('fill');
}

// Every visible label is within its frame, measured by the browser's own text layout.
async function labelsFit(page, what) {
        const bad = await page.evaluate(() => {
                const tpad = +document.documentElement.getAttribute('data-tpad');
                const out = [];
                document.querySelectorAll('g.f').forEach(g => {
                        if (g.getClientRects().length === 0 || getComputedStyle(g).display === 'none')
                                return;
                        const t = g.querySelector('text'), r = g.querySelector('rect');
                        if (!t.textContent)
                                return;
                        const len = t.getComputedTextLength(), w = +r.getAttribute('width');
                        if (len > w - 2 * tpad + 0.5)
                                out.push(`${t.textContent.slice(0, 40)} (${len.toFixed(1)} px in ${w.toFixed(1)} px)`);
                        if (t.textContent.length > 0 && !g.getAttribute('data-fn'))
                                out.push('frame without data-fn');
                });
                return out;
        });
        check(bad.length === 0, `labels overflow their frames ${what}: ${bad.slice(0, 3).join('; ')}`);
}

// Opens the search with open() and answers the prompt with term.
async function search(page, open, term, answer, prompts) {
        const before = prompts();
        answer(term);
        await open();
        await page.waitForFunction(() => document.getElementById('matched').textContent.trim() !== '', null,
                                   { timeout: 5000 }).catch(() => {});
        check(prompts() === before + 1, `the search prompt did not open (term ${JSON.stringify(term)})`);
}

async function sampleChecks(page, doc, outDir, name, answer, prompts) {
        const G = fn => `g.f[data-fn="${fn}"]`;
        check(doc.total === 100, `sample profile: data-total is ${doc.total}, expected 100`);
        check(doc.frames === 8, `sample profile: ${doc.frames} frames, expected 8`);

        // Hover: the details line and the tooltip name the function, file:line, samples, percent.
        await page.locator(`${G('handle')} > rect`).hover();
        const details = await page.locator('#details').textContent();
        for (const want of ['handle', '/srv/app/app.py:20', '50 samples', '50.00%'])
                check(details.includes(want), `hover on handle: details ${JSON.stringify(details)} lack ${JSON.stringify(want)}`);
        const title = await page.locator(`${G('handle')} > title`).textContent();
        check(title === 'handle (/srv/app/app.py:20)\n50 samples (50.00%)', `handle tooltip is ${JSON.stringify(title)}`);
        const label = await page.locator(`${G('handle')} > text`).textContent();
        check(label === 'handle (app.py:20)', `handle label is ${JSON.stringify(label)}`);
        ok(`hover shows ${JSON.stringify(details)}; tooltip and label right`);
        await page.mouse.move(1, 1);
        check((await page.locator('#details').textContent()).trim() === '', 'details not cleared on mouse out');

        // Widths proportional to samples: 1180 px for 100 samples.
        const widths = {};
        for (const fn of ['all', 'main', 'handle', 'idle', 'worker', 'render'])
                widths[fn] = await rectWidth(page, G(fn));
        const want = { all: 1180, main: 1062, handle: 590, idle: 472, worker: 118, render: 236 };
        for (const fn of Object.keys(want))
                check(near(widths[fn], want[fn], 0.05), `${fn} is ${widths[fn]} px wide, expected ${want[fn]}`);
        ok('frame widths are proportional to samples');
        // Frames of one file share a hue family; the same frame has one colour everywhere.
        const parseFills = await page.locator(`${G('parse')} > rect`).evaluateAll(rs => rs.map(r => r.getAttribute('fill')));
        check(parseFills.length === 2 && parseFills[0] === parseFills[1], `parse frames have fills ${parseFills}`);
        const hue = async fn => page.locator(`${G(fn)} > rect`).first().evaluate(r => {
                const [R, Gr, B] = r.getAttribute('fill').match(/\d+/g).map(Number).map(v => v / 255);
                const mx = Math.max(R, Gr, B), mn = Math.min(R, Gr, B), d = mx - mn;
                let h = mx === R ? ((Gr - B) / d) % 6 : mx === Gr ? (B - R) / d + 2 : (R - Gr) / d + 4;
                return Math.round((h * 60 + 360) % 360);
        });
        const hues = { main: await hue('main'), handle: await hue('handle'), worker: await hue('worker'),
                       parse: await hue('parse'), render: await hue('render') };
        check(Math.abs(hues.main - hues.handle) <= 2 && Math.abs(hues.main - hues.worker) <= 2,
              `frames of app.py have hues ${hues.main}, ${hues.handle}, ${hues.worker}`);
        check(Math.abs(hues.main - hues.parse) > 5 && Math.abs(hues.parse - hues.render) > 5,
              `frames of different files share a hue: ${JSON.stringify(hues)}`);
        ok(`colour by module: hues ${JSON.stringify(hues)}`);

        // Click: handle to the full width, its child rescaled, ancestors kept, siblings hidden.
        await page.locator(`${G('handle')} > rect`).click();
        const z = {
                handle: await rectWidth(page, G('handle')),
                box: (await page.locator(`${G('handle')} > rect`).boundingBox()).width,
                parse: await page.locator(`${G('parse')} > rect`).first().getAttribute('width'),
                render: await rectWidth(page, G('render')),
                main: await rectWidth(page, G('main')),
                all: await rectWidth(page, G('all')),
        };
        check(near(z.handle, 1180, 0.05) && near(z.box, 1180, 1), `zoomed handle is ${z.handle} px (box ${z.box}), expected 1180`);
        check(near(+z.parse, 708, 0.05) && near(z.render, 472, 0.05), `zoomed children are ${z.parse} and ${z.render} px, expected 708 and 472`);
        check(near(z.main, 1180, 0.05) && near(z.all, 1180, 0.05), 'ancestors of the zoomed frame are not full width');
        check(await page.locator(G('main')).isVisible() && await page.locator(G('all')).isVisible(), 'ancestors hidden by the zoom');
        check(await page.locator(G('idle')).isHidden(), 'sibling idle still visible after zooming on handle');
        check(await page.locator(G('worker')).isHidden(), 'worker still visible after zooming on handle');
        check(await page.locator('#unzoom').isVisible(), '"Reset zoom" not shown while zoomed');
        await labelsFit(page, 'zoomed');
        const zl = await page.locator(`${G('handle')} > text`).textContent();
        check(zl === 'handle (app.py:20)', `zoomed label is ${JSON.stringify(zl)}`);
        ok('click zooms handle to 1180 px; children rescale; ancestors stay; siblings hide');
        await page.mouse.move(1, 1);
        await page.screenshot({ path: path.join(outDir, `${name}-zoomed.png`) });

        // Reset zoom restores the original geometry, and the labels cut before.
        await page.locator('#unzoom').click();
        for (const fn of Object.keys(want))
                check(near(await rectWidth(page, G(fn)), want[fn], 0.05), `after Reset zoom ${fn} is not ${want[fn]} px`);
        check(await page.locator(G('idle')).isVisible() && await page.locator(G('worker')).isVisible(), 'frames still hidden after Reset zoom');
        check(await page.locator('#unzoom').isHidden(), '"Reset zoom" still shown after resetting');
        await labelsFit(page, 'after Reset zoom');
        ok('Reset zoom restores the original widths');

        // Search by the button: "handle|parse" is handle (50, parse inside it) + worker's parse
        // (10) = 60%, nested matches counted once.
        const mainFill = await rectFill(page, G('main'));
        await search(page, () => page.locator('#search').click(), 'handle|parse', answer, prompts);
        const m1 = await page.locator('#matched').textContent();
        check(m1 === 'Matched: 60.0%', `search "handle|parse" shows ${JSON.stringify(m1)}, expected "Matched: 60.0%"`);
        check(await rectFill(page, G('handle')) === HIT, 'handle not highlighted');
        const pf = await page.locator(`${G('parse')} > rect`).evaluateAll(rs => rs.map(r => r.getAttribute('fill')));
        check(pf.every(f => f === HIT), `parse frames not all highlighted: ${pf}`);
        check(await rectFill(page, G('main')) === mainFill, 'main highlighted though it does not match');
        check(await page.locator('#search').textContent() === 'Reset search', 'the Search button does not offer a reset');
        ok('Search "handle|parse" highlights 3 frames and shows Matched: 60.0%');
        await page.screenshot({ path: path.join(outDir, `${name}-searched.png`) });

        // The button again resets the search.
        await page.locator('#search').click();
        check(await rectFill(page, G('handle')) !== HIT && (await page.locator('#matched').textContent()).trim() === '',
              'Reset search did not clear the highlight');

        // Ctrl-F opens the search too; regexes work on the file name.
        await page.locator('#details').hover({ force: true }).catch(() => {});
        await search(page, () => page.keyboard.press('Control+f'), 'json/decoder\\.py', answer, prompts);
        const m2 = await page.locator('#matched').textContent();
        check(m2 === 'Matched: 40.0%', `Ctrl-F search "json/decoder\\.py" shows ${JSON.stringify(m2)}, expected "Matched: 40.0%"`);
        ok('Ctrl-F opens the search; "json/decoder\\.py" matches 40.0%');

        // Searching inside a zoom keeps the zoom; an invalid regex is reported, not thrown.
        await page.locator(`${G('idle')} > rect`).click();
        check(near(await rectWidth(page, G('idle')), 1180, 0.05), 'zoom on idle failed');
        await search(page, () => page.keyboard.press('Control+f'), '(', answer, prompts);
        check(await page.locator('#matched').textContent() === 'Invalid regex', 'invalid regex not reported');
        check(near(await rectWidth(page, G('idle')), 1180, 0.05), 'search lost the zoom');
        await page.keyboard.press('Escape');
        await page.locator('#unzoom').click();
        ok('zoom survives a search; invalid regex reported');
}

async function genericChecks(page, doc, outDir, name, answer, prompts) {
        // Zoom on the widest frame below the root.
        const target = await page.evaluate(() => {
                let best = -1, bestN = -1;
                document.querySelectorAll('g.f').forEach((g, i) => {
                        const n = +g.getAttribute('data-n');
                        if (+g.getAttribute('data-d') === 1 && n > bestN) {
                                best = i;
                                bestN = n;
                        }
                });
                return best;
        });
        if (target >= 0) {
                const g = page.locator('g.f').nth(target);
                const before = +(await g.locator('rect').getAttribute('width'));
                await g.locator('rect').click({ force: true });
                check(near(+(await g.locator('rect').getAttribute('width')), doc.area, 0.05), 'clicked frame not zoomed to the full width');
                await labelsFit(page, 'zoomed');
                await page.mouse.move(1, 1);
                await page.screenshot({ path: path.join(outDir, `${name}-zoomed.png`) });
                await page.locator('#unzoom').click();
                check(near(+(await g.locator('rect').getAttribute('width')), before, 0.05), 'Reset zoom did not restore the width');
                ok('click zooms the widest frame to the full width; Reset zoom restores it');
        }
        await search(page, () => page.keyboard.press('Control+f'), 'script', answer, prompts);
        const m = await page.locator('#matched').textContent();
        check(/^Matched: \d+\.\d%$/.test(m), `search shows ${JSON.stringify(m)}`);
        await page.screenshot({ path: path.join(outDir, `${name}-searched.png`) });
        ok(`Ctrl-F search "script": ${m}`);
}

main().catch(e => {
        console.error(`FAIL: ${e instanceof CheckError ? e.message : e.stack || e}`);
        process.exit(1);
});
