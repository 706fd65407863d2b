/** PEM (RFC 7468): DER as base64 in lines of 64 characters between BEGIN and END lines. */
export function pemFromDer(label: string, der: Uint8Array): string {
  const lines =
    Buffer.from(der)
      .toString('base64')
      .match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}
