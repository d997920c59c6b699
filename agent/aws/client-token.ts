import { createHash } from 'node:crypto';

/** An idempotency token within EC2's 64 ASCII characters: the token itself when it fits, else its SHA-256 (hex, cut to 64). */
export function clientToken(token: string): string {
  return token.length <= 64 && /^[\x20-\x7e]*$/.test(token) ? token : createHash('sha256').update(token).digest('hex').slice(0, 64);
}
