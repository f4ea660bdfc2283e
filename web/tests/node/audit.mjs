// WCAG 2.1 A and AA checks of the page in a browser, by axe-core (contrast, labels, names,
// structure): a page with any violation fails the test that shows it, with what and where.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');
const tags = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];

export const audited = [];

export async function audit(page, name) {
  // Evaluated rather than added as a script tag: a Content-Security-Policy cannot refuse it.
  await page.evaluate(axeSource);
  const result = await page.evaluate(
    async (values) => axe.run(document, { runOnly: { type: 'tag', values } }),
    tags,
  );
  if (result.violations.length > 0) {
    const found = result.violations.map((v) => ({
      rule: v.id,
      help: v.help,
      where: v.nodes.map((n) => n.target.join(' ')),
    }));
    throw new Error(`${name}: WCAG 2.1 AA violations: ${JSON.stringify(found, null, 2)}`);
  }
  audited.push(name);
}
