// A person's whole journey in a real browser (Debian's chromium, driven by playwright-core),
// against a deployment the test runs (fmn serve, a worker, the email sender, an SMTP sink):
// sign in through the OpenID provider's pages, add an address and confirm it through the
// link mailed to it, add a filter from the catalogue, see the notification it brings in the
// page's delivery log and ask why it came, then unsubscribe through the link the mail carries.
//
// What only the test can see (mails) comes on stdin: the script prints `NEED WHAT` and reads
// one line. Screenshots of each page go to OUTDIR.
// Usage: node journey.mjs BASE_URL OUTDIR   (CHROMIUM: the browser, default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import * as readline from 'node:readline';
import { audit, audited } from './audit.mjs';

const [base, out] = process.argv.slice(2);
const rl = readline.createInterface({ input: process.stdin });
const lines = rl[Symbol.asyncIterator]();

async function need(what) {
  console.log(`NEED ${what}`);
  const { value, done } = await lines.next();
  if (done) throw new Error(`no ${what} given`);
  return value.trim();
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  page.setDefaultTimeout(30000);
  await page.goto(`${base}/`);
  await audit(page, 'signed out');
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.fill('input[name=login]', 'carol');
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${base}/`);
  await page.getByRole('heading', { name: 'Your notifications, carol' }).waitFor();

  // An address that is not the account's: confirmed through the mailed link.
  await page.getByLabel('Email address', { exact: true }).fill('carol-work@example.org');
  await page.getByRole('button', { name: 'Add the address' }).click();
  await page.getByRole('heading', { name: 'Check your mail' }).waitFor();
  await audit(page, 'check your mail');
  await page.goto(await need('verify-link'));
  await audit(page, 'confirm the address');
  await page.getByRole('button', { name: 'Confirm' }).click();
  await page.getByRole('heading', { name: 'Address confirmed' }).waitFor();
  await audit(page, 'address confirmed');

  // An IRC nick: the page that takes the code the bot sends (no IRC sender runs here: the
  // code waits in its queue, and the nick is not added).
  await page.goto(`${base}/`);
  await page.getByLabel('Nick or id', { exact: true }).fill('carol_irc');
  await page.getByRole('button', { name: 'Send the code' }).click();
  await page.getByRole('heading', { name: 'Type the code' }).waitFor();
  await audit(page, 'type the code');

  // A filter from the catalogue, through its labelled fields.
  await page.goto(`${base}/`);
  await page.getByRole('link', { name: 'Add a filter on email' }).click();
  await audit(page, 'add a filter');
  const form = page.locator('section[aria-labelledby="fedora-topic"]');
  await form.getByLabel('Filter name').fill('tests');
  await form.getByLabel('glob (required)').fill('org.test.*');
  await form.getByRole('button', { name: 'Add this filter' }).click();
  await page.waitForURL(`${base}/`);
  await page.getByText('tests').first().waitFor();

  // The test feeds a matching message; the page's log shows it sent, and says why.
  const unsubscribe = await need('unsubscribe-link');
  await page.goto(`${base}/`);
  const row = page.getByRole('row').filter({ hasText: 'carol-work@example.org' });
  await row.getByText('sent', { exact: true }).waitFor();
  await page.screenshot({ path: `${out}/home-delivered.png`, fullPage: true });
  await audit(page, 'home with the delivery log');
  await row.getByRole('link').first().click();
  await page.getByRole('heading', { name: 'email: notified' }).waitFor();
  await page.screenshot({ path: `${out}/why.png`, fullPage: true });
  await audit(page, 'why');

  // The mail's unsubscribe link: a page that asks, then switches the filter off.
  await page.goto(unsubscribe);
  await page.screenshot({ path: `${out}/unsubscribe.png` });
  await audit(page, 'unsubscribe');
  await page.getByRole('button', { name: 'Unsubscribe' }).click();
  await page.getByRole('heading', { name: 'Unsubscribed' }).waitFor();
  await audit(page, 'unsubscribed');
  console.error(`audited: ${audited.join(', ')}`);
  console.log('DONE');
} catch (e) {
  console.error(e);
  process.exitCode = 1;
} finally {
  // stdin held open would keep the process, and the test reading its output, waiting.
  rl.close();
  await browser.close();
}
