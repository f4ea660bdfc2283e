// The sign-in and the pages in a real browser (Debian's chromium, driven by playwright-core):
// sign in through the OpenID provider's pages, add a filter from the catalogue, then turn it
// off with the keyboard alone. Screenshots of each page go to OUTDIR.
// Usage: node browser.mjs BASE_URL OUTDIR   (CHROMIUM: the browser, default /usr/bin/chromium)
import { chromium } from 'playwright-core';
import { audit } from './audit.mjs';

const [base, out] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox'],
});
try {
  const page = await browser.newPage({ viewport: { width: 900, height: 700 } });
  page.setDefaultTimeout(30000);
  await page.goto(`${base}/`);
  await page.screenshot({ path: `${out}/signed-out.png` });
  await audit(page, 'signed out');

  // Sign in at the provider: its login page, then its consent page.
  await page.getByRole('link', { name: 'Sign in' }).click();
  await page.fill('input[name=login]', 'ralph');
  await page.fill('input[name=password]', 'any');
  await page.click('button[type=submit]');
  await page.getByRole('button', { name: 'Continue' }).click();
  await page.waitForURL(`${base}/`);
  await page.getByRole('heading', { name: 'Your notifications, ralph' }).waitFor();
  await page.screenshot({ path: `${out}/home.png`, fullPage: true });
  await audit(page, 'home');

  // A filter from the catalogue, through its labelled fields.
  await page.getByRole('link', { name: 'Add a filter on email' }).click();
  const form = page.locator('section[aria-labelledby="fedora-package_filter"]');
  await form.getByLabel('Filter name').fill('emacs builds');
  await form.getByLabel('package (required)').fill('emacs');
  await form.screenshot({ path: `${out}/new-filter.png` });
  await audit(page, 'add a filter');
  await form.getByRole('button', { name: 'Add this filter' }).click();
  await page.waitForURL(`${base}/`);
  await page.getByText('emacs builds').waitFor();

  // Off again with the keyboard: focus the button by Tab, press Enter.
  const off = page.getByRole('button', { name: 'Turn off the filter emacs builds' });
  await page.locator('body').focus();
  let focused = false;
  for (let i = 0; i < 60 && !focused; i += 1) {
    await page.keyboard.press('Tab');
    focused = await off.evaluate((el) => el === document.activeElement);
  }
  if (!focused) throw new Error('the "Turn off" button cannot be reached with Tab');
  await page.keyboard.press('Enter');
  await page.waitForURL(`${base}/`);
  await page.getByRole('button', { name: 'Turn on the filter emacs builds' }).waitFor();
  await page.screenshot({ path: `${out}/home-after.png`, fullPage: true });
  await audit(page, 'home after');
  console.log('browser flow done');
} finally {
  await browser.close();
}
