// Debian's Chromium driven by playwright-core, started the one way every player/page test starts it: no sandbox
// (CI runs as root), no GPU, nothing fetched from the network on its own.
import { chromium, type Browser } from 'playwright-core';

export const launchChromium = (): Promise<Browser> =>
  chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
