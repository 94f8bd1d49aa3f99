import { describe, expect, it } from 'vitest';
import { redactHeaders, redactObject, redactText, redactUrl } from '../../../src/core/redact.js';

describe('redaction', () => {
  it('removes secrets in plain and URL-encoded form', () => {
    expect(redactText('pw=p@ss word!, enc=p%40ss%20word!', ['p@ss word!'])).toBe('pw=***, enc=***');
    expect(redactText('short ab stays', ['ab'])).toBe('short ab stays');
  });

  it('strips credentials from target URLs', () => {
    expect(redactUrl('ssh://user:hunter2@host:22/backups?auth-password=hunter2&keep=1')).toBe(
      'ssh://***@host:22/backups?auth-password=***&keep=1',
    );
    expect(redactUrl('s3://bucket/x?aws-secret-access-key=AKIA&passphrase=x&s3-server-name=s3.example')).toBe(
      's3://bucket/x?aws-secret-access-key=***&passphrase=***&s3-server-name=s3.example',
    );
    expect(redactUrl('file:///mnt/usb')).toBe('file:///mnt/usb');
  });

  it('masks secret headers and keys', () => {
    expect(redactHeaders({ Cookie: 'a=b', 'X-XSRF-Token': 't', Accept: 'json' })).toEqual({
      Cookie: '***',
      'X-XSRF-Token': '***',
      Accept: 'json',
    });
    expect(redactObject({ password: 'x', nested: { apiKey: 'k', url: 'ftp://u:p@h/' }, port: 5 })).toEqual({
      password: '***',
      nested: { apiKey: '***', url: 'ftp://***@h/' },
      port: 5,
    });
  });
});
