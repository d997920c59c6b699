import { appendFileSync } from 'node:fs';
import type { Notification, Notifier } from '../../ports/notifier.js';

/** The local cluster's notifier: one JSON line per notification in `file` (SNS in AWS). */
export class FileNotifier implements Notifier {
  constructor(
    private readonly file: string,
    private readonly echo?: (n: Notification) => void,
  ) {}

  async publish(n: Notification): Promise<void> {
    appendFileSync(this.file, `${JSON.stringify({ at: new Date().toISOString(), ...n })}\n`);
    this.echo?.(n);
  }
}
