import { describe, expect, it } from 'vitest';
import { evaluateTtl } from '../../src/table/ttlCheck.js';

describe('evaluateTtl', () => {
  it('passes TTL enabled on ttlField', () => {
    // Act
    const check = evaluateTtl(
      { TimeToLiveStatus: 'ENABLED', AttributeName: 'expiresAt' },
      'app-table',
      'expiresAt',
    );

    // Assess
    expect(check).toEqual({
      name: 'ttl',
      status: 'pass',
      message: 'TTL is enabled on "expiresAt"',
    });
  });

  it('passes TTL still being enabled on ttlField', () => {
    // Act
    const check = evaluateTtl(
      { TimeToLiveStatus: 'ENABLING', AttributeName: 'expiresAt' },
      'app-table',
      'expiresAt',
    );

    // Assess
    expect(check.status).toBe('pass');
    expect(check.message).toMatch(/being enabled/);
  });

  it('warns about TTL on another attribute, suggesting ttlField rather than a second TTL', () => {
    // Act
    const check = evaluateTtl(
      { TimeToLiveStatus: 'ENABLED', AttributeName: 'ttl' },
      'app-table',
      'expiresAt',
    );

    // Assess
    expect(check.status).toBe('warn');
    expect(check.message).toMatch(/TTL is on "ttl", not "expiresAt".*pass \{ ttlField: "ttl" \}/);
  });

  it('warns about disabled TTL with the command that enables it', () => {
    // Act
    const check = evaluateTtl({ TimeToLiveStatus: 'DISABLED' }, 'app-table', 'expiresAt');

    // Assess
    expect(check.status).toBe('warn');
    expect(check.message).toContain(
      'aws dynamodb update-time-to-live --table-name app-table --time-to-live-specification "AttributeName=expiresAt,Enabled=true"',
    );
  });
});
